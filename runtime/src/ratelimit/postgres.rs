//! Token buckets in PostgreSQL, shared by every instance on the database:
//! GCRA in one atomic statement, on the database server's clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Policy;
use super::store::{Checked, ClientKey, Decision, RateLimitStore, StoreError};
use crate::pool::{Pool, PostgresManager, tokio_postgres};

/// Buckets are cleared of rows full again for a minute once every this
/// many checks.
const PURGE_EVERY: u64 = 4096;

/// The table: one row per (policy, client), the moment (µs since the
/// epoch, the database server's clock) the bucket is full again.
/// `UNLOGGED`: a bucket is worth nothing after a crash (a fresh one is a
/// full one), and skipping the write-ahead log makes the upsert that
/// every request runs several times cheaper.
const SCHEMA: &str = "CREATE UNLOGGED TABLE IF NOT EXISTS portico_rate_limits (
        key TEXT PRIMARY KEY,
        full_at BIGINT NOT NULL
    )";

/// Takes a token, or reads the bucket when none is left, in one round
/// trip: `$1` key, `$2` the policy's interval and `$3` its tolerance
/// (interval × (capacity − 1)), both µs. Concurrent checks of one key
/// serialise on its row, so no two take the same token. The answer: the
/// bucket's `full_at` after the check, whether a token was taken, and the
/// server's time read once the row was ours — not the statement's start,
/// which a check that waited for the row would report stale, telling two
/// clients the same tokens left.
const CHECK: &str = "
    WITH clock AS (SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT AS now),
    taken AS (
        INSERT INTO portico_rate_limits AS bucket (key, full_at)
        SELECT $1, now + $2 FROM clock
        ON CONFLICT (key) DO UPDATE
            SET full_at = GREATEST(bucket.full_at, (SELECT now FROM clock)) + $2
            WHERE GREATEST(bucket.full_at, (SELECT now FROM clock)) - (SELECT now FROM clock) <= $3
        RETURNING full_at, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT AS at
    )
    SELECT full_at, TRUE, at FROM taken
    UNION ALL
    SELECT full_at, FALSE, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT
        FROM portico_rate_limits
        WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM taken)";

/// Rate-limit buckets in a PostgreSQL database, through a pool: every
/// instance that uses the database limits a client with one bucket.
///
/// Each check is one statement (an upsert that takes a token only when
/// the bucket has one) timed by the database server's clock, so instances
/// whose clocks drift still agree. When the database cannot answer, the
/// layer's outage policy decides ([`RateLimit::fail_closed`](super::RateLimit::fail_closed)).
/// Instances must share the policies' names and settings: a bucket is
/// keyed by the policy's name and the client.
#[derive(Debug)]
pub struct PostgresStore {
    pool: Pool<PostgresManager>,
    checks: AtomicU64,
}

impl PostgresStore {
    /// Buckets in `pool`'s database; creates the table if missing.
    pub async fn new(pool: Pool<PostgresManager>) -> Result<Self, StoreError> {
        let conn = pool.get().await.map_err(unavailable)?;
        conn.batch_execute(SCHEMA).await.map_err(unavailable)?;
        drop(conn);
        Ok(PostgresStore {
            pool,
            checks: AtomicU64::new(0),
        })
    }

    /// A health check: a connection can be had and answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool
            .ping(Duration::from_secs(1))
            .await
            .map_err(StoreError::Unavailable)
    }

    async fn check_in_db(&self, key: &ClientKey, policy: &Policy) -> Result<Decision, StoreError> {
        let mut conn = self.pool.get().await.map_err(unavailable)?;
        let decided = self.check_on(&conn, key, policy).await;
        if decided.is_err() {
            // A failed statement most often means a lost connection: let
            // the pool open a new one rather than hand this one out again.
            conn.mark_broken();
        }
        decided
    }

    async fn check_on(
        &self,
        conn: &tokio_postgres::Client,
        key: &ClientKey,
        policy: &Policy,
    ) -> Result<Decision, StoreError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            conn.execute(
                "DELETE FROM portico_rate_limits WHERE full_at <
                    (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT - 60000000",
                &[],
            )
            .await
            .map_err(unavailable)?;
        }
        // Microseconds: a rate above a million a second rounds to one.
        let interval = i64::try_from(policy.interval_ns.div_ceil(1000)).unwrap_or(i64::MAX);
        let tolerance = interval.saturating_mul(i64::from(policy.capacity) - 1);
        let row = conn
            .query_opt(
                CHECK,
                &[
                    &super::store::bucket_name(key, policy),
                    &interval,
                    &tolerance,
                ],
            )
            .await
            .map_err(unavailable)?
            .ok_or_else(|| StoreError::Unavailable("the bucket's row vanished".into()))?;
        let (full_at, allowed, now): (i64, bool, i64) = (row.get(0), row.get(1), row.get(2));
        let debt = u64::try_from(full_at.saturating_sub(now)).unwrap_or(0);
        let (interval, tolerance) = (interval as u64, tolerance as u64);
        let micros = Duration::from_micros;
        Ok(Decision {
            allowed,
            remaining: u64::from(policy.capacity).saturating_sub(debt.div_ceil(interval.max(1)))
                as u32,
            retry_after: if allowed {
                Duration::ZERO
            } else {
                micros(debt.saturating_sub(tolerance))
            },
            reset_after: micros(debt),
        })
    }
}

impl RateLimitStore for PostgresStore {
    fn check<'a>(&'a self, key: &'a ClientKey, policy: &'a Policy) -> Checked<'a> {
        Checked::Later(Box::pin(self.check_in_db(key, policy)))
    }
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}
