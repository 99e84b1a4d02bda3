//! Health checks: liveness (`/healthz`: the process serves) and readiness
//! (`/ready`: every check run concurrently under a timeout, critical ones
//! deciding between healthy, degraded and unhealthy).

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderValue;
use http::header::CACHE_CONTROL;
use serde::Serialize;

use crate::extract::RequestContext;
use crate::handler::{HandlerFuture, Route, handler_future};
use crate::inject::{Dep, Inject, Needs};
use crate::openapi::Operation;
use crate::pool::{Manager, Pool};
use crate::response::{ApiError, ApiResponse, IntoResponse, Response};
use crate::shutdown::Shutdown;

/// The state of the whole, or of one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// All checks pass.
    Healthy,
    /// A non-critical check fails.
    Degraded,
    /// A critical check fails.
    Unhealthy,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        })
    }
}

/// One component's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// Its name.
    pub name: String,
    /// `healthy` or `unhealthy`.
    pub status: Status,
    /// Whether its failure makes the whole unhealthy.
    pub critical: bool,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
    /// Why it failed, as a stable code: all that `/ready` tells clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Why it failed, in the check's own words (a driver's message may
    /// name hosts, users or files): logged and kept here, never served.
    #[serde(skip)]
    pub detail: Option<String>,
}

/// Why a check failed, as `/ready` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// It did not answer within the checker's timeout.
    Timeout,
    /// It answered with an error.
    Failed,
    /// It panicked.
    Panicked,
}

/// Every component's result and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The verdict.
    pub status: Status,
    /// Each component, in registration order.
    pub components: Vec<Component>,
}

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

struct Check {
    name: String,
    critical: bool,
    run: CheckFn,
}

/// Runs the registered checks, concurrently, each under a timeout.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use portico_runtime::health::{HealthChecker, Status};
///
/// let checker = HealthChecker::new()
///     .register("db", true, || async { Ok::<(), String>(()) })
///     .register("cache", false, || async { Err("Connection refused") });
/// let report = checker.check().await;
/// assert_eq!(report.status, Status::Degraded);
/// assert_eq!(report.components[1].detail.as_deref(), Some("Connection refused"));
/// # });
/// ```
pub struct HealthChecker {
    checks: Vec<Check>,
    timeout: Duration,
    cache_for: Duration,
    cached: Mutex<Option<(Instant, Arc<Report>)>>,
}

impl std::fmt::Debug for HealthChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthChecker")
            .field(
                "checks",
                &self.checks.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("cache_for", &self.cache_for)
            .finish()
    }
}

impl Default for HealthChecker {
    fn default() -> Self {
        HealthChecker {
            checks: Vec::new(),
            timeout: Duration::from_secs(2),
            cache_for: Duration::from_secs(1),
            cached: Mutex::new(None),
        }
    }
}

impl HealthChecker {
    /// No checks; 2 s per check; reports reused for 1 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check. A failing critical check makes the whole unhealthy;
    /// a failing other one, degraded.
    pub fn register<F, Fut, E>(mut self, name: &str, critical: bool, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        let run: CheckFn = Arc::new(move || {
            let future = check();
            Box::pin(async move { future.await.map_err(|e| e.to_string()) })
        });
        self.checks.push(Check {
            name: name.to_owned(),
            critical,
            run,
        });
        self
    }

    /// Adds a critical check that a connection can be had from `pool` and
    /// answers a ping.
    pub fn register_pool<M: Manager>(self, name: &str, pool: Pool<M>) -> Self {
        let timeout = self.timeout;
        self.register(name, true, move || {
            let pool = pool.clone();
            async move { pool.ping(timeout).await }
        })
    }

    /// How long one check may take before it counts as failed (`timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a report is reused, so that a storm of probes does not hit
    /// the database each time. Zero disables the cache.
    pub fn cache_for(mut self, ttl: Duration) -> Self {
        self.cache_for = ttl;
        self
    }

