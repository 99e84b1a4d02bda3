//! The built app: one request in, one response out.

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{ALLOW, CONTENT_LENGTH};
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
        self.call_from(request, None).await
    }

    /// Answers one request from the client at `peer`: through the global
    /// middleware, the router, the route's middleware, the extractors and
    /// the handler.
    pub async fn call_from(
        &self,
        request: http::Request<Body>,
        peer: Option<SocketAddr>,
    ) -> Response {
        if self.inner.global.is_empty() {
            Inner::route(&self.inner, request, peer).await
        } else {
            Next::global(Arc::clone(&self.inner), peer)
                .run(request)
                .await
        }
    }
}

impl Inner {
    /// The innermost global step: routing.
    pub(crate) async fn route(
        this: &Arc<Inner>,
        request: http::Request<Body>,
        peer: Option<SocketAddr>,
    ) -> Response {
        let lookup = this.router.lookup(request.method(), request.uri().path());
        match lookup {
            Lookup::Found {
                value,
                params,
                head_via_get,
            } => {
                let entry = &this.routes[*value];
                let response = if entry.stack.is_empty() {
                    this.invoke(*value, params, request, peer).await
                } else {
                    Next::route(Arc::clone(this), peer, *value, params)
                        .run(request)
                        .await
                };
                if head_via_get {
                    strip_body(response)
                } else {
                    response
                }
            }
            Lookup::MethodNotAllowed { allow } if request.method() == Method::OPTIONS => {
                let mut response = StatusCode::NO_CONTENT.into_response();
                response.headers_mut().insert(ALLOW, allow.clone());
                response
            }
            Lookup::MethodNotAllowed { allow } => Rejection::MethodNotAllowed {
                method: request.method().clone(),
                allow: allow.clone(),
            }
            .into_response(),
            Lookup::NotFound => Rejection::NoRoute {
                path: request.uri().path().to_owned(),
                method: request.method().clone(),
            }
            .into_response(),
        }
    }

    /// The innermost route step: extractors and handler.
    pub(crate) async fn invoke(
        &self,
        index: usize,
        params: Params,
        request: http::Request<Body>,
        peer: Option<SocketAddr>,
    ) -> Response {
        let RouteEntry { route, deps, .. } = &self.routes[index];
        let (parts, body) = request.into_parts();
        let mut ctx = RequestContext::new(parts, body, params, peer, &self.shared, deps);
        // Request-scoped factories are user code: a panic there is a 500
        // like a panic in the handler.
        let made = deps.plan.is_empty()
            || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ctx.make_request_values();
            }))
            .is_ok();
        let outcome = if made {
            CatchUnwind((route.handler())(&mut ctx)).await
        } else {
            Err(())
        };
        match outcome {
            Ok(response) => response,
            Err(()) => {
                tracing::error!(route = %route, "handler panicked");
                Rejection::Panic.into_response()
            }
        }
    }
}

/// A HEAD answer: the GET response's head, with the length its body had.
fn strip_body(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    if let Some(len) = body.size_hint().exact() {
        parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    Response::from_parts(parts, Body::empty())
}
