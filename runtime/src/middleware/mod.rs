//! The middleware onion: layers around the router (global) and around a
//! route's handler (per route or path prefix).
//!
//! The first layer added is the outermost: a request flows in through the
//! layers in the order they were added, the response flows back out in
//! reverse. A layer may change the request, change the response, answer
//! by itself without calling `next` (short-circuit), and hand typed values
//! to handlers through the request's extensions (`Extension<T>`).

mod builtin;
mod cors;
mod tower;

pub use builtin::{AccessLog, BodyLimit, CatchPanic, RequestId, Timeout, XRequestId};
pub use cors::Cors;
pub use tower::{NextService, TowerLayer};

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use crate::app::service::{Entry, Inner, respond};
use crate::body::Body;
use crate::response::Response;
use crate::router::Params;

/// The request type middleware sees.
pub type Request = http::Request<Body>;

/// One layer of the onion.
///
/// ```
/// use portico_runtime::middleware::{Middleware, Next, Request};
/// use portico_runtime::response::Response;
///
/// /// Adds `X-Served-By` to every response.
/// struct ServedBy(&'static str);
///
/// impl Middleware for ServedBy {
///     async fn call(&self, request: Request, next: Next) -> Response {
///         let mut response = next.run(request).await;
///         response.headers_mut().insert("x-served-by", self.0.parse().unwrap());
///         response
///     }
/// }
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles `request`, usually by calling `next.run(request)` and
    /// adjusting what comes back.
    fn call(&self, request: Request, next: Next) -> impl Future<Output = Response> + Send;
}

type BoxFuture<'a> = Pin<Box<dyn Future<Output = Response> + Send + 'a>>;

/// `Middleware` made object-safe. The layer's `Arc` moves into its boxed
/// future, so the future owns what it needs and stays small.
pub(crate) trait Layer: Send + Sync {
    fn call_boxed(self: Arc<Self>, request: Request, next: Next) -> BoxFuture<'static>;
}

impl<M: Middleware> Layer for M {
    fn call_boxed(self: Arc<Self>, request: Request, next: Next) -> BoxFuture<'static> {
        Box::pin(async move { self.call(request, next).await })
    }
}

/// A list of layers, outermost first.
pub(crate) type Stack = Box<[Arc<dyn Layer>]>;

impl std::fmt::Debug for dyn Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Layer")
    }
}

#[derive(Clone, Copy)]
enum Stage {
    Global,
    Route { index: usize, params: Params },
}

/// The rest of the onion, handed to each layer.
pub struct Next {
    app: Arc<Inner>,
    peer: Option<SocketAddr>,
    stage: Stage,
    layer: usize,
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next")
            .field("peer", &self.peer)
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl Next {
    pub(crate) fn global(app: Arc<Inner>, peer: Option<SocketAddr>) -> Self {
        Next {
            app,
            peer,
            stage: Stage::Global,
            layer: 0,
        }
    }

    pub(crate) fn route(
        app: Arc<Inner>,
        peer: Option<SocketAddr>,
        index: usize,
        params: Params,
    ) -> Self {
        Next {
            app,
            peer,
            stage: Stage::Route { index, params },
            layer: 0,
        }
    }

    /// The address of the client's end of the connection, if the request
    /// came over a socket.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Passes the request to the next layer (or the router, or the handler).
    ///
    /// Each step is its own boxed future, so a layer's future holds a
    /// pointer to the rest of the onion rather than all of it inline: no
    /// layer copies the others' state around.
    pub fn run(self, request: Request) -> impl Future<Output = Response> + Send + 'static {
        let Next {
            app,
            peer,
            stage,
            layer,
        } = self;
        let stack = match stage {
            Stage::Global => &app.global,
            Stage::Route { index, .. } => &app.routes[index].stack,
        };
        let future: BoxFuture<'static> = match stack.get(layer).map(Arc::clone) {
            Some(current) => current.call_boxed(
                request,
                Next {
                    app,
                    peer,
                    stage,
                    layer: layer + 1,
                },
            ),
            None => {
                let entry = match stage {
                    Stage::Global => Entry::Router,
                    Stage::Route { index, params } => Entry::Handler { index, params },
                };
                Box::pin(respond(app, request, peer, entry))
            }
        };
        future
    }
}

/// A layer made from an async closure: `from_fn(|request, next| async move { … })`.
///
/// ```
/// use portico_runtime::middleware::{from_fn, Next, Request};
///
/// let timing = from_fn(|request: Request, next: Next| async move {
///     let started = std::time::Instant::now();
///     let response = next.run(request).await;
///     tracing::info!(elapsed = ?started.elapsed());
///     response
/// });
/// # let _ = timing;
/// ```
pub fn from_fn<F, Fut>(f: F) -> FromFn<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    FromFn(f)
}

/// See [`from_fn`].
#[derive(Clone)]
pub struct FromFn<F>(F);

impl<F, Fut> Middleware for FromFn<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn call(&self, request: Request, next: Next) -> impl Future<Output = Response> + Send {
        (self.0)(request, next)
    }
}
