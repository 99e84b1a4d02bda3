//! An OTLP batch: metric families as OpenTelemetry's protobuf messages
//! (cumulative sums, gauges, explicit-bucket histograms), named and
//! labelled as the conventions spell them.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram as OtlpHistogram, HistogramDataPoint, Metric,
    NumberDataPoint, Sum, metric, number_data_point,
};

use super::Unit;
use super::family::{Labels, Snapshot, Values};

/// The families of one export, stamped with its time and the start of
/// the cumulative counts (the app's start), in Unix nanoseconds.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) metrics: Vec<Metric>,
    pub(crate) start: u64,
    pub(crate) now: u64,
}

/// A text attribute.
pub(crate) fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
    }
}

fn attributes(labels: Labels<'_>) -> Vec<KeyValue> {
    labels
        .iter()
        .map(|&(key, value)| attribute(key, value))
        .collect()
}

impl Batch {
    pub(crate) fn family<const N: usize>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        values: Values<'_, '_, '_, N>,
    ) {
        let (start, now) = (self.start, self.now);
        let number =
            |labels: Labels<'_>, value: number_data_point::Value, start: u64| NumberDataPoint {
                attributes: attributes(labels),
                start_time_unix_nano: start,
                time_unix_nano: now,
                value: Some(value),
                ..Default::default()
            };
        let data = match values {
            Values::Counter(samples) => metric::Data::Sum(Sum {
                data_points: samples
                    .map(|(labels, value)| {
                        let value = i64::try_from(value).unwrap_or(i64::MAX);
                        number(labels, number_data_point::Value::AsInt(value), start)
                    })
                    .collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
            Values::Gauge(samples) => metric::Data::Gauge(Gauge {
                data_points: samples
                    .map(|(labels, value)| {
                        number(labels, number_data_point::Value::AsDouble(value), 0)
                    })
                    .collect(),
            }),
            Values::Histogram(samples) => {
                let unit = unit.unwrap_or(Unit::Bytes);
                metric::Data::Histogram(OtlpHistogram {
                    data_points: samples
                        .map(|(labels, histogram)| {
                            let snapshot = Snapshot::of(histogram, unit);
                            let bounds = snapshot.buckets.len().saturating_sub(1);
                            HistogramDataPoint {
                                attributes: attributes(labels),
                                start_time_unix_nano: start,
                                time_unix_nano: now,
                                count: snapshot.count,
                                sum: Some(snapshot.sum),
                                bucket_counts: snapshot.buckets.iter().map(|&(_, n)| n).collect(),
                                explicit_bounds: snapshot.buckets[..bounds]
                                    .iter()
                                    .map(|&(bound, _)| bound)
                                    .collect(),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                })
            }
        };
        self.metrics.push(Metric {
            name: name.to_owned(),
            description: help.to_owned(),
            unit: unit.map_or("", Unit::code).to_owned(),
            data: Some(data),
            ..Default::default()
        });
    }
}
