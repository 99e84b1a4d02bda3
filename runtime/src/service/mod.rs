//! The request pipeline of a built app: [`Service`], the middleware onion
//! ([`Middleware`], [`Next`]), and the two steps at its core, routing and
//! the handler.
//!
//! A request flows one way through stages built at `App::build`:
//!
//! ```text
//! Service::call ─┬─ global layers (Next) ─┐
//!                └────────────────────────┴─ route step ─┬─ route layers (Next) ─ handler step
//!                                                         └───────────────────────── handler step (inline)
//! ```
//!
//! The entry (`answer`, `Service::call`) also answers what the server's
//! wire checks refused, marks every response leaving the pipeline
//! `X-Content-Type-Options: nosniff`, and, when the app keeps metrics,
//! counts the request there, by the route it went to (`measure`). Each
//! stage hands the request to the stage after it; nothing calls back into
//! the entry. The common path, an app without middleware, is one flat
//! future: the route step runs the handler inline rather than
//! awaiting another stage's future, because every level of future nesting
//! moves the request, its context and the response through one more frame
//! (measured with callgrind: such copies were half of what the framework
//! added to a minimal request).

mod measure;
mod onion;

pub(crate) use measure::HttpMetrics;

pub(crate) use onion::{Layer, Stack};
pub use onion::{Middleware, Next, Request};

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::header::{ALLOW, CONTENT_LENGTH};
use http::{HeaderValue, Method, StatusCode};
use http_body::Body as _;

use crate::body::Body;
use crate::caching::{self, ResponseCache, ResponseKey};
use crate::extract::{RequestContext, Settings};
use crate::handler::{Route, poll_catching};
use crate::inject::{Container, RouteDeps};
use crate::metrics::ServerStats;
use crate::response::{IntoResponse, Rejection, Response};
use crate::router::{Lookup, Params, Router};
use crate::shutdown::Shutdown;

/// A built, verified app, ready to answer requests. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Service {
    pipeline: Arc<Pipeline>,
}

/// Everything a request may pass through, fixed when the app was built.
#[derive(Debug)]
pub(crate) struct Pipeline {
    /// Global middleware, outermost first (before routing).
    pub(crate) global: Stack,
    pub(crate) router: Router<usize>,
    pub(crate) routes: Box<[RouteEntry]>,
    pub(crate) container: Container,
    pub(crate) shutdown: Shutdown,
    pub(crate) settings: Settings,
    pub(crate) responses: ResponseCache,
    /// The HTTP server metrics, when the app serves them.
    pub(crate) metrics: Option<Arc<HttpMetrics>>,
    /// What the server counts (connections, panics).
    pub(crate) stats: Arc<ServerStats>,
}

/// A route with what was resolved for it when the app was built.
#[derive(Debug)]
pub(crate) struct RouteEntry {
    route: Route,
    deps: RouteDeps,
    /// The route's own middleware (after routing, before extraction).
    stack: Stack,
    /// Where a panic is counted.
    stats: Arc<ServerStats>,
    /// `GET /users/<id>`, the request span's name.
    span_name: Box<str>,
}

/// The handler step of `$entry` on `$ctx`, awaited: request-scoped
/// values, extractors and handler, a panic in any of them answered as a
/// 500. The handler's future is made where it is polled, in the awaiting
/// future (which borrows the context), and its response is that future's
/// own: an `async fn` around these lines would copy the response once
/// more on its way out (measured: two copies, ~60 instructions per
/// request).
macro_rules! handled {
    ($entry:expr, $ctx:expr) => {{
        let entry: &RouteEntry = $entry;
        let ctx: &mut RequestContext<'_> = $ctx;
        if entry.prepare(ctx) {
            let mut running = std::pin::pin!(entry.route.handler().call(ctx));
            match std::future::poll_fn(|cx| poll_catching(running.as_mut(), cx)).await {
                Ok(response) => response,
                Err(()) => entry.panicked(),
            }
        } else {
            entry.panicked()
        }
    }};
}

