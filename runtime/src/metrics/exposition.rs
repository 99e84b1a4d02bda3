//! [`Exposition`]: writes metric families in the OpenMetrics text through
//! `prometheus-client`'s encoder, with label values escaped.

use std::fmt::Write as _;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelValue, LabelValueEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;

use super::{Histogram, Unit};

/// A sample's labels: name and value pairs. Names are the caller's
/// constants; values are escaped as the text format requires.
pub type Labels<'l> = &'l [(&'l str, &'l str)];

/// Writes metric families at a scrape: each call is one family (its name,
/// help and type once, then one sample per label set).
///
/// A layer writes its own figures with it in
/// [`Middleware::collect`](crate::middleware::Middleware::collect).
pub struct Exposition<'a> {
    encoder: DescriptorEncoder<'a>,
}

impl std::fmt::Debug for Exposition<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exposition")
    }
}

impl<'a> Exposition<'a> {
    pub(crate) fn new(encoder: DescriptorEncoder<'a>) -> Self {
        Exposition { encoder }
    }

    /// A counter family: `name` without `_total` (the format adds it).
    pub fn counter<'l>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels<'l>, u64)>,
    ) -> std::fmt::Result {
        let mut family = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, value) in samples {
            if labels.is_empty() {
                family.encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            } else {
                let labels = escaped(labels);
                family
                    .encode_family(&labels.as_slice())?
                    .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            }
        }
        Ok(())
    }

    /// A gauge family.
    pub fn gauge<'l>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels<'l>, f64)>,
    ) -> std::fmt::Result {
        let mut family = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, value) in samples {
            if labels.is_empty() {
                family.encode_gauge(&value)?;
            } else {
                let labels = escaped(labels);
                family
                    .encode_family(&labels.as_slice())?
                    .encode_gauge(&value)?;
            }
        }
        Ok(())
    }

    /// A histogram family in `unit` (whose suffix the format adds to
    /// `name`).
    pub fn histogram<'l, 'h, const N: usize>(
        &mut self,
        name: &str,
        help: &str,
        unit: Unit,
        samples: impl IntoIterator<Item = (Labels<'l>, &'h Histogram<N>)>,
    ) -> std::fmt::Result {
        let unit_name = unit.name();
        let mut family =
            self.encoder
                .encode_descriptor(name, help, Some(&unit_name), MetricType::Histogram)?;
        for (labels, histogram) in samples {
            let mut count = 0;
            let buckets: Vec<(f64, u64)> = histogram
                .buckets()
                .map(|(bound, n)| {
                    count += n;
                    let bound = if bound == u64::MAX {
                        f64::MAX
                    } else {
                        unit.scale(bound)
                    };
                    (bound, n)
                })
                .collect();
            let sum = unit.scale(histogram.sum());
            if labels.is_empty() {
                family.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            } else {
                let labels = escaped(labels);
                family
                    .encode_family(&labels.as_slice())?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        Ok(())
    }
}

fn escaped<'l>(labels: Labels<'l>) -> Vec<(&'l str, Escaped<'l>)> {
    labels
        .iter()
        .map(|&(name, value)| (name, Escaped(value)))
        .collect()
}

/// A label value as the text format needs it: `\`, `"` and line feeds
/// escaped, so that no value (a route template, a policy's name) can end
/// its sample early.
struct Escaped<'a>(&'a str);

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}
