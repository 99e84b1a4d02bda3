//! What an app tells its operators: `GET /metrics`, the HTTP server
//! metrics and those of every part the app runs — connections and panics,
//! connection pools, task queues, health checks, and the layers that count
//! (rate limits, idempotency) — in the Prometheus text format, or
//! OpenMetrics when the scraper asks for it.
//!
//! Turned on with [`App::metrics`](crate::App::metrics); an app without it
//! counts nothing per request.

mod format;
#[cfg(feature = "otlp")]
mod otlp;

#[cfg(feature = "otlp")]
pub use otlp::{Otlp, OtlpError};

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Method};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use crate::extract::RequestContext;
use crate::handler::{HandlerFuture, Route, handler_future};
use crate::health::{HealthChecker, Report, Status};
use crate::inject::{Dep, Inject, Needs};
use crate::metrics::{Exposition, Histogram, ServerStats, Unit};
use crate::pool::{Manager, Pool, PoolStats};
use crate::queue::{QueueStats, TaskQueue};
use crate::response::{ApiError, IntoResponse, Response};
use crate::service::{HttpMetrics, Layer};

/// How long a scrape waits for a queue's counts before leaving them out.
const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// What `GET /metrics` serves, and who may read it.
///
/// ```
/// use portico_runtime::{App, telemetry::Metrics};
///
/// let app = App::new().metrics(Metrics::new().token("a long random scrape token"));
/// ```
pub struct Metrics {
    path: &'static str,
    token: Option<String>,
    pools: Vec<(String, Box<dyn PoolView>)>,
    queues: Vec<(String, TaskQueue)>,
    #[cfg(feature = "otlp")]
    otlp: Option<Otlp>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("path", &self.path)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field(
                "pools",
                &self.pools.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .field(
                "queues",
                &self.queues.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            path: "/metrics",
            token: None,
            pools: Vec::new(),
            queues: Vec::new(),
            #[cfg(feature = "otlp")]
            otlp: None,
        }
    }
}

impl Metrics {
    /// Serves `GET /metrics` to anyone who can reach it (keep the port
    /// off the internet, or set a [`token`](Metrics::token)).
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves at `path` instead of `/metrics`.
    pub fn path(mut self, path: &str) -> Self {
        // Made once per app: a route's path lives as long as the program.
        self.path = Box::leak(path.to_owned().into_boxed_str());
        self
    }

    /// Serves only to `Authorization: Bearer <token>` (compared in
    /// constant time); others get a 401 envelope.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Reports `pool` as `pool="<name>"`: its size, idle and in-use
    /// connections, waiters, acquire times and timeouts, and its circuit
    /// breaker.
    pub fn pool<M: Manager>(mut self, name: &str, pool: &Pool<M>) -> Self {
        self.pools.push((name.to_owned(), Box::new(pool.clone())));
        self
    }

    /// Reports `queue` as `queue="<name>"`: tasks per state and the oldest
    /// pending one's age (read from its backend at each scrape), and the
    /// runs this process's workers made, by outcome, with their durations.
    pub fn queue(mut self, name: &str, queue: &TaskQueue) -> Self {
        self.queues.push((name.to_owned(), queue.clone()));
        self
    }

    /// Also pushes the metrics to an OpenTelemetry collector (cargo
    /// feature `otlp`).
    #[cfg(feature = "otlp")]
    pub fn otlp(mut self, otlp: Otlp) -> Self {
        self.otlp = Some(otlp);
        self
    }

    pub(crate) fn serves(&self) -> &'static str {
        self.path
    }
}

/// A pool of any manager, as a scrape reads it.
trait PoolView: Send + Sync {
    fn stats(&self) -> PoolStats;
    fn acquire_times(&self) -> &Histogram<11>;
}

impl<M: Manager> PoolView for Pool<M> {
    fn stats(&self) -> PoolStats {
        Pool::stats(self)
    }

    fn acquire_times(&self) -> &Histogram<11> {
        Pool::acquire_times(self)
    }
}

/// Everything a scrape reads, put together when the app is built.
pub(crate) struct Sources {
    pub(crate) config: Metrics,
    pub(crate) http: Arc<HttpMetrics>,
    pub(crate) server: Arc<ServerStats>,
    pub(crate) layers: Vec<Arc<dyn Layer>>,
    pub(crate) health: Option<Dep<HealthChecker>>,
}

/// The sources, once the app is built; the route's dependency.
#[derive(Clone, Default)]
pub(crate) struct Scrape(Arc<OnceLock<Arc<Sources>>>);

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrape")
    }
}

impl Scrape {
    /// Serves `sources` from now on, and pushes them over OTLP when the
    /// configuration says so.
    #[cfg_attr(not(feature = "otlp"), allow(unused_variables))]
    pub(crate) fn start(&self, sources: Sources, shutdown: &crate::shutdown::Shutdown) {
        let sources = Arc::new(sources);
        #[cfg(feature = "otlp")]
        if let Some(otlp) = sources.config.otlp.clone() {
            otlp::start(otlp, Arc::clone(&sources), shutdown);
        }
        let _ = self.0.set(sources);
    }
}