impl RouteEntry {
    pub(crate) fn new(
        route: Route,
        deps: RouteDeps,
        stack: Stack,
        stats: Arc<ServerStats>,
    ) -> Self {
        RouteEntry {
            span_name: format!("{} {}", route.method(), route.path()).into(),
            route,
            deps,
            stack,
            stats,
        }
    }

    pub(crate) fn span_name(&self) -> &str {
        &self.span_name
    }

    pub(crate) fn route(&self) -> &Route {
        &self.route
    }

    /// Makes the request's request-scoped values before the handler runs;
    /// `false` if one of those factories (user code) panicked. Most
    /// routes have none: that check is inlined, the making is not.
    #[inline(always)]
    fn prepare(&self, ctx: &mut RequestContext<'_>) -> bool {
        self.deps.plan.is_empty() || Self::make_request_values(ctx)
    }

    #[inline(never)]
    fn make_request_values(ctx: &mut RequestContext<'_>) -> bool {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ctx.make_request_values();
        }))
        .is_ok()
    }

    #[cold]
    #[inline(never)]
    fn panicked(&self) -> Response {
        ServerStats::count(&self.stats.panics);
        tracing::error!(route = %self.route, "handler panicked");
        Rejection::Panic.into_response()
    }
}

impl Service {
    pub(crate) fn new(pipeline: Pipeline) -> Self {
        Service {
            pipeline: Arc::new(pipeline),
        }
    }

    /// What the server counts, for its metrics.
    pub(crate) fn stats(&self) -> &ServerStats {
        &self.pipeline.stats
    }

    /// Begins (and tells of) graceful shutdown; the server begins it on
    /// SIGINT/SIGTERM.
    pub fn shutdown(&self) -> &Shutdown {
        &self.pipeline.shutdown
    }

    /// The routes, in registration order.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.pipeline.routes.iter().map(|entry| &entry.route)
    }

    /// The built dependencies.
    pub fn container(&self) -> &Container {
        &self.pipeline.container
    }

    /// Answers one request. Never fails: every problem is a response.
    pub async fn call(&self, request: http::Request<Body>) -> Response {
        let Ok(response) = route_step::<_, true>(self, request, None, None).await;
        response
    }

    /// Answers one request from the client at `peer`: through the global
    /// middleware, the router, the route's middleware, the extractors and
    /// the handler.
    pub async fn call_from(
        &self,
        request: http::Request<Body>,
        peer: Option<SocketAddr>,
    ) -> Response {
        let Ok(response) = route_step::<_, true>(self, request, peer, None).await;
        response
    }
}

/// What keeps the pipeline alive while a request is answered: a
/// [`Service`], a borrowed one, or the server's per-request guard (which
/// must live exactly as long as the answer, to count it).
pub(crate) trait Holder: Send {
    fn pipeline(&self) -> &Arc<Pipeline>;
}

impl Holder for Service {
    fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }
}

impl Holder for Arc<Pipeline> {
    fn pipeline(&self) -> &Arc<Pipeline> {
        self
    }
}

impl<T: Holder + Sync> Holder for &T {
    fn pipeline(&self) -> &Arc<Pipeline> {
        T::pipeline(self)
    }
}

type BoxFuture<'a> = Pin<Box<dyn Future<Output = Response> + Send + 'a>>;

/// Answers one request as it comes in: one the wire refused (`refused`)
/// at once, others through the global middleware (when the app has some)
/// and the route step; as the `Result` hyper asks a service for.
#[inline(always)]
pub(crate) fn answer<H: Holder>(
    holder: H,
    request: http::Request<Body>,
    peer: Option<SocketAddr>,
    refused: Option<Rejection>,
) -> impl Future<Output = Result<Response, Infallible>> + Send {
    route_step::<H, true>(holder, request, peer, refused)
}

