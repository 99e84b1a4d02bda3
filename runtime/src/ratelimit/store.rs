//! Where token buckets live: the [`RateLimitStore`] trait, and buckets
//! kept in memory, in shards, with idle buckets dropped.

use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;

use hashbrown::HashTable;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Policy;

/// Who a bucket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An authenticated subject (`sub` of the token), shared with the
    /// request's verified claims.
    Subject(Arc<str>),
    /// A client address.
    Ip(IpAddr),
    /// A key from a custom key function.
    Custom(String),
    /// Nothing known about the client (no socket, as from the test client).
    Unknown,
}

/// A bucket's name in a shared store: the policy's name, then the client
/// (a unit separator between them, which neither contains in practice).
#[cfg(any(feature = "postgres", feature = "redis"))]
pub(crate) fn bucket_name(key: &ClientKey, policy: &Policy) -> String {
    let name = &*policy.name;
    match key {
        ClientKey::Subject(subject) => format!("{name}\u{1f}sub:{subject}"),
        ClientKey::Ip(ip) => format!("{name}\u{1f}ip:{ip}"),
        ClientKey::Custom(custom) => format!("{name}\u{1f}custom:{custom}"),
        ClientKey::Unknown => format!("{name}\u{1f}unknown"),
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Whether the request may go on (a token was taken).
    pub allowed: bool,
    /// Whole tokens left.
    pub remaining: u32,
    /// Until the next token, when refused.
    pub retry_after: Duration,
    /// Until the bucket is full again.
    pub reset_after: Duration,
}

/// Where buckets live. The in-process [`MemoryStore`] is the default; a
/// shared store (`PostgresStore`, `RedisStore`: features `postgres`, `redis`) lets several
/// instances share one bucket per client. A store keeps its own clock (a
/// shared one uses its server's, so instances with drifting clocks agree).
pub trait RateLimitStore: Send + Sync + 'static {
    /// Takes a token from `key`'s bucket under `policy`, if there is one:
    /// at once, or after a round trip to a shared store.
    fn check<'a>(&'a self, key: &'a ClientKey, policy: &'a Policy) -> Checked<'a>;
}

/// A store shared with the code that keeps it (for a health check, say).
impl<T: RateLimitStore + ?Sized> RateLimitStore for Arc<T> {
    fn check<'a>(&'a self, key: &'a ClientKey, policy: &'a Policy) -> Checked<'a> {
        (**self).check(key, policy)
    }
}

/// A store's answer: at once (in-process), or after a round trip.
pub enum Checked<'a> {
    /// Decided.
    Now(Decision),
    /// To be awaited; an error when the shared store could not answer.
    Later(Pin<Box<dyn Future<Output = Result<Decision, StoreError>> + Send + 'a>>),
}

impl std::fmt::Debug for Checked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Checked::Now(decision) => f.debug_tuple("Now").field(decision).finish(),
            Checked::Later(_) => f.write_str("Later"),
        }
    }
}

/// Why a shared store could not decide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached or refused the query.
    #[error("the rate-limit store is unavailable: {0}")]
    Unavailable(String),
    /// It did not answer in time.
    #[error("the rate-limit store did not answer in time")]
    TimedOut,
}

/// One client's bucket, kept as GCRA's "theoretical arrival time": the
/// moment (ns after the store's epoch) the bucket will be full again. A
/// single number says everything a token bucket's two do.
struct Entry {
    policy: u16,
    key: ClientKey,
    full_at: u64,
}

#[derive(Default)]
struct Shard {
    table: HashTable<Entry>,
    sweep_at: usize,
}

/// In-process buckets, sharded so that clients rarely share a lock. Memory
/// stays bounded: when a shard grows, buckets that are full again by now
/// are dropped (a fresh bucket is the same as a full one).
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    hasher: foldhash::fast::RandomState,
    /// `check_at` measures from here.
    epoch: Instant,
    /// `check` reads this clock (the CPU's counter where it is reliable:
    /// a few ns, where `Instant::now` costs tens), from `clock_epoch`.
    clock: quanta::Clock,
    clock_epoch: u64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .field("buckets", &self.len())
            .finish()
    }
}

const MIN_SWEEP: usize = 1024;

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_shards(64)
    }
}

impl MemoryStore {
    /// A store with `shards` locks (at least 1).
    pub fn with_shards(shards: usize) -> Self {
        let clock = quanta::Clock::new();
        MemoryStore {
            shards: (0..shards.max(1))
                .map(|_| {
                    Mutex::new(Shard {
                        sweep_at: MIN_SWEEP,
                        ..Shard::default()
                    })
                })
                .collect(),
            hasher: Default::default(),
            epoch: Instant::now(),
            clock_epoch: clock.raw(),
            clock,
        }
    }

