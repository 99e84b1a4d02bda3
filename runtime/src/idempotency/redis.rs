//! Idempotency records in Redis, shared by every instance on the server:
//! a hash per key whose expiry is the attempt's lease while it runs and
//! the record's time-to-live once done, changed only by scripts that
//! check the attempt's fencing token.
//!
//! Best effort where Redis is: a record written just before a failover
//! to a replica that had not received it is lost, and a retry then runs
//! the request again. Where that matters (payments), keep records in the
//! database the handler writes to (`PostgresStore`), in its transaction.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::store::{
    Begin, IdempotencyStore, RecordKey, StoreError, StoreFuture, StoredResponse, Token,
};

/// `KEYS[1]` the record, `ARGV[1]` the request's fingerprint, `ARGV[2]`
/// the lease (ms). An absent record (never made, expired, or its lease
/// lapsed) starts an attempt whose token is the server's time in µs — so
/// a later attempt at a key always holds a greater one.
const BEGIN: &str = r"
local found = redis.call('HMGET', KEYS[1], 'fingerprint', 'state', 'status', 'headers', 'body')
if found[1] then
  if found[1] ~= ARGV[1] then return {'mismatch'} end
  if found[2] == 'running' then return {'running', redis.call('PTTL', KEYS[1])} end
  return {'done', found[3], found[4], found[5]}
end
local time = redis.call('TIME')
local token = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'token', string.format('%d', token), 'state', 'running')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'started', string.format('%d', token)}
";

/// `KEYS[1]`, `ARGV[1]` the token, `ARGV[2]` the lease (ms).
const RENEW: &str = r"
local held = redis.call('HMGET', KEYS[1], 'token', 'state')
if held[1] == ARGV[1] and held[2] == 'running' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// `KEYS[1]`, `ARGV[1]` the token, `ARGV[2]` the time-to-live (ms), then
/// the response's status, headers (JSON) and body.
const COMPLETE: &str = r"
local held = redis.call('HMGET', KEYS[1], 'token', 'state')
if held[1] == ARGV[1] and held[2] == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[3], 'headers', ARGV[4], 'body', ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// `KEYS[1]`, `ARGV[1]` the token.
const RELEASE: &str = r"
local held = redis.call('HMGET', KEYS[1], 'token', 'state')
if held[1] == ARGV[1] and held[2] == 'running' then
  redis.call('DEL', KEYS[1])
end
return 0
";

/// Idempotency records in Redis, through one multiplexed connection that
/// reconnects by itself (see the module docs for what Redis guarantees).
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    scripts: [redis::Script; 4],
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

fn backend(err: redis::RedisError) -> StoreError {
    StoreError::Backend(Box::new(err))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn record(key: &RecordKey) -> String {
    format!("portico:idempotency:{}\u{1f}{}", key.scope, key.key)
}

impl RedisStore {
    /// Records on the Redis server at `url`: connects now, reconnects
    /// later on its own; a command waits at most a second for its answer.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let connection = crate::pool::redis::connect(url).await.map_err(backend)?;
        Ok(RedisStore {
            connection,
            scripts: [BEGIN, RENEW, COMPLETE, RELEASE].map(redis::Script::new),
        })
    }

    async fn begin_in_redis(
        &self,
        key: &RecordKey,
        fingerprint: [u8; 32],
        lease: Duration,
    ) -> Result<Begin, StoreError> {
        let mut connection = self.connection.clone();
        let found: Vec<redis::Value> = self.scripts[0]
            .key(record(key))
            .arg(&fingerprint[..])
            .arg(millis(lease))
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        let text = |i: usize| -> Option<Vec<u8>> {
            match found.get(i)? {
                redis::Value::BulkString(bytes) => Some(bytes.clone()),
                redis::Value::SimpleString(text) => Some(text.clone().into_bytes()),
                redis::Value::Int(n) => Some(n.to_string().into_bytes()),
                _ => None,
            }
        };
        let number = |i: usize| -> Option<i64> { String::from_utf8(text(i)?).ok()?.parse().ok() };
        let malformed = || StoreError::Backend("a malformed idempotency record".into());
        match text(0).as_deref() {
            Some(b"started") => Ok(Begin::Started(number(1).ok_or_else(malformed)?)),
            Some(b"running") => Ok(Begin::Running {
                retry_after: Duration::from_millis(
                    u64::try_from(number(1).unwrap_or(0)).unwrap_or(0),
                ),
            }),
            Some(b"mismatch") => Ok(Begin::Mismatch),
            Some(b"done") => {
                let headers: Vec<(String, String)> =
                    serde_json::from_slice(&text(2).ok_or_else(malformed)?)
                        .map_err(|_| malformed())?;
                Ok(Begin::Done(StoredResponse {
                    status: number(1).and_then(|s| u16::try_from(s).ok()).unwrap_or(500),
                    headers,
                    body: text(3).unwrap_or_default().into(),
                }))
            }
            _ => Err(malformed()),
        }
    }

    async fn if_owned(
        &self,
        script: usize,
        key: &RecordKey,
        token: Token,
        args: &[Vec<u8>],
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts[script].key(record(key));
        invocation.arg(token.to_string());
        for arg in args {
            invocation.arg(&arg[..]);
        }
        let changed: i64 = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(changed == 1)
    }
}

impl IdempotencyStore for RedisStore {
    fn begin<'a>(
        &'a self,
        key: &'a RecordKey,
        fingerprint: [u8; 32],
        lease: Duration,
    ) -> StoreFuture<'a, Begin> {
        Box::pin(self.begin_in_redis(key, fingerprint, lease))
    }

    fn renew<'a>(
        &'a self,
        key: &'a RecordKey,
        token: Token,
        lease: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.if_owned(1, key, token, &[millis(lease).to_string().into_bytes()])
                .await
        })
    }

    fn complete<'a>(
        &'a self,
        key: &'a RecordKey,
        token: Token,
        response: &'a StoredResponse,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let headers = serde_json::to_vec(&response.headers)
                .map_err(|err| StoreError::Backend(Box::new(err)))?;
            let args = [
                millis(ttl).to_string().into_bytes(),
                response.status.to_string().into_bytes(),
                headers,
                response.body.to_vec(),
            ];
            self.if_owned(2, key, token, &args).await
        })
    }

    fn release<'a>(&'a self, key: &'a RecordKey, token: Token) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.if_owned(3, key, token, &[]).await.map(drop) })
    }
}