    /// Runs every check now, concurrently.
    pub async fn check(&self) -> Report {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, check) in self.checks.iter().enumerate() {
            let run = Arc::clone(&check.run);
            let timeout = self.timeout;
            tasks.spawn(async move {
                let started = Instant::now();
                let outcome = tokio::time::timeout(timeout, run()).await;
                let failure = match outcome {
                    Ok(Ok(())) => None,
                    Ok(Err(error)) => Some((Reason::Failed, error)),
                    Err(_) => Some((Reason::Timeout, "timeout".to_owned())),
                };
                (index, started.elapsed(), failure)
            });
        }
        let mut results = vec![None; self.checks.len()];
        while let Some(joined) = tasks.join_next().await {
            if let Ok((index, latency, failure)) = joined {
                results[index] = Some((latency, failure));
            }
        }
        let components: Vec<Component> = self
            .checks
            .iter()
            .zip(results)
            .map(|(check, result)| {
                // A check task that panicked counts as failed.
                let (latency, failure) = result.unwrap_or((
                    Duration::ZERO,
                    Some((Reason::Panicked, "the check panicked".into())),
                ));
                if let Some((_, detail)) = &failure {
                    tracing::warn!(check = %check.name, detail = %crate::text::untrusted(detail), "health check failed");
                }
                let (reason, detail) = failure.unzip();
                Component {
                    name: check.name.clone(),
                    status: if reason.is_none() {
                        Status::Healthy
                    } else {
                        Status::Unhealthy
                    },
                    critical: check.critical,
                    latency_ms: (latency.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
                    reason,
                    detail,
                }
            })
            .collect();
        let failed = |critical: bool| {
            components
                .iter()
                .any(|c| c.critical == critical && c.status != Status::Healthy)
        };
        let status = if failed(true) {
            Status::Unhealthy
        } else if failed(false) {
            Status::Degraded
        } else {
            Status::Healthy
        };
        Report { status, components }
    }

    /// The latest report, run anew when older than the cache interval.
    pub async fn report(&self) -> Arc<Report> {
        let fresh = |cached: &Option<(Instant, Arc<Report>)>| {
            cached
                .as_ref()
                .filter(|(at, _)| at.elapsed() < self.cache_for)
                .map(|(_, r)| Arc::clone(r))
        };
        if let Some(report) = fresh(&self.cached.lock().unwrap_or_else(|p| p.into_inner())) {
            return report;
        }
        let report = Arc::new(self.check().await);
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), Arc::clone(&report)));
        report
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn liveness<'r>(_: &'r mut RequestContext<'_>) -> HandlerFuture<'r> {
    handler_future(async {
        no_store(ApiResponse::ok(serde_json::json!({"status": "alive"})).into_response())
    })
}

fn describe_liveness(op: &mut Operation<'_>) {
    op.doc("Liveness: the process answers", "");
    op.respond_envelope(serde_json::json!({
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "alive"}},
    }));
}

fn describe_readiness(op: &mut Operation<'_>) {
    op.doc(
        "Readiness: every critical check passes",
        "Readiness: every critical check passes. A 503 lists the checks in `error.fields`, and answers at once while the server shuts down.",
    );
    op.respond_envelope(serde_json::json!({
        "type": "object",
        "description": "the status and every check's result",
    }));
}

fn declare_readiness(needs: &mut Needs) {
    <Dep<HealthChecker> as Inject>::declare(needs);
    <Dep<Shutdown> as Inject>::declare(needs);
}

fn readiness<'r>(ctx: &'r mut RequestContext<'_>) -> HandlerFuture<'r> {
    let mut scope = ctx.scope();
    let checker = <Dep<HealthChecker> as Inject>::resolve(&mut scope);
    let shutdown = <Dep<Shutdown> as Inject>::resolve(&mut scope);
    handler_future(async move {
        // Fail first when shutting down, so load balancers stop routing here.
        if shutdown.has_begun() {
            return no_store(ApiError::unavailable("shutting down").into_response());
        }
        let report = checker.report().await;
        let response = match report.status {
            Status::Unhealthy => {
                let not_ready = ApiError::unavailable("not ready");
                match serde_json::to_value(&*report) {
                    Ok(details) => not_ready.with_fields(details),
                    Err(err) => {
                        tracing::error!(error = %err, "cannot serialise the readiness report");
                        not_ready
                    }
                }
                .into_response()
            }
            Status::Healthy | Status::Degraded => ApiResponse::ok(&*report).into_response(),
        };
        no_store(response)
    })
}

/// `GET /healthz` (liveness, touches nothing) and `GET /ready` (readiness,
/// the checker's report), both `Cache-Control: no-store`; mounted by
/// `App::health`.
pub fn routes() -> Vec<Route> {
    vec![
        Route::new(http::Method::GET, "/healthz", "healthz", liveness, |_| {})
            .with_describe(describe_liveness),
        Route::new(
            http::Method::GET,
            "/ready",
            "ready",
            readiness,
            declare_readiness,
        )
        .with_describe(describe_readiness),
    ]
}