/// One scrape (or export): the sources and what was read from them
/// asynchronously, each read bounded in time.
struct Snapshot {
    sources: Arc<Sources>,
    queues: Vec<Option<QueueStats>>,
    health: Option<Arc<Report>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

impl Snapshot {
    async fn gather(sources: Arc<Sources>) -> Snapshot {
        let mut queues = Vec::with_capacity(sources.config.queues.len());
        for (_, queue) in &sources.config.queues {
            let stats = tokio::time::timeout(QUEUE_WAIT, queue.stats()).await;
            queues.push(stats.ok().and_then(Result::ok));
        }
        let health = match &sources.health {
            Some(checker) => Some(checker.report().await),
            None => None,
        };
        Snapshot {
            sources,
            queues,
            health,
        }
    }

    fn write(&self, out: &mut Exposition<'_>) -> std::fmt::Result {
        let sources = &*self.sources;
        sources.http.write(out)?;
        sources.server.write(out)?;
        write_pools(out, &sources.config.pools)?;
        write_queues(out, &sources.config.queues, &self.queues)?;
        if let Some(report) = &self.health {
            write_health(out, report)?;
        }
        for layer in &sources.layers {
            layer.collect(out)?;
        }
        Ok(())
    }
}

impl Collector for Snapshot {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        self.write(&mut Exposition::text(encoder))
    }
}

fn write_pools(
    out: &mut Exposition<'_>,
    pools: &[(String, Box<dyn PoolView>)],
) -> std::fmt::Result {
    let stats: Vec<PoolStats> = pools.iter().map(|(_, pool)| pool.stats()).collect();
    let named = |i: usize| pools[i].0.as_str();
    let labels: Vec<[(&str, &str); 1]> = (0..pools.len()).map(|i| [("pool", named(i))]).collect();
    let per_pool = |value: fn(&PoolStats) -> f64| {
        labels
            .iter()
            .zip(&stats)
            .map(move |(labels, stats)| (&labels[..], value(stats)))
    };
    let states: Vec<Vec<[(&str, &str); 2]>> = (0..pools.len())
        .map(|i| {
            ["idle", "used"]
                .into_iter()
                .map(|state| [("pool", named(i)), ("state", state)])
                .collect()
        })
        .collect();
    out.gauge(
        "portico.pool.connections",
        "Open connections, idle or in use.",
        states.iter().zip(&stats).flat_map(|(labels, stats)| {
            [
                (&labels[0][..], stats.idle as f64),
                (&labels[1][..], stats.in_use as f64),
            ]
        }),
    )?;
    out.gauge(
        "portico.pool.waiters",
        "Callers waiting for a connection.",
        per_pool(|s| s.waiters as f64),
    )?;
    out.counter(
        "portico.pool.acquire.timeouts",
        "Acquires that gave up waiting.",
        labels
            .iter()
            .zip(&stats)
            .map(|(labels, stats)| (&labels[..], stats.timeouts)),
    )?;
    out.counter(
        "portico.pool.connections.created",
        "Connections opened.",
        labels
            .iter()
            .zip(&stats)
            .map(|(labels, stats)| (&labels[..], stats.created)),
    )?;
    out.histogram(
        "portico.pool.acquire.duration",
        "How long a successful acquire took.",
        Unit::Seconds,
        labels
            .iter()
            .zip(pools)
            .map(|(labels, (_, pool))| (&labels[..], pool.acquire_times())),
    )?;
    let breaker: Vec<Vec<[(&str, &str); 2]>> = (0..pools.len())
        .map(|i| {
            ["closed", "open", "half_open"]
                .into_iter()
                .map(|state| [("pool", named(i)), ("state", state)])
                .collect()
        })
        .collect();
    out.gauge(
        "portico.pool.breaker.state",
        "1 for the circuit breaker's state now, 0 for the others.",
        breaker.iter().zip(&stats).flat_map(|(labels, stats)| {
            labels.iter().map(move |labels| {
                let now = labels[1].1 == stats.breaker.as_str();
                (&labels[..], if now { 1.0 } else { 0.0 })
            })
        }),
    )?;
    out.counter(
        "portico.pool.breaker.trips",
        "Times the circuit breaker opened.",
        labels
            .iter()
            .zip(&stats)
            .map(|(labels, stats)| (&labels[..], stats.breaker_trips)),
    )
}

