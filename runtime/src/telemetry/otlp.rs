//! Pushes the app's metrics to an OpenTelemetry collector: OTLP/HTTP with
//! protobuf bodies (`POST <endpoint>/v1/metrics`), cumulative, at an
//! interval and once more when shutdown begins. The same figures as
//! `/metrics`, named as the conventions spell them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use super::{Snapshot, Sources};
use crate::metrics::Exposition;
use crate::metrics::otlp::{Batch, attribute};
use crate::shutdown::Shutdown;

/// Where the metrics are pushed, how often, and as which service.
///
/// ```
/// use std::time::Duration;
/// use portico_runtime::telemetry::{Metrics, Otlp};
///
/// let otlp = Otlp::new("http://127.0.0.1:4318").unwrap().every(Duration::from_secs(15));
/// let metrics = Metrics::new().otlp(otlp.service_name("users-api"));
/// ```
#[derive(Debug, Clone)]
pub struct Otlp {
    endpoint: http::Uri,
    every: Duration,
    timeout: Duration,
    service: String,
}

/// Why an OTLP endpoint was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// Not an `http://host:port` URL (TLS: put a collector or proxy in
    /// front, as for the server itself).
    #[error("the OTLP endpoint must be an http://host:port URL")]
    Endpoint,
}

impl Otlp {
    /// Pushes to the collector at `endpoint` (its base URL, such as
    /// `http://127.0.0.1:4318`; `/v1/metrics` is added) every 60 s, each
    /// push given 10 s, as service `portico`.
    pub fn new(endpoint: &str) -> Result<Self, OtlpError> {
        let base = endpoint.trim_end_matches('/');
        let endpoint: http::Uri = format!("{base}/v1/metrics")
            .parse()
            .map_err(|_| OtlpError::Endpoint)?;
        if endpoint.scheme_str() != Some("http") || endpoint.host().is_none() {
            return Err(OtlpError::Endpoint);
        }
        Ok(Otlp {
            endpoint,
            every: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            service: "portico".to_owned(),
        })
    }

    /// Pushes every `every` (at least every 100 ms).
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every.max(Duration::from_millis(100));
        self
    }

    /// The `service.name` resource attribute.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service = name.into();
        self
    }
}

/// Starts pushing `sources` as `otlp` says, until shutdown (a last push
/// then, held for by the shutdown's drain).
pub(crate) fn start(otlp: Otlp, sources: Arc<Sources>, shutdown: &Shutdown) {
    let hold = shutdown.hold();
    let shutdown = shutdown.clone();
    let started = unix_nanos(SystemTime::now());
    tokio::spawn(async move {
        let _hold = hold;
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let mut tick = tokio::time::interval(otlp.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let last = tokio::select! {
                _ = tick.tick() => false,
                () = shutdown.wait() => true,
            };
            push(&client, &otlp, &sources, started).await;
            if last {
                break;
            }
        }
    });
}

fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    })
}

async fn push(
    client: &Client<HttpConnector, Full<Bytes>>,
    otlp: &Otlp,
    sources: &Arc<Sources>,
    started: u64,
) {
    let snapshot = Snapshot::gather(Arc::clone(sources)).await;
    let mut batch = Batch {
        start: started,
        now: unix_nanos(SystemTime::now()),
        ..Batch::default()
    };
    if snapshot.write(&mut Exposition::otlp(&mut batch)).is_err() {
        tracing::warn!("the metrics could not be put together for OTLP");
        return;
    }
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![attribute("service.name", &otlp.service)],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "portico".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                metrics: batch.metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let request = http::Request::post(otlp.endpoint.clone())
        .header(CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(Bytes::from(request.encode_to_vec())));
    let Ok(request) = request else { return };
    match tokio::time::timeout(otlp.timeout, client.request(request)).await {
        Ok(Ok(response)) if response.status().is_success() => {}
        Ok(Ok(response)) => {
            tracing::warn!(
                status = response.status().as_u16(),
                "the OTLP collector refused the metrics"
            );
        }
        Ok(Err(error)) => {
            let error = error.to_string();
            tracing::warn!(error = %crate::text::untrusted(&error), "the metrics could not be pushed over OTLP");
        }
        Err(_) => {
            tracing::warn!(timeout = ?otlp.timeout, "the OTLP collector did not answer in time")
        }
    }
}