    /// Buckets held now (across shards).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).table.len()).sum()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A poisoned shard only means a panic elsewhere mid-update of plain
/// numbers; the buckets are still usable.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

impl RateLimitStore for MemoryStore {
    #[inline]
    fn check<'a>(&'a self, key: &'a ClientKey, policy: &'a Policy) -> Checked<'a> {
        Checked::Now(self.check_now(key, policy))
    }
}

impl MemoryStore {
    /// Takes a token from `key`'s bucket under `policy`, now.
    pub fn check_now(&self, key: &ClientKey, policy: &Policy) -> Decision {
        let now = self
            .clock
            .delta_as_nanos(self.clock_epoch, self.clock.raw());
        self.check_ns(key, policy, now)
    }

    /// [`check_now`](MemoryStore::check_now) as if the time were `now`: for
    /// tests and simulations that drive time themselves. Use one or the
    /// other on a store, not both (they read different clocks).
    pub fn check_at(&self, key: &ClientKey, policy: &Policy, now: Instant) -> Decision {
        self.check_ns(
            key,
            policy,
            now.saturating_duration_since(self.epoch).as_nanos() as u64,
        )
    }

    fn check_ns(&self, key: &ClientKey, policy: &Policy, now: u64) -> Decision {
        let hash = self.hasher.hash_one((policy.id, key));
        // The table uses the hash's low and top bits; pick the shard with
        // the middle ones so that a shard's entries still spread.
        let shard = &self.shards[((hash >> 32) as usize) % self.shards.len()];
        let interval = policy.interval_ns;
        let capacity = u64::from(policy.capacity);
        // A policy fills within a century of nanoseconds (`Policy::try_new`),
        // and the arithmetic saturates besides: no input overflows it.
        let tolerance = interval.saturating_mul(capacity - 1);

        let mut shard = lock(shard);
        let hasher = |e: &Entry| self.hasher.hash_one((e.policy, &e.key));
        let full_at = match shard
            .table
            .find_mut(hash, |e| e.policy == policy.id && e.key == *key)
        {
            Some(entry) => &mut entry.full_at,
            None => {
                if shard.table.len() >= shard.sweep_at {
                    shard.table.retain(|e| e.full_at > now);
                    shard.sweep_at = (shard.table.len() * 2).max(MIN_SWEEP);
                }
                let entry = Entry {
                    policy: policy.id,
                    key: key.clone(),
                    full_at: now,
                };
                &mut shard
                    .table
                    .insert_unique(hash, entry, hasher)
                    .into_mut()
                    .full_at
            }
        };
        // Threads read the clock before the lock, so `now` may be a little
        // behind: `max` keeps the bucket's clock from going back.
        let debt = (*full_at).max(now) - now;
        if debt <= tolerance {
            let debt = debt.saturating_add(interval);
            *full_at = now.saturating_add(debt);
            Decision {
                allowed: true,
                remaining: capacity.saturating_sub(ceil_div(debt, interval)) as u32,
                retry_after: Duration::ZERO,
                reset_after: Duration::from_nanos(debt),
            }
        } else {
            Decision {
                allowed: false,
                remaining: capacity.saturating_sub(ceil_div(debt, interval)) as u32,
                retry_after: Duration::from_nanos(debt - tolerance),
                reset_after: Duration::from_nanos(debt),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(capacity: u32, rate: f64) -> Policy {
        Policy::new("default", capacity, rate)
    }

    #[test]
    fn seed_scenario_capacity_5_refill_2() {
        let store = MemoryStore::default();
        let p = policy(5, 2.0);
        let key = ClientKey::Custom("client".into());
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(store.check_at(&key, &p, t0).allowed, "request {}", i + 1);
        }
        let sixth = store.check_at(&key, &p, t0);
        assert!(!sixth.allowed);
        assert_eq!(sixth.retry_after, Duration::from_millis(500));
        assert!(
            store
                .check_at(&key, &p, t0 + Duration::from_secs(1))
                .allowed
        );
    }

    #[test]
    fn a_million_distinct_keys_keep_memory_bounded() {
        let store = MemoryStore::with_shards(16);
        let p = policy(5, 10.0); // a used bucket is full again after 0.1 s
        let t0 = Instant::now();
        for round in 0..10u32 {
            let now = t0 + Duration::from_secs(u64::from(round));
            for i in 0..100_000u32 {
                let ip = IpAddr::from((round * 100_000 + i).to_be_bytes());
                store.check_at(&ClientKey::Ip(ip), &p, now);
            }
        }
        // A million keys went through; only about one round's worth (plus
        // the sweep's slack) is held.
        let held = store.len();
        assert!(held <= 2 * 100_000 + 16 * MIN_SWEEP, "{held} buckets held");
    }
}
