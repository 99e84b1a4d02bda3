//! Where idempotency records live: the [`IdempotencyStore`] trait, the
//! record's states, and the in-process [`MemoryStore`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Whose key it is and the key itself: one client's key never meets
/// another's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordKey {
    /// The client: `subject:…`, `ip:…`, `credentials:…` (a hash) or `anonymous`.
    pub scope: String,
    /// The `Idempotency-Key`, unquoted.
    pub key: String,
}

/// An attempt's fencing token: each new attempt at a key gets a greater
/// one, and a store changes a running record only for the token that owns
/// it, so a stale attempt (its lease lost) cannot finish a newer one.
pub type Token = i64;

/// A response as stored for replay: its status, its content headers and
/// its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The status code.
    pub status: u16,
    /// `Content-Type`, `Content-Language`, `Content-Encoding`, `Location`…
    /// as they were sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

/// What [`IdempotencyStore::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key was free: this request runs, as the attempt `token`.
    Started(Token),
    /// The same request runs elsewhere; ask again after `retry_after`.
    Running {
        /// Until its lease ends, at the latest.
        retry_after: Duration,
    },
    /// The same request ran: here is its response.
    Done(StoredResponse),
    /// The key was used with another request (method, target or body).
    Mismatch,
}

/// Why a store could not answer: the request is refused with a 503
/// rather than run without protection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store is full of records that have not expired.
    #[error("the idempotency store is full")]
    Full,
    /// The store did not answer in time.
    #[error("the idempotency store did not answer in time")]
    TimedOut,
    /// The backend failed (database down, connection lost, …).
    #[error("the idempotency store failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A store's boxed future.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Keeps idempotency records. The in-process [`MemoryStore`] is the
/// default; `SqliteStore` and `PostgresStore` (cargo features `sqlite`
/// and `postgres`) keep them in the app's
/// database, where a handler can record its answer in its own
/// transaction.
///
/// A record is either running (an attempt holds a lease, renewed while
/// it runs) or done (a response, kept until its time-to-live ends).
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Starts an attempt at `key` unless one is running with a live lease
    /// or done and not expired (then says which, or that `fingerprint`
    /// differs from the one the key was first used with).
    fn begin<'a>(
        &'a self,
        key: &'a RecordKey,
        fingerprint: [u8; 32],
        lease: Duration,
    ) -> StoreFuture<'a, Begin>;

    /// Extends the lease of attempt `token`; `false` when it no longer owns
    /// the key.
    fn renew<'a>(
        &'a self,
        key: &'a RecordKey,
        token: Token,
        lease: Duration,
    ) -> StoreFuture<'a, bool>;

    /// Stores attempt `token`'s response for `ttl`; `false` when it no
    /// longer owns the key.
    fn complete<'a>(
        &'a self,
        key: &'a RecordKey,
        token: Token,
        response: &'a StoredResponse,
        ttl: Duration,
    ) -> StoreFuture<'a, bool>;

    /// Frees the key if attempt `token` still owns it: its request was
    /// refused or failed, and may be sent again.
    fn release<'a>(&'a self, key: &'a RecordKey, token: Token) -> StoreFuture<'a, ()>;

    /// The database engine, for stores that keep records in the app's
    /// database, where a handler's transaction can record its answer.
    fn engine(&self) -> Option<super::SqlEngine> {
        None
    }
}

/// Default bound on the records a [`MemoryStore`] keeps.
pub const DEFAULT_MAX_RECORDS: usize = 100_000;

/// Records in this process: lost with it, and not shared with other
/// instances (use a SQL store for that). Bounded: when full of records
/// that are neither expired nor lapsed, a new key is refused (503) rather
/// than an unexpired record dropped, which would let its request run twice.
#[derive(Debug)]
pub struct MemoryStore {
    records: Mutex<HashMap<RecordKey, Record>>,
    max_records: usize,
    next_token: AtomicI64,
}

#[derive(Debug)]
struct Record {
    fingerprint: [u8; 32],
    token: Token,
    state: State,
}

#[derive(Debug)]
enum State {
    Running {
        lease_until: Instant,
    },
    Done {
        until: Instant,
        response: StoredResponse,
    },
}

impl Record {
    /// Whether it still holds its key at `now`.
    fn live(&self, now: Instant) -> bool {
        match &self.state {
            State::Running { lease_until } => *lease_until > now,
            State::Done { until, .. } => *until > now,
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_MAX_RECORDS)
    }
}

impl MemoryStore {
    /// A store of at most `max_records` records.
    pub fn with_capacity(max_records: usize) -> Self {
        MemoryStore {
            records: Mutex::new(HashMap::new()),
            max_records: max_records.max(1),
            next_token: AtomicI64::new(0),
        }
    }

