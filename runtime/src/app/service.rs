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
use crate::response::{IntoResponse, Rejection, Response};
use crate::router::{Lookup, Router};
use crate::server::Shutdown;

/// A built, verified app, ready to answer requests. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Service {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    router: Router<usize>,
    routes: Vec<(Route, RouteDeps)>,
    container: Container,
    shutdown: Shutdown,
    shared: Shared,
}

impl Service {
    pub(crate) fn new(
        router: Router<usize>,
        routes: Vec<(Route, RouteDeps)>,
        container: Container,
        shutdown: Shutdown,
        shared: Shared,
    ) -> Self {
        Service {
            inner: Arc::new(Inner {
                router,
                routes,
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
        self.inner.routes.iter().map(|(route, _)| route)
    }

    /// The built dependencies.
    pub fn container(&self) -> &Container {
        &self.inner.container
    }

    /// Answers one request. Never fails: every problem is a response.
    pub async fn call(&self, request: http::Request<Body>) -> Response {
        self.call_from(request, None).await
    }

    /// Answers one request from the client at `peer`.
    pub async fn call_from(
        &self,
        request: http::Request<Body>,
        peer: Option<SocketAddr>,
    ) -> Response {
        let inner = &*self.inner;
        let (parts, body) = request.into_parts();
        let lookup = inner.router.lookup(&parts.method, parts.uri.path());
        match lookup {
            Lookup::Found {
                value,
                params,
                head_via_get,
            } => {
                let (route, deps) = &inner.routes[*value];
                let mut ctx = RequestContext::new(parts, body, params, peer, &inner.shared, deps);
                // Request-scoped factories are user code: a panic there is
                // a 500 like a panic in the handler.
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
                let response = match outcome {
                    Ok(response) => response,
                    Err(()) => {
                        tracing::error!(route = %route, "handler panicked");
                        Rejection::Panic.into_response()
                    }
                };
                if head_via_get {
                    strip_body(response)
                } else {
                    response
                }
            }
            Lookup::MethodNotAllowed { allow } if parts.method == Method::OPTIONS => {
                let mut response = StatusCode::NO_CONTENT.into_response();
                response.headers_mut().insert(ALLOW, allow.clone());
                response
            }
            Lookup::MethodNotAllowed { allow } => Rejection::MethodNotAllowed {
                method: parts.method,
                allow: allow.clone(),
            }
            .into_response(),
            Lookup::NotFound => Rejection::NoRoute {
                path: parts.uri.path().to_owned(),
                method: parts.method,
            }
            .into_response(),
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
