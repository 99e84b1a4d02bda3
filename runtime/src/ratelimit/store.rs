//! Token buckets kept in memory, in shards, with idle buckets dropped.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Policy;

/// Who a bucket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An authenticated subject (`sub` of the token).
    Subject(String),
    /// A client address.
    Ip(IpAddr),
    /// A key from a custom key function.
    Custom(String),
    /// Nothing known about the client (no socket, as from the test client).
    Unknown,
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
/// shared store (Redis, PostgreSQL) can replace it for several instances.
pub trait RateLimitStore: Send + Sync + 'static {
    /// Takes a token from `key`'s bucket under `policy`, if there is one.
    fn check(&self, key: &ClientKey, policy: &Policy, now: Instant) -> Decision;
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    /// When it will be full again if left alone: past that, it can go.
    full_at: Instant,
}

#[derive(Default)]
struct Shard {
    buckets: HashMap<(u16, ClientKey), Bucket>,
    sweep_at: usize,
}

/// In-process buckets, sharded so that clients rarely share a lock. Memory
/// stays bounded: when a shard grows, buckets that would be full again by
/// now are dropped (a fresh bucket is the same as a full one).
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    hasher: std::collections::hash_map::RandomState,
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
    /// A store with `shards` locks (rounded up to at least 1).
    pub fn with_shards(shards: usize) -> Self {
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
        }
    }

    /// Buckets held now (across shards).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).buckets.len()).sum()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &(u16, ClientKey)) -> &Mutex<Shard> {
        &self.shards[(self.hasher.hash_one(key) as usize) % self.shards.len()]
    }
}

/// A poisoned shard only means a panic elsewhere mid-update of plain
/// numbers; the buckets are still usable.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn secs(d: f64) -> Duration {
    Duration::from_secs_f64(d.max(0.0))
}

impl RateLimitStore for MemoryStore {
    fn check(&self, key: &ClientKey, policy: &Policy, now: Instant) -> Decision {
        let map_key = (policy.id, key.clone());
        let mut shard = lock(self.shard(&map_key));
        let capacity = f64::from(policy.capacity);
        let rate = policy.refill_per_sec;
        let existing = shard.buckets.get(&map_key).copied();
        // Threads read the clock before taking the lock, so `now` can be a
        // little older than the bucket's last update: never move the
        // bucket's clock back, or the same interval would refill twice.
        let now = existing.map_or(now, |bucket| now.max(bucket.updated));
        let mut tokens = match existing {
            Some(bucket) => {
                let elapsed = now.duration_since(bucket.updated).as_secs_f64();
                (bucket.tokens + elapsed * rate).min(capacity)
            }
            None => capacity,
        };
        let allowed = tokens >= 1.0;
        if allowed {
            tokens -= 1.0;
        }
        let reset_after = secs((capacity - tokens) / rate);
        let bucket = Bucket {
            tokens,
            updated: now,
            full_at: now + reset_after,
        };
        if existing.is_none() && shard.buckets.len() >= shard.sweep_at {
            shard.buckets.retain(|_, b| b.full_at > now);
            shard.sweep_at = (shard.buckets.len() * 2).max(MIN_SWEEP);
        }
        shard.buckets.insert(map_key, bucket);
        Decision {
            allowed,
            remaining: tokens.floor() as u32,
            retry_after: if allowed {
                Duration::ZERO
            } else {
                secs((1.0 - tokens) / rate)
            },
            reset_after,
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
            assert!(store.check(&key, &p, t0).allowed, "request {}", i + 1);
        }
        let sixth = store.check(&key, &p, t0);
        assert!(!sixth.allowed);
        assert_eq!(sixth.retry_after, Duration::from_millis(500));
        assert!(store.check(&key, &p, t0 + Duration::from_secs(1)).allowed);
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
                store.check(&ClientKey::Ip(ip), &p, now);
            }
        }
        // A million keys went through; only about one round's worth (plus
        // the sweep's slack) is held.
        let held = store.len();
        assert!(held <= 2 * 100_000 + 16 * MIN_SWEEP, "{held} buckets held");
    }
}
