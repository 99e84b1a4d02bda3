//! The built app: one request in, one response out.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{ALLOW, CONTENT_LENGTH, HOST};
use http::{HeaderValue, Method, StatusCode};
use http_body::Body as _;

use super::Shared;
use crate::body::Body;
use crate::extract::RequestContext;
use crate::handler::{CatchUnwind, Route};
use crate::inject::{Container, RouteDeps};
use crate::middleware::{Next, Stack};
use crate::response::{IntoResponse, Rejection, Response};
use crate::router::{Lookup, Params, Router};
use crate::server::Shutdown;

/// A built, verified app, ready to answer requests. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Service {
    inner: Arc<Inner>,
}

/// A route with what was resolved for it when the app was built.
#[derive(Debug)]
pub(crate) struct RouteEntry {
    pub(crate) route: Route,
    pub(crate) deps: RouteDeps,
    /// The route's own middleware (after routing, before extraction).
    pub(crate) stack: Stack,
}

#[derive(Debug)]
pub(crate) struct Inner {
    router: Router<usize>,
    pub(crate) routes: Vec<RouteEntry>,
    /// Global middleware, outermost first (before routing).
    pub(crate) global: Stack,
    container: Container,
    shutdown: Shutdown,
    shared: Shared,
}

impl Service {
    pub(crate) fn new(
        router: Router<usize>,
        routes: Vec<RouteEntry>,
        global: Stack,
        container: Container,
        shutdown: Shutdown,
        shared: Shared,
    ) -> Self {
        Service {
            inner: Arc::new(Inner {
                router,
                routes,
                global,
                container,
                shutdown,
                shared,
            }),
        }
    }

    /// Begins (and tells of) graceful shutdown; the server begins it on
    /// SIGINT/SIGTERM.
    pub fn shutdown(&self) -> &Shutdown {
        &self.inner.shutdown
    }

    /// The routes, in registration order.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.inner.routes.iter().map(|entry| &entry.route)
    }

    /// The built dependencies.
    pub fn container(&self) -> &Container {
        &self.inner.container
    }

    /// Answers one request. Never fails: every problem is a response.
    pub async fn call(&self, request: http::Request<Body>) -> Response {
        respond(self, request, None, Entry::Client).await
    }

    /// Answers one request from the client at `peer`: through the global
    /// middleware, the router, the route's middleware, the extractors and
    /// the handler.
    pub async fn call_from(
        &self,
        request: http::Request<Body>,
        peer: Option<SocketAddr>,
    ) -> Response {
        respond(self, request, peer, Entry::Client).await
    }
}

/// A handle that keeps the app alive while a request is answered: the
/// server's per-request guard, or a borrowed [`Service`].
pub(crate) trait AppRef: Send {
    fn app(&self) -> &Arc<Inner>;
}

impl AppRef for Service {
    fn app(&self) -> &Arc<Inner> {
        &self.inner
    }
}

impl AppRef for Arc<Inner> {
    fn app(&self) -> &Arc<Inner> {
        self
    }
}

impl<T: AppRef + Sync> AppRef for &T {
    fn app(&self) -> &Arc<Inner> {
        T::app(self)
    }
}

/// Where a request enters [`respond`].
#[derive(Clone, Copy)]
pub(crate) enum Entry {
    /// Read off a connection: an HTTP/1.1 request is checked for `Host`.
    Wire,
    /// Handed over in process (test client, tower).
    Client,
    /// Past the global middleware: straight to the router.
    Router,
    /// Past the route's middleware: straight to its handler.
    Handler { index: usize, params: Params },
}

/// Answers one request: the global middleware, the router, the route's
/// middleware, the extractors and the handler.
///
/// The common path — no middleware — is inline in this one future, so a
/// request's future is a single state machine around the handler's:
/// every level of `async fn` nesting would move the request, the context
/// and the response through one more frame (measured: half of what the
/// framework added to a minimal request was such copies). For the same
/// reason it is an `async move` block rather than an `async fn`, whose
/// arguments are moved once more into the body's locals.
#[allow(clippy::manual_async_fn)] // on purpose: see above
pub(crate) fn respond(
    app: impl AppRef,
    mut request: http::Request<Body>,
    peer: Option<SocketAddr>,
    entry: Entry,
) -> impl Future<Output = Response> + Send {
    async move {
        let this = app.app();
        let (index, params, head_via_get) = match entry {
            Entry::Handler { index, params } => (index, params, false),
            Entry::Wire | Entry::Client | Entry::Router => {
                if matches!(entry, Entry::Wire) && request.version() == http::Version::HTTP_11 {
                    // RFC 9112 §3.2: an HTTP/1.1 request without exactly one `Host` is a 400.
                    let hosts = request.headers().get_all(HOST).iter().count();
                    if hosts != 1 {
                        return Rejection::HostHeader { found: hosts }.into_response();
                    }
                }
                if !matches!(entry, Entry::Router) && !this.global.is_empty() {
                    return Next::global(Arc::clone(this), peer).run(request).await;
                }
                match this.router.lookup(request.method(), request.uri().path()) {
                    Lookup::Found {
                        value,
                        params,
                        head_via_get,
                    } => (*value, params, head_via_get),
                    Lookup::MethodNotAllowed { allow } if request.method() == Method::OPTIONS => {
                        let mut response = StatusCode::NO_CONTENT.into_response();
                        response.headers_mut().insert(ALLOW, allow.clone());
                        return response;
                    }
                    Lookup::MethodNotAllowed { allow } => {
                        return Rejection::MethodNotAllowed {
                            method: request.method().clone(),
                            allow: allow.clone(),
                        }
                        .into_response();
                    }
                    Lookup::NotFound => {
                        return Rejection::NoRoute {
                            path: request.uri().path().to_owned(),
                            method: request.method().clone(),
                        }
                        .into_response();
                    }
                }
            }
        };
        let route = &this.routes[index];
        let mut response = if route.stack.is_empty() || matches!(entry, Entry::Handler { .. }) {
            let mut ctx =
                RequestContext::new(&mut request, params, peer, &this.shared, &route.deps);
            let outcome = if route.prepare(&mut ctx) {
                CatchUnwind((route.route.handler())(&mut ctx)).await
            } else {
                Err(())
            };
            route.finish(outcome)
        } else {
            Next::route(Arc::clone(this), peer, index, params)
                .run(request)
                .await
        };
        if head_via_get {
            strip_body(&mut response);
        }
        response
    }
}

impl RouteEntry {
    /// Makes the request's request-scoped values before the handler runs;
    /// `false` if one of those factories (user code) panicked.
    #[inline]
    fn prepare(&self, ctx: &mut RequestContext<'_>) -> bool {
        self.deps.plan.is_empty()
            || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ctx.make_request_values();
            }))
            .is_ok()
    }

    /// The handler's response, or a 500 if it (or a request-scoped
    /// factory) panicked.
    #[inline]
    fn finish(&self, outcome: Result<Response, ()>) -> Response {
        match outcome {
            Ok(response) => response,
            Err(()) => self.panicked(),
        }
    }

    #[cold]
    #[inline(never)]
    fn panicked(&self) -> Response {
        tracing::error!(route = %self.route, "handler panicked");
        Rejection::Panic.into_response()
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
