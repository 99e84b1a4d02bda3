//! A histogram with fixed bounds, counted with relaxed atomic adds (plain
//! ones in a thread's own shard) and no allocation, in integer units
//! (nanoseconds, bytes).

use std::sync::atomic::{AtomicU64, Ordering};

/// The OpenTelemetry HTTP semantic conventions' duration buckets,
/// 5 ms … 10 s, in nanoseconds; the last is `+Inf`.
pub(crate) const DURATION_BOUNDS: [u64; 15] = [
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    75_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    750_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    7_500_000_000,
    10_000_000_000,
    u64::MAX,
];

/// Body-size buckets, in bytes: an empty body apart, then ×4 from 128 B
/// to 8 MiB; the last is `+Inf`. (The conventions name no buckets for
/// sizes.)
pub(crate) const SIZE_BOUNDS: [u64; 11] = [
    0,
    128,
    512,
    2_048,
    8_192,
    32_768,
    131_072,
    524_288,
    2_097_152,
    8_388_608,
    u64::MAX,
];

/// A histogram over `N` buckets whose upper bounds (inclusive, as
/// Prometheus' `le`) are given in the integer unit observed; the last
/// bound is `u64::MAX` and is written as `+Inf`.
///
/// ```
/// use portico_runtime::metrics::Histogram;
///
/// static BOUNDS: [u64; 3] = [10, 100, u64::MAX];
/// let sizes = Histogram::new(&BOUNDS);
/// sizes.observe(42);
/// assert_eq!(sizes.count(), 1);
/// ```
#[derive(Debug)]
pub struct Histogram<const N: usize> {
    bounds: &'static [u64; N],
    counts: [AtomicU64; N],
    sum: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    /// An empty histogram over `bounds` (ascending, the last `u64::MAX`).
    pub const fn new(bounds: &'static [u64; N]) -> Self {
        Histogram {
            bounds,
            counts: [const { AtomicU64::new(0) }; N],
            sum: AtomicU64::new(0),
        }
    }

    /// Counts one value. Linear: most values fall in the first buckets.
    #[inline]
    pub fn observe(&self, value: u64) {
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(N - 1);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Counts one value into a shard of a sharded histogram: atomically
    /// when the shard is `SHARED` by several threads, else with plain adds
    /// (see [`shard`](super::shard)).
    #[inline]
    pub(crate) fn observe_in<const SHARED: bool>(&self, value: u64) {
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(N - 1);
        super::shard::add::<SHARED>(&self.counts[bucket], 1);
        super::shard::add::<SHARED>(&self.sum, value);
    }

    /// The shards of a sharded histogram, summed.
    pub(crate) fn summed<'a>(
        bounds: &'static [u64; N],
        shards: impl IntoIterator<Item = &'a Self>,
    ) -> Self {
        let total = Histogram::new(bounds);
        for shard in shards {
            for (sum, part) in total.counts.iter().zip(&shard.counts) {
                sum.fetch_add(part.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            total.sum.fetch_add(shard.sum(), Ordering::Relaxed);
        }
        total
    }

    /// How many values were observed.
    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    }

    /// The sum of the observed values, in their unit.
    pub fn sum(&self) -> u64 {
        self.sum.load(Ordering::Relaxed)
    }

    /// Each bucket's upper bound and count (not cumulative).
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.bounds
            .iter()
            .zip(&self.counts)
            .map(|(&bound, count)| (bound, count.load(Ordering::Relaxed)))
    }
}

/// What a histogram's integers count, and so how they are written out:
/// durations observed in nanoseconds are written in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Observed in nanoseconds, written in seconds (`_seconds`).
    Seconds,
    /// Observed and written in bytes (`_bytes`).
    Bytes,
}

impl Unit {
    pub(crate) fn scale(self, value: u64) -> f64 {
        match self {
            Unit::Seconds => value as f64 / 1e9,
            Unit::Bytes => value as f64,
        }
    }

    /// The unit as OTLP names it (UCUM).
    #[cfg(feature = "otlp")]
    pub(crate) fn code(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Bytes => "By",
        }
    }

    pub(crate) fn name(self) -> prometheus_client::registry::Unit {
        match self {
            Unit::Seconds => prometheus_client::registry::Unit::Seconds,
            Unit::Bytes => prometheus_client::registry::Unit::Bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_on_a_bound_counts_in_that_bucket_and_a_huge_one_in_the_last() {
        static BOUNDS: [u64; 3] = [10, 100, u64::MAX];
        let histogram = Histogram::new(&BOUNDS);
        for value in [0, 10, 11, 100, 101, u64::MAX / 2] {
            histogram.observe(value);
        }
        let counts: Vec<u64> = histogram.buckets().map(|(_, count)| count).collect();
        assert_eq!(counts, [2, 2, 2]);
        assert_eq!(histogram.count(), 6);
        assert_eq!(histogram.sum(), 222 + u64::MAX / 2);
    }
}