/// What every response carries: browsers must not guess a content type
/// other than the one sent (an error body echoing input is not HTML); and
/// unless the route declared a caching policy (or a layer or handler set
/// one), `Cache-Control: no-store`. Without it, RFC 9111 §4.2.2 lets any
/// cache on the way store a 200 or 404 and serve it to anyone for a
/// lifetime of its choosing; an API answer usually belongs to one caller.
/// `no-store` rather than `private, no-cache`: a browser on a shared
/// machine keeps nothing either, and a route that wants revalidation
/// declares `cache(no_cache)` and gets an ETag with it.
#[inline]
fn secure(response: &mut Response) {
    const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
    const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
    let headers = response.headers_mut();
    headers.insert(http::header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    // `or_insert` rather than matching the entry: the match copied the
    // entry (40 bytes) twice on the way to inserting.
    headers
        .entry(http::header::CACHE_CONTROL)
        .or_insert(NO_STORE);
}

/// The route step: finds the route (answering 404, 405 and OPTIONS
/// itself), then runs the route's middleware or, when it has none, its
/// handler step inline.
///
/// `ENTRY` is true where the request has just come in ([`answer`]): the
/// wire's refusal and the global layers still lie before the route step,
/// and the response leaves the pipeline here. After the global layers,
/// the onion's end enters with `ENTRY` false. One function for both keeps
/// the common path one flat future (see the module docs). Its answer is
/// the `Result` hyper asks a service for, never an error, made here
/// rather than by a wrapper mapping every poll.
// An `async move` block rather than an `async fn`, whose arguments would
// be moved once more into the body's locals.
#[allow(clippy::manual_async_fn)]
fn route_step<H: Holder, const ENTRY: bool>(
    holder: H,
    mut request: http::Request<Body>,
    peer: Option<SocketAddr>,
    refused: Option<Rejection>,
) -> impl Future<Output = Result<Response, Infallible>> + Send {
    async move {
        let pipeline = holder.pipeline();
        // Counted from here, when the app keeps metrics; by the route the
        // request went to (`None`: none took it).
        let watch = match &pipeline.metrics {
            Some(metrics) if ENTRY => Some(metrics.start(&request)),
            _ => None,
        };
        // Every way out of the pipeline passes one point below, where the
        // response is marked in place (rather than passed through a
        // closure and back, a copy each way); the route the request went
        // to, for the metrics, is set beside it (a tuple with it would be
        // one more copy of the response).
        let mut route = None;
        let mut response = 'answered: {
            if ENTRY {
                if let Some(refused) = refused {
                    break 'answered refused.into_response();
                }
                if !pipeline.global.is_empty() {
                    // The route a global layer may answer for (a 429) is
                    // looked up only to label the metrics.
                    route = pipeline
                        .metrics
                        .as_ref()
                        .and_then(|_| pipeline.route_index(&request));
                    let next = Next::global(Arc::clone(pipeline), peer);
                    break 'answered next.boxed(request).await;
                }
            }
            // The route's parameters stay here, where the handler step
            // borrows them, rather than moving out with the lookup's answer.
            let mut params = Params::default();
            let (index, head_via_get) =
                match pipeline
                    .router
                    .lookup(request.method(), request.uri().path(), &mut params)
                {
                    Lookup::Found {
                        value,
                        head_via_get,
                    } => (*value, head_via_get),
                    Lookup::MethodNotAllowed { allow } => {
                        break 'answered unrouted_answer(&request, Some(allow));
                    }
                    Lookup::NotFound => break 'answered unrouted_answer(&request, None),
                };
            let entry = &pipeline.routes[index];
            if !ENTRY {
                // Behind global layers, one of which may have opened the
                // request's span (`RequestId`): it learns the route here.
                let span = tracing::Span::current();
                let route = entry.route.path();
                span.record("route", tracing::field::display(route));
                span.record("http.route", tracing::field::display(route));
                span.record("otel.name", tracing::field::display(entry.span_name()));
            }
            let mut response = if let Some(policy) = entry.route.cache_policy() {
                // The route's layers run for every request (a layer that
                // authenticates is never skipped); the answer kept server-side
                // stands in for the handler step alone.
                let if_none_match = caching::if_none_match(request.headers());
                let response = if entry.stack.is_empty() {
                    cached_handler_step(pipeline, index, *policy, request, params, peer).await
                } else {
                    Next::route(Arc::clone(pipeline), peer, index, params)
                        .run(request)
                        .await
                };
                caching::conditional(if_none_match.as_ref(), response)
            } else if entry.stack.is_empty() {
                // The handler step, inline (see the module docs).
                let mut ctx = RequestContext::new(
                    &mut request,
                    &params,
                    peer,
                    &pipeline.settings,
                    &entry.deps,
                );
                handled!(entry, &mut ctx)
            } else {
                Next::route(Arc::clone(pipeline), peer, index, params)
                    .run(request)
                    .await
            };
            if head_via_get {
                strip_body(&mut response);
            }
            route = Some(index);
            response
        };
        if ENTRY {
            secure(&mut response);
            if let Some(watch) = watch {
                watch.finish(route, &response);
            }
        }
        Ok(response)
    }
}