    /// How many records it holds (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RecordKey, Record>> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn begin_now(
        &self,
        key: &RecordKey,
        fingerprint: [u8; 32],
        lease: Duration,
    ) -> Result<Begin, StoreError> {
        let now = Instant::now();
        let mut records = self.lock();
        if let Some(record) = records.get(key).filter(|r| r.live(now)) {
            if record.fingerprint != fingerprint {
                return Ok(Begin::Mismatch);
            }
            return Ok(match &record.state {
                State::Running { lease_until } => Begin::Running {
                    retry_after: lease_until.saturating_duration_since(now),
                },
                State::Done { response, .. } => Begin::Done(response.clone()),
            });
        }
        if !records.contains_key(key) && records.len() >= self.max_records {
            records.retain(|_, record| record.live(now));
            if records.len() >= self.max_records {
                return Err(StoreError::Full);
            }
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed) + 1;
        records.insert(
            key.clone(),
            Record {
                fingerprint,
                token,
                state: State::Running {
                    lease_until: now + lease,
                },
            },
        );
        Ok(Begin::Started(token))
    }

    /// Runs `change` on the running record of attempt `token`, if it has
    /// one, and drops the record when `change` says so.
    fn with_running(
        &self,
        key: &RecordKey,
        token: Token,
        change: impl FnOnce(&mut Record) -> Keep,
    ) -> bool {
        let mut records = self.lock();
        match records.get_mut(key) {
            Some(record)
                if record.token == token && matches!(record.state, State::Running { .. }) =>
            {
                if let Keep::No = change(record) {
                    records.remove(key);
                }
                true
            }
            _ => false,
        }
    }
}

/// Whether [`MemoryStore::with_running`] keeps the record.
enum Keep {
    Yes,
    No,
}

impl IdempotencyStore for MemoryStore {
    fn begin<'a>(
        &'a self,
        key: &'a RecordKey,
        fingerprint: [u8; 32],
        lease: Duration,
    ) -> StoreFuture<'a, Begin> {
        Box::pin(std::future::ready(self.begin_now(key, fingerprint, lease)))
    }

    fn renew<'a>(
        &'a self,
        key: &'a RecordKey,
        token: Token,
        lease: Duration,
    ) -> StoreFuture<'a, bool> {
        let renewed = self.with_running(key, token, |record| {
            record.state = State::Running {
                lease_until: Instant::now() + lease,
            };
            Keep::Yes
        });
        Box::pin(std::future::ready(Ok(renewed)))
    }

    fn complete<'a>(
        &'a self,
        key: &'a RecordKey,
        token: Token,
        response: &'a StoredResponse,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        let completed = self.with_running(key, token, |record| {
            record.state = State::Done {
                until: Instant::now() + ttl,
                response: response.clone(),
            };
            Keep::Yes
        });
        Box::pin(std::future::ready(Ok(completed)))
    }

    fn release<'a>(&'a self, key: &'a RecordKey, token: Token) -> StoreFuture<'a, ()> {
        self.with_running(key, token, |_| Keep::No);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> RecordKey {
        RecordKey {
            scope: "ip:127.0.0.1".into(),
            key: k.into(),
        }
    }

    fn answer() -> StoredResponse {
        StoredResponse {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from_static(b"{}"),
        }
    }

    #[tokio::test]
    async fn a_record_runs_then_replays_then_expires() {
        let store = MemoryStore::default();
        let lease = Duration::from_secs(30);
        let Begin::Started(token) = store.begin(&key("a"), [1; 32], lease).await.unwrap() else {
            panic!("a free key starts");
        };
        assert!(matches!(
            store.begin(&key("a"), [1; 32], lease).await.unwrap(),
            Begin::Running { .. }
        ));
        assert_eq!(
            store.begin(&key("a"), [2; 32], lease).await.unwrap(),
            Begin::Mismatch
        );
        assert!(
            store
                .complete(&key("a"), token, &answer(), Duration::from_millis(30))
                .await
                .unwrap()
        );
        assert_eq!(
            store.begin(&key("a"), [1; 32], lease).await.unwrap(),
            Begin::Done(answer())
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(matches!(
            store.begin(&key("a"), [2; 32], lease).await.unwrap(),
            Begin::Started(_)
        ));
    }

    #[tokio::test]
    async fn a_lapsed_lease_fences_the_stale_attempt_out() {
        let store = MemoryStore::default();
        let Begin::Started(stale) = store
            .begin(&key("a"), [1; 32], Duration::ZERO)
            .await
            .unwrap()
        else {
            panic!("a free key starts");
        };
        let Begin::Started(fresh) = store
            .begin(&key("a"), [1; 32], Duration::from_secs(30))
            .await
            .unwrap()
        else {
            panic!("a lapsed lease frees the key");
        };
        assert!(fresh > stale);
        assert!(
            !store
                .renew(&key("a"), stale, Duration::from_secs(30))
                .await
                .unwrap()
        );
        assert!(
            !store
                .complete(&key("a"), stale, &answer(), Duration::from_secs(30))
                .await
                .unwrap()
        );
        store.release(&key("a"), stale).await.unwrap();
        assert!(matches!(
            store
                .begin(&key("a"), [1; 32], Duration::from_secs(30))
                .await
                .unwrap(),
            Begin::Running { .. }
        ));
    }

    #[tokio::test]
    async fn a_full_store_refuses_new_keys_rather_than_forget_live_ones() {
        let store = MemoryStore::with_capacity(2);
        let lease = Duration::from_secs(30);
        for k in ["a", "b"] {
            assert!(matches!(
                store.begin(&key(k), [1; 32], lease).await.unwrap(),
                Begin::Started(_)
            ));
        }
        assert!(matches!(
            store.begin(&key("c"), [1; 32], lease).await,
            Err(StoreError::Full)
        ));
        assert!(matches!(
            store.begin(&key("a"), [1; 32], lease).await.unwrap(),
            Begin::Running { .. }
        ));
        assert_eq!(store.len(), 2);
    }
}