fn write_queues(
    out: &mut Exposition<'_>,
    queues: &[(String, TaskQueue)],
    read: &[Option<QueueStats>],
) -> std::fmt::Result {
    const STATES: [&str; 6] = [
        "pending",
        "scheduled",
        "running",
        "done",
        "failed",
        "cancelled",
    ];
    let mut depth: Vec<([(&str, &str); 2], f64)> = Vec::new();
    let mut oldest: Vec<([(&str, &str); 1], f64)> = Vec::new();
    for ((name, _), stats) in queues.iter().zip(read) {
        let Some(stats) = stats else { continue };
        let counts = [
            stats.pending,
            stats.scheduled,
            stats.running,
            stats.done,
            stats.failed,
            stats.cancelled,
        ];
        for (state, count) in STATES.into_iter().zip(counts) {
            depth.push(([("queue", name.as_str()), ("state", state)], count as f64));
        }
        let age = stats.oldest_pending_ms.unwrap_or(0) as f64 / 1000.0;
        oldest.push(([("queue", name.as_str())], age));
    }
    out.gauge(
        "portico.queue.tasks",
        "Tasks in the queue's store, by state.",
        depth.iter().map(|(labels, value)| (&labels[..], *value)),
    )?;
    out.gauge_seconds(
        "portico.queue.oldest_pending.age",
        "How long the oldest pending task has waited (0 when none waits).",
        oldest.iter().map(|(labels, value)| (&labels[..], *value)),
    )?;
    let readable: Vec<([(&str, &str); 1], f64)> = queues
        .iter()
        .zip(read)
        .map(|((name, _), stats)| {
            (
                [("queue", name.as_str())],
                if stats.is_some() { 1.0 } else { 0.0 },
            )
        })
        .collect();
    out.gauge(
        "portico.queue.up",
        "1 when this scrape could read the queue's store, else 0.",
        readable.iter().map(|(labels, value)| (&labels[..], *value)),
    )?;
    let outcomes: Vec<[(&str, &str); 2]> = queues
        .iter()
        .flat_map(|(name, _)| {
            ["done", "retried", "failed"]
                .into_iter()
                .map(move |outcome| [("queue", name.as_str()), ("outcome", outcome)])
        })
        .collect();
    out.counter(
        "portico.queue.runs",
        "Task runs this process's workers finished, by outcome.",
        outcomes
            .chunks(3)
            .zip(queues)
            .flat_map(|(labels, (_, queue))| {
                let runs = queue.runs();
                let load = |counter: &std::sync::atomic::AtomicU64| {
                    counter.load(std::sync::atomic::Ordering::Relaxed)
                };
                [
                    (&labels[0][..], load(&runs.done)),
                    (&labels[1][..], load(&runs.retried)),
                    (&labels[2][..], load(&runs.failed)),
                ]
            }),
    )?;
    let names: Vec<[(&str, &str); 1]> = queues
        .iter()
        .map(|(name, _)| [("queue", name.as_str())])
        .collect();
    out.histogram(
        "portico.queue.run.duration",
        "How long this process's task runs took.",
        Unit::Seconds,
        names
            .iter()
            .zip(queues)
            .map(|(labels, (_, queue))| (&labels[..], &queue.runs().duration)),
    )
}

fn write_health(out: &mut Exposition<'_>, report: &Report) -> std::fmt::Result {
    let labels: Vec<[(&str, &str); 1]> = report
        .components
        .iter()
        .map(|component| [("check", component.name.as_str())])
        .collect();
    out.gauge(
        "portico.health.check.up",
        "1 when the check passed at its latest run, else 0.",
        labels
            .iter()
            .zip(&report.components)
            .map(|(labels, component)| {
                let up = component.status == Status::Healthy;
                (&labels[..], if up { 1.0 } else { 0.0 })
            }),
    )?;
    out.gauge_seconds(
        "portico.health.check.duration",
        "How long the check's latest run took.",
        labels
            .iter()
            .zip(&report.components)
            .map(|(labels, component)| (&labels[..], component.latency_ms / 1000.0)),
    )
}

fn declare(needs: &mut Needs) {
    <Dep<Scrape> as Inject>::declare(needs);
}

fn scrape<'r>(ctx: &'r mut RequestContext<'_>) -> HandlerFuture<'r> {
    let scrape = <Dep<Scrape> as Inject>::resolve(&mut ctx.scope());
    let open_metrics = format::wants_open_metrics(ctx.headers().get_all(ACCEPT));
    let authorised = scrape.0.get().map(|sources| {
        sources
            .config
            .token
            .as_deref()
            .is_none_or(|token| format::bearer_matches(ctx.headers().get(AUTHORIZATION), token))
    });
    handler_future(async move {
        let Some(sources) = scrape.0.get().map(Arc::clone) else {
            return ApiError::unavailable("the metrics start when the app is built")
                .into_response();
        };
        if authorised != Some(true) {
            return ApiError::unauthorized("this scrape needs its bearer token")
                .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
                .into_response();
        }
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Snapshot::gather(sources).await));
        let mut text = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &registry) {
            tracing::error!(error = %err, "cannot write the metrics");
            return ApiError::internal("the metrics could not be written").into_response();
        }
        let (body, content_type) = if open_metrics {
            (text, format::OPEN_METRICS)
        } else {
            (format::classic(&text), format::PROMETHEUS_TEXT)
        };
        let mut response = Response::new(crate::body::Body::from(Bytes::from(body)));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    })
}

/// The `/metrics` route, itself left out of the OpenAPI document.
pub(crate) fn route(path: &'static str) -> Route {
    Route::new(Method::GET, path, "metrics", scrape, declare).undocumented()
}
