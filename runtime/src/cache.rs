//! A single-flight TTL cache: [`Cache::execute`] runs an async computation
//! once per key, shares its value with every caller until it expires, and
//! keeps memory bounded.
//!
//! It is the seed's `IdempotencyCache.execute(key, handler) → (result,
//! was_cached)`: within the TTL a key's value is returned without running
//! the computation again; concurrent callers of one key run it exactly
//! once (the others wait for it); different keys never wait for each
//! other; after the TTL it runs again.

use std::collections::VecDeque;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Default bound on the entries a cache keeps.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

/// A bounded single-flight cache whose values expire `ttl` after they were
/// made. Cheap to clone: clones share the entries. Provide one to handlers
/// as a dependency (`App::provide(Cache::new(ttl))`, then `Dep<Cache<K, V>>`)
/// to memoise expensive work.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use portico_runtime::cache::Cache;
///
/// let rates: Cache<String, f64> = Cache::new(Duration::from_secs(60));
/// let (rate, cached) = rates.execute("EUR".to_owned(), || async { 1.08 }).await;
/// assert_eq!((rate, cached), (1.08, false));
/// let (_, cached) = rates.execute("EUR".to_owned(), || async { unreachable!() }).await;
/// assert!(cached);
/// # });
/// ```
///
/// A value is kept whatever it is: a `Cache<K, Result<T, E>>` used with
/// `execute` caches failures too. [`try_execute`](Cache::try_execute)
/// keeps only successes, so the next caller tries again.
///
/// Memory is bounded by [`max_entries`](Cache::max_entries): when a shard
/// is full, expired values go first, then the oldest. A key's "lock" is its
/// entry while the computation runs; it becomes the value (or goes) when
/// the computation ends, is cancelled or panics, so no per-key state
/// outlives its use.
pub struct Cache<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Cache {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V> std::fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("ttl", &self.inner.ttl)
            .field(
                "max_entries",
                &(self.inner.per_shard * self.inner.shards.len()),
            )
            .finish_non_exhaustive()
    }
}

struct Inner<K, V> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    hasher: foldhash::fast::RandomState,
    ttl: Duration,
    per_shard: usize,
}

struct Shard<K, V> {
    map: HashMap<K, Slot<V>>,
    /// Keys in the order their values were stored, each with the stamp it
    /// was stored under: a stamp that no longer matches is a value since
    /// replaced or removed, skipped when it comes up.
    order: VecDeque<(u64, K)>,
    next_stamp: u64,
}

enum Slot<V> {
    Ready {
        value: V,
        expires: Instant,
        stamp: u64,
    },
    Running(Arc<Notify>),
}

