//! A metric family as a sink takes it: its samples' labels and values,
//! and a histogram as it is written out. What the text and OTLP writers
//! share.

use super::{Histogram, Unit};

/// A sample's labels: name and value pairs. Names are the caller's
/// constants, by the conventions (`http.route`); values are escaped as the
/// text format requires.
pub type Labels<'l> = &'l [(&'l str, &'l str)];

/// What one family's samples hold.
pub(crate) enum Values<'s, 'l, 'h, const N: usize> {
    Counter(&'s mut dyn Iterator<Item = (Labels<'l>, u64)>),
    Gauge(&'s mut dyn Iterator<Item = (Labels<'l>, f64)>),
    Histogram(&'s mut dyn Iterator<Item = (Labels<'l>, &'h Histogram<N>)>),
}

/// A histogram as written out: its sum and count, and each bucket's upper
/// bound (`f64::MAX` for `+Inf`) and count, in the written unit.
pub(crate) struct Snapshot {
    pub(crate) sum: f64,
    pub(crate) count: u64,
    pub(crate) buckets: Vec<(f64, u64)>,
}

impl Snapshot {
    pub(crate) fn of<const N: usize>(histogram: &Histogram<N>, unit: Unit) -> Self {
        let buckets: Vec<(f64, u64)> = histogram
            .buckets()
            .map(|(bound, n)| {
                let bound = if bound == u64::MAX {
                    f64::MAX
                } else {
                    unit.scale(bound)
                };
                (bound, n)
            })
            .collect();
        Snapshot {
            sum: unit.scale(histogram.sum()),
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
        }
    }
}
