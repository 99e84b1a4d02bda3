//! Per-thread shards for figures counted on every request: each thread
//! that counts takes a shard of its own, where it adds with a plain load
//! and store — no locked instruction, no cache line shared with another
//! core — and threads beyond the machine's parallelism share shard 0,
//! where they add atomically. A scrape sums the shards.
//!
//! A shard is a thread's until the thread ends, then the next thread's:
//! no two running threads ever own the same one, so a plain add loses
//! nothing.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// How many shards a sharded figure has: the shared one, then one per
/// core (at most 64 in all).
pub(crate) fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.min(63) + 1
    })
}

/// Where the calling thread adds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shard {
    /// The shard's index, below [`count`].
    pub(crate) index: usize,
}

impl Shard {
    /// The calling thread's shard (taking one, the first time).
    #[inline]
    pub(crate) fn current() -> Shard {
        let index = OWN
            .try_with(|own| match own.get() {
                Some(index) => index,
                None => {
                    let index = Claim::take();
                    own.set(Some(index));
                    index
                }
            })
            .unwrap_or(0);
        Shard { index }
    }

    /// Whether other threads add into this shard too (shard 0).
    #[inline]
    pub(crate) fn shared(self) -> bool {
        self.index == 0
    }

    /// Adds `value` to `cell`, which belongs to this shard.
    #[inline]
    pub(crate) fn add(self, cell: &AtomicU64, value: u64) {
        if self.shared() {
            add::<true>(cell, value);
        } else {
            add::<false>(cell, value);
        }
    }
}

/// Adds `value` to `cell`, a shard's: atomically when the shard is
/// `SHARED`, else with a plain load and store, since only the calling
/// thread writes it. A caller adding several figures branches on
/// [`Shard::shared`] once.
#[inline]
pub(crate) fn add<const SHARED: bool>(cell: &AtomicU64, value: u64) {
    if SHARED {
        cell.fetch_add(value, Ordering::Relaxed);
    } else {
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(value),
            Ordering::Relaxed,
        );
    }
}

thread_local! {
    /// The thread's own shard, once it counted; given back when it ends.
    static OWN: Claim = const { Claim(Cell::new(None)) };
}

struct Claim(Cell<Option<usize>>);

/// Shards given back by threads that ended.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// The next shard never taken.
static NEXT: AtomicUsize = AtomicUsize::new(1);

impl Claim {
    fn get(&self) -> Option<usize> {
        self.0.get()
    }

    fn set(&self, index: Option<usize>) {
        self.0.set(index);
    }

    /// A free shard, or the shared one when every other is taken.
    fn take() -> usize {
        let mut free = FREE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(index) = free.pop() {
            return index;
        }
        let next = NEXT.load(Ordering::Relaxed);
        if next < count() {
            NEXT.store(next + 1, Ordering::Relaxed);
            next
        } else {
            0
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(index) = self.0.get().filter(|&index| index != 0) {
            FREE.lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_threads_never_share_an_owned_shard_and_nothing_is_lost() {
        let cells: Vec<AtomicU64> = (0..count()).map(|_| AtomicU64::new(0)).collect();
        let threads = count() * 3;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        let shard = Shard::current();
                        shard.add(&cells[shard.index], 1);
                    }
                });
            }
        });
        let total: u64 = cells.iter().map(|cell| cell.load(Ordering::Relaxed)).sum();
        assert_eq!(total, threads as u64 * 10_000);
    }
}