/// The handler step of a route that declared a caching policy: the
/// answer kept server-side when there is one, else the handler's, with the
/// policy's headers and `ETag` (kept with it). Boxed, so that the common
/// path's future does not grow by it.
fn cached_handler_step(
    pipeline: &Arc<Pipeline>,
    index: usize,
    policy: crate::handler::CachePolicy,
    mut request: http::Request<Body>,
    params: Params,
    peer: Option<SocketAddr>,
) -> BoxFuture<'_> {
    Box::pin(async move {
        let entry = &pipeline.routes[index];
        let key = (policy.server_ttl > 0)
            .then(|| ResponseKey::new(entry.route.path(), &request, policy.vary_headers));
        let run = async {
            let mut ctx =
                RequestContext::new(&mut request, &params, peer, &pipeline.settings, &entry.deps);
            caching::describe(&policy, handled!(entry, &mut ctx))
        };
        match key {
            Some(key) => {
                let ttl = std::time::Duration::from_secs(policy.server_ttl.into());
                pipeline.responses.serve(key, ttl, run).await
            }
            None => run.await,
        }
    })
}

/// The handler step after a route's middleware.
#[allow(clippy::manual_async_fn)]
fn handler_step(
    pipeline: Arc<Pipeline>,
    index: usize,
    params: Params,
    mut request: http::Request<Body>,
    peer: Option<SocketAddr>,
) -> impl Future<Output = Response> + Send + 'static {
    async move {
        let entry = &pipeline.routes[index];
        if let Some(policy) = entry.route.cache_policy() {
            return cached_handler_step(&pipeline, index, *policy, request, params, peer).await;
        }
        let mut ctx =
            RequestContext::new(&mut request, &params, peer, &pipeline.settings, &entry.deps);
        handled!(entry, &mut ctx)
    }
}

impl Pipeline {
    /// The index of the route `request` goes to, if one takes it.
    pub(super) fn route_index(&self, request: &http::Request<Body>) -> Option<usize> {
        let mut params = Params::default();
        match self
            .router
            .lookup(request.method(), request.uri().path(), &mut params)
        {
            Lookup::Found { value, .. } => Some(*value),
            _ => None,
        }
    }
}

/// The framework's own answer to a request no route takes: for a path
/// that has other methods (`allow`), 204 with them to OPTIONS, else 405;
/// 404 for a path no route has. Out of line: the routed path's future
/// should not hold room for a response made here.
#[cold]
#[inline(never)]
fn unrouted_answer(request: &http::Request<Body>, allow: Option<&HeaderValue>) -> Response {
    match allow {
        Some(allow) if request.method() == Method::OPTIONS => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            response.headers_mut().insert(ALLOW, allow.clone());
            response
        }
        Some(allow) => Rejection::MethodNotAllowed {
            method: request.method().clone(),
            allow: allow.clone(),
        }
        .into_response(),
        None => Rejection::NoRoute {
            path: request.uri().path().to_owned(),
            method: request.method().clone(),
        }
        .into_response(),
    }
}

/// A HEAD answer: the GET response's head, with the length its body had.
fn strip_body(response: &mut Response) {
    if let Some(len) = response.body().size_hint().exact() {
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    *response.body_mut() = Body::empty();
}
