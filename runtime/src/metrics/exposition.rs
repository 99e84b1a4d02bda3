//! [`Exposition`]: writes metric families, named by the OpenTelemetry
//! conventions (`http.server.request.duration`), into the OpenMetrics text
//! through `prometheus-client`'s encoder (where names and label keys take
//! `_` for `.`, and label values are escaped), or, with the `otlp`
//! feature, into an OTLP batch.

use std::collections::HashSet;
use std::fmt::Write as _;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelValue, LabelValueEncoder, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;

use super::family::{Labels, Snapshot, Values};
use super::{Histogram, Unit};

/// Writes metric families at a scrape or an export: each call is one
/// family (its name, help and type once, then one sample per label set).
/// A family written twice (a layer added twice) is written once.
///
/// A layer writes its own figures with it in
/// [`Middleware::collect`](crate::middleware::Middleware::collect).
pub struct Exposition<'a> {
    sink: Sink<'a>,
    written: HashSet<String>,
}

enum Sink<'a> {
    Text(DescriptorEncoder<'a>),
    #[cfg(feature = "otlp")]
    Otlp(&'a mut super::otlp::Batch),
}

impl std::fmt::Debug for Exposition<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exposition")
    }
}

impl<'a> Exposition<'a> {
    pub(crate) fn text(encoder: DescriptorEncoder<'a>) -> Self {
        Exposition {
            sink: Sink::Text(encoder),
            written: HashSet::new(),
        }
    }

    #[cfg(feature = "otlp")]
    pub(crate) fn otlp(batch: &'a mut super::otlp::Batch) -> Self {
        Exposition {
            sink: Sink::Otlp(batch),
            written: HashSet::new(),
        }
    }

    /// A counter family: `name` without `_total` (the text format adds it).
    pub fn counter<'l>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels<'l>, u64)>,
    ) -> std::fmt::Result {
        let mut samples = samples.into_iter();
        self.family::<1>(name, help, None, Values::Counter(&mut samples))
    }

    /// A gauge family.
    pub fn gauge<'l>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels<'l>, f64)>,
    ) -> std::fmt::Result {
        self.gauge_in(name, help, None, samples)
    }

    /// A gauge family whose values are in seconds.
    pub fn gauge_seconds<'l>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels<'l>, f64)>,
    ) -> std::fmt::Result {
        self.gauge_in(name, help, Some(Unit::Seconds), samples)
    }

    fn gauge_in<'l>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        samples: impl IntoIterator<Item = (Labels<'l>, f64)>,
    ) -> std::fmt::Result {
        let mut samples = samples.into_iter();
        self.family::<1>(name, help, unit, Values::Gauge(&mut samples))
    }

    /// A histogram family in `unit` (whose suffix the text format adds to
    /// the name).
    pub fn histogram<'l, 'h, const N: usize>(
        &mut self,
        name: &str,
        help: &str,
        unit: Unit,
        samples: impl IntoIterator<Item = (Labels<'l>, &'h Histogram<N>)>,
    ) -> std::fmt::Result {
        let mut samples = samples.into_iter();
        self.family(name, help, Some(unit), Values::Histogram(&mut samples))
    }

    fn family<const N: usize>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        values: Values<'_, '_, '_, N>,
    ) -> std::fmt::Result {
        if !self.written.insert(name.to_owned()) {
            tracing::warn!(
                family = name,
                "a metric family was written twice; the second is left out"
            );
            return Ok(());
        }
        match &mut self.sink {
            Sink::Text(encoder) => text(encoder, name, help, unit, values),
            #[cfg(feature = "otlp")]
            Sink::Otlp(batch) => {
                batch.family(name, help, unit, values);
                Ok(())
            }
        }
    }
}

fn text<const N: usize>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    values: Values<'_, '_, '_, N>,
) -> std::fmt::Result {
    let name = name.replace('.', "_");
    let unit_name = unit.map(Unit::name);
    let kind = match values {
        Values::Counter(_) => MetricType::Counter,
        Values::Gauge(_) => MetricType::Gauge,
        Values::Histogram(_) => MetricType::Histogram,
    };
    let mut family = encoder.encode_descriptor(&name, help, unit_name.as_ref(), kind)?;
    let mut sample =
        |labels: Labels<'_>, write: &mut dyn FnMut(&mut MetricEncoder<'_>) -> std::fmt::Result| {
            if labels.is_empty() {
                write(&mut family)
            } else {
                let labels = escaped(labels);
                write(&mut family.encode_family(&labels.as_slice())?)
            }
        };
    match values {
        Values::Counter(samples) => {
            for (labels, value) in samples {
                sample(labels, &mut |m| {
                    m.encode_counter::<NoLabelSet, _, u64>(&value, None)
                })?;
            }
        }
        Values::Gauge(samples) => {
            for (labels, value) in samples {
                sample(labels, &mut |m| m.encode_gauge(&value))?;
            }
        }
        Values::Histogram(samples) => {
            let unit = unit.unwrap_or(Unit::Bytes);
            for (labels, histogram) in samples {
                let snapshot = Snapshot::of(histogram, unit);
                sample(labels, &mut |m| {
                    m.encode_histogram::<NoLabelSet>(
                        snapshot.sum,
                        snapshot.count,
                        &snapshot.buckets,
                        None,
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// Label keys by the text format's rules (`http.route` → `http_route`),
/// values escaped.
fn escaped<'l>(labels: Labels<'l>) -> Vec<(String, Escaped<'l>)> {
    labels
        .iter()
        .map(|&(name, value)| (name.replace('.', "_"), Escaped(value)))
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