/// Shards: enough that unrelated keys rarely share a lock.
const SHARDS: usize = 16;

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache whose values live for `ttl`, holding at most
    /// [`DEFAULT_MAX_ENTRIES`].
    pub fn new(ttl: Duration) -> Self {
        Self::build(ttl, DEFAULT_MAX_ENTRIES)
    }

    /// The same cache holding at most `entries` values (at least one per
    /// shard). Call it before sharing the cache: clones made earlier keep
    /// the old bound.
    pub fn max_entries(self, entries: usize) -> Self {
        Self::build(self.inner.ttl, entries)
    }

    fn build(ttl: Duration, entries: usize) -> Self {
        let per_shard = entries.div_ceil(SHARDS).max(1);
        Cache {
            inner: Arc::new(Inner {
                shards: (0..SHARDS)
                    .map(|_| {
                        Mutex::new(Shard {
                            map: HashMap::default(),
                            order: VecDeque::new(),
                            next_stamp: 0,
                        })
                    })
                    .collect(),
                hasher: foldhash::fast::RandomState::default(),
                ttl,
                per_shard,
            }),
        }
    }

    /// How long values live.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// `key`'s value and `true` when a fresh one is stored; otherwise runs
    /// `compute` (once, however many callers ask for `key` meanwhile: the
    /// others wait and share its value), stores it and returns it with
    /// `false`.
    pub async fn execute<F, Fut>(&self, key: K, compute: F) -> (V, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        match self
            .try_execute(key, || async {
                Ok::<V, std::convert::Infallible>(compute().await)
            })
            .await
        {
            Ok(found) => found,
            Err(never) => match never {},
        }
    }

    /// [`execute`](Cache::execute) for a fallible computation: a success
    /// is stored and shared; a failure is returned to the caller that ran
    /// it and not stored, and callers that were waiting for it run the
    /// computation again, one at a time.
    pub async fn try_execute<F, Fut, E>(&self, key: K, compute: F) -> Result<(V, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let shard = self.shard(&key);
        loop {
            let found = {
                let mut guard = self.lock(shard);
                match guard.map.get(&key) {
                    Some(Slot::Ready { value, expires, .. }) if *expires > Instant::now() => {
                        return Ok((value.clone(), true));
                    }
                    Some(Slot::Running(notify)) => {
                        let notify = Arc::clone(notify);
                        // Registered before the lock is let go of, the wait
                        // cannot miss the leader's wake-up, which comes
                        // after it takes the lock.
                        let mut notified = Box::pin(notify.notified_owned());
                        notified.as_mut().enable();
                        Err(notified)
                    }
                    _ => {
                        let notify = Arc::new(Notify::new());
                        guard
                            .map
                            .insert(key.clone(), Slot::Running(Arc::clone(&notify)));
                        Ok(notify)
                    }
                }
            };
            match found {
                Ok(notify) => return self.lead(shard, key, notify, compute).await,
                Err(notified) => notified.await,
            }
        }
    }

    /// Runs `compute` as the one caller of `key`'s flight.
    async fn lead<F, Fut, E>(
        &self,
        shard: usize,
        key: K,
        notify: Arc<Notify>,
        compute: F,
    ) -> Result<(V, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let mut flight = Flight {
            cache: self,
            shard,
            key: Some(key),
            notify,
        };
        let value = compute().await?;
        flight.land(value.clone());
        Ok((value, false))
    }

    /// The fresh value of `key`, if one is stored.
    pub fn get(&self, key: &K) -> Option<V> {
        match self.lock(self.shard(key)).map.get(key) {
            Some(Slot::Ready { value, expires, .. }) if *expires > Instant::now() => {
                Some(value.clone())
            }
            _ => None,
        }
    }

    /// Forgets `key`'s value (a computation under way is not stopped).
    pub fn invalidate(&self, key: &K) {
        let mut shard = self.lock(self.shard(key));
        if let Some(Slot::Ready { .. }) = shard.map.get(key) {
            shard.map.remove(key);
        }
    }

    /// How many values are stored (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.count(|slot| matches!(slot, Slot::Ready { .. }))
    }

    /// Whether no value is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many keys have a computation under way: each is the per-key
    /// lock of the seed's cache, gone as soon as its computation ends.
    pub fn in_flight(&self) -> usize {
        self.count(|slot| matches!(slot, Slot::Running(_)))
    }

    fn count(&self, which: impl Fn(&Slot<V>) -> bool) -> usize {
        (0..SHARDS)
            .map(|i| self.lock(i).map.values().filter(|s| which(s)).count())
            .sum()
    }

    fn shard(&self, key: &K) -> usize {
        (self.inner.hasher.hash_one(key) as usize) % SHARDS
    }

    /// A shard's lock. No code panics while holding one, but a poisoned
    /// lock still holds a consistent map (every change is one call).
    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard<K, V>> {
        self.inner.shards[shard]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<K: Hash + Eq + Clone, V> Shard<K, V> {
    /// Stores `value` under `key`, making room first when full.
    fn store(&mut self, key: K, value: V, ttl: Duration, capacity: usize) {
        if self.map.len() >= capacity {
            self.make_room(capacity);
        }
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.order.push_back((stamp, key.clone()));
        self.map.insert(
            key,
            Slot::Ready {
                value,
                expires: Instant::now() + ttl,
                stamp,
            },
        );
        // Stale order entries (values replaced or removed) are dropped
        // when they pile up, so the queue stays within twice the bound.
        if self.order.len() > 2 * capacity {
            let map = &self.map;
            self.order.retain(|(stamp, key)| live(map, key, *stamp));
        }
    }

    /// Drops values oldest first until there is room for one more. Values
    /// share one TTL, so the oldest are the expired ones, if any.
    fn make_room(&mut self, capacity: usize) {
        while self.map.len() >= capacity {
            let Some((stamp, key)) = self.order.pop_front() else {
                // Full of computations under way: let the map grow by one
                // rather than refuse or wait; each ends soon.
                return;
            };
            if live(&self.map, &key, stamp) {
                self.map.remove(&key);
            }
        }
    }
}

fn live<K: Hash + Eq, V>(map: &HashMap<K, Slot<V>>, key: &K, stamp: u64) -> bool {
    matches!(map.get(key), Some(Slot::Ready { stamp: s, .. }) if *s == stamp)
}

/// The running computation of one key. Dropped before it lands (the
/// computation failed, was cancelled or panicked), it removes its entry
/// and wakes the waiters, one of whom runs the computation again.
struct Flight<'c, K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    cache: &'c Cache<K, V>,
    shard: usize,
    key: Option<K>,
    notify: Arc<Notify>,
}

impl<K, V> Flight<'_, K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn land(&mut self, value: V) {
        if let Some(key) = self.key.take() {
            let inner = &self.cache.inner;
            self.cache
                .lock(self.shard)
                .store(key, value, inner.ttl, inner.per_shard);
            self.notify.notify_waiters();
        }
    }
}

impl<K, V> Drop for Flight<'_, K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut shard = self.cache.lock(self.shard);
            if matches!(shard.map.get(&key), Some(Slot::Running(n)) if Arc::ptr_eq(n, &self.notify))
            {
                shard.map.remove(&key);
            }
            drop(shard);
            self.notify.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_value_is_shared_until_it_expires() {
        let cache = Cache::new(Duration::from_millis(50));
        let runs = AtomicUsize::new(0);
        let run = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            7
        };
        assert_eq!(cache.execute("k", run).await, (7, false));
        assert_eq!(cache.execute("k", run).await, (7, true));
        assert_eq!(cache.execute("other", run).await, (7, false));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cache.execute("k", run).await, (7, false));
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failure_is_not_stored() {
        let cache: Cache<&str, i32> = Cache::new(Duration::from_secs(60));
        let failed = cache
            .try_execute("k", || async { Err::<i32, _>("down") })
            .await;
        assert_eq!(failed, Err("down"));
        assert_eq!(cache.in_flight(), 0);
        let ok = cache.try_execute("k", || async { Ok::<_, &str>(1) }).await;
        assert_eq!(ok, Ok((1, false)));
    }

    #[test]
    fn the_bound_holds_and_the_oldest_go_first() {
        let cache: Cache<u32, u32> = Cache::new(Duration::from_secs(60)).max_entries(SHARDS * 4);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            for i in 0..10_000 {
                cache.execute(i, || async move { i }).await;
            }
        });
        assert!(cache.len() <= SHARDS * 4, "{} entries", cache.len());
        assert_eq!(cache.get(&9_999), Some(9_999));
        assert_eq!(cache.get(&0), None);
        for shard in cache.inner.shards.iter() {
            assert!(shard.lock().unwrap().order.len() <= 2 * 4);
        }
    }
}
