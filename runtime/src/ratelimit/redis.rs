//! Token buckets in Redis, shared by every instance on the server: GCRA
//! in one Lua script, on the Redis server's clock.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::Policy;
use super::store::{Checked, ClientKey, Decision, RateLimitStore, StoreError};

/// Takes a token, or reads the bucket when none is left, atomically (a
/// script runs alone): `KEYS[1]` the bucket, `ARGV[1]` the policy's
/// interval and `ARGV[2]` its tolerance (interval × (capacity − 1)), µs.
/// The bucket holds the moment (µs, the server's `TIME`) it is full
/// again, and expires then: an absent bucket is a full one. Answers
/// whether a token was taken and the bucket's debt (µs) after the check.
const CHECK: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local full_at = tonumber(redis.call('GET', KEYS[1]) or '0')
if full_at < now then full_at = now end
local debt = full_at - now
if debt > tolerance then
  return {0, debt}
end
full_at = full_at + interval
redis.call('SET', KEYS[1], string.format('%d', full_at), 'PX', math.floor((full_at - now) / 1000) + 1)
return {1, full_at - now}
";

/// Rate-limit buckets in Redis, through one multiplexed connection that
/// reconnects by itself: every instance that uses the server limits a
/// client with one bucket.
///
/// Each check is one script run timed by the Redis server's clock, so
/// instances whose clocks drift still agree; buckets expire when full, so
/// Redis holds only clients seen lately. When Redis cannot answer, the
/// layer's outage policy decides
/// ([`RateLimit::fail_closed`](super::RateLimit::fail_closed)). Instances
/// must share the policies' names and settings: a bucket is keyed by the
/// policy's name and the client.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    script: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Buckets on the Redis server at `url` (`redis://host:port/db`):
    /// connects now, and reconnects later on its own. A command waits at
    /// most a second for its answer.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let connection = crate::pool::redis::connect(url)
            .await
            .map_err(unavailable)?;
        Ok(RedisStore {
            connection,
            script: redis::Script::new(CHECK),
        })
    }

    /// A health check: Redis answers `PING`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn check_in_redis(
        &self,
        key: &ClientKey,
        policy: &Policy,
    ) -> Result<Decision, StoreError> {
        // Microseconds: a rate above a million a second rounds to one.
        let interval = policy.interval_ns.div_ceil(1000).max(1);
        let tolerance = interval.saturating_mul(u64::from(policy.capacity) - 1);
        let mut connection = self.connection.clone();
        let (taken, debt): (u8, u64) = self
            .script
            .key(bucket(key, policy))
            .arg(interval)
            .arg(tolerance)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let allowed = taken == 1;
        let micros = Duration::from_micros;
        Ok(Decision {
            allowed,
            remaining: u64::from(policy.capacity).saturating_sub(debt.div_ceil(interval)) as u32,
            retry_after: if allowed {
                Duration::ZERO
            } else {
                micros(debt.saturating_sub(tolerance))
            },
            reset_after: micros(debt),
        })
    }
}

impl RateLimitStore for RedisStore {
    fn check<'a>(&'a self, key: &'a ClientKey, policy: &'a Policy) -> Checked<'a> {
        Checked::Later(Box::pin(self.check_in_redis(key, policy)))
    }
}

/// A bucket's key: Portico's prefix, the policy's name, then the client.
fn bucket(key: &ClientKey, policy: &Policy) -> String {
    format!(
        "portico:ratelimit:{}",
        super::store::bucket_name(key, policy)
    )
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}
