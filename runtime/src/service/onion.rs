//! The middleware onion: [`Middleware`], and [`Next`], which hands a
//! request to the layer after the current one, or to the stage after the
//! last layer.
//!
//! The first layer added is the outermost: a request flows in through the
//! layers in the order they were added, the response flows back out in
//! reverse. A layer may change the request, change the response, answer
//! by itself without calling `next` (short-circuit), and hand typed values
//! to handlers through the request's extensions (`Extension<T>`).

use crate::metrics::Exposition;
use crate::openapi::Operation;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{BoxFuture, Pipeline, handler_step, route_step};
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
/// #[derive(Debug)]
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

    /// Adds what this layer does to a route it covers (the headers it
    /// reads or writes, the errors it answers with) to the route's OpenAPI
    /// operation. Called once per route when the document is built; the
    /// default adds nothing.
    fn describe(&self, op: &mut Operation<'_>) {
        let _ = op;
    }

    /// Writes what this layer counts (its metric families) when the app's
    /// `/metrics` is scraped. Called once per scrape; the default writes
    /// nothing.
    fn collect(&self, out: &mut Exposition<'_>) -> std::fmt::Result {
        let _ = out;
        Ok(())
    }
}

/// `Middleware` made object-safe. The layer's `Arc` moves into its boxed
/// future beside the layer's own future (`Held`), so the box owns what it
/// needs and holds the request once.
pub(crate) trait Layer: Send + Sync {
    fn call_boxed(self: Arc<Self>, request: Request, next: Next) -> BoxFuture<'static>;

    fn describe(&self, op: &mut Operation<'_>);

    fn collect(&self, out: &mut Exposition<'_>) -> std::fmt::Result;
}

impl<M: Middleware> Layer for M {
    fn call_boxed(self: Arc<Self>, request: Request, next: Next) -> BoxFuture<'static> {
        // SAFETY: the reference points into the allocation `self` owns,
        // which `Held` keeps beside the future and releases only after the
        // future is dropped (fields drop in order); nothing else can reach
        // the future, so the borrow never outlives the layer. (An `async
        // move` block owning both would be safe too, but it keeps the
        // request and `next` twice — once as its captures, once in the
        // layer's future — and every request moves both copies.)
        let layer: &'static M = unsafe { &*Arc::as_ptr(&self) };
        Box::pin(Held {
            future: layer.call(request, next),
            _layer: self,
        })
    }

    fn describe(&self, op: &mut Operation<'_>) {
        Middleware::describe(self, op);
    }

    fn collect(&self, out: &mut Exposition<'_>) -> std::fmt::Result {
        Middleware::collect(self, out)
    }
}

pin_project_lite::pin_project! {
    /// A layer's future and the layer it borrows, kept alive by it.
    struct Held<F, M> {
        // Declared first: dropped before the layer it borrows.
        #[pin]
        future: F,
        _layer: Arc<M>,
    }
}

impl<F: Future, M> Future for Held<F, M> {
    type Output = F::Output;

    #[inline]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

/// A list of layers, outermost first.
pub(crate) type Stack = Box<[Arc<dyn Layer>]>;

impl std::fmt::Debug for dyn Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Layer")
    }
}

/// The stage a stack of layers leads to.
#[derive(Clone, Copy)]
enum Then {
    /// After the global layers: the route step.
    Route,
    /// After route `index`'s layers: its handler step.
    Handler { index: usize, params: Params },
}

/// The rest of the onion, handed to each layer: the layers after the
/// current one, then the stage they lead to.
pub struct Next {
    pipeline: Arc<Pipeline>,
    peer: Option<SocketAddr>,
    layer: usize,
    then: Then,
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
    /// The global layers, then the route step.
    pub(super) fn global(pipeline: Arc<Pipeline>, peer: Option<SocketAddr>) -> Self {
        Next {
            pipeline,
            peer,
            layer: 0,
            then: Then::Route,
        }
    }

    /// Route `index`'s layers, then its handler step.
    pub(super) fn route(
        pipeline: Arc<Pipeline>,
        peer: Option<SocketAddr>,
        index: usize,
        params: Params,
    ) -> Self {
        Next {
            pipeline,
            peer,
            layer: 0,
            then: Then::Handler { index, params },
        }
    }

    /// The address of the client's end of the connection, if the request
    /// came over a socket.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The template of the route the request matched (`/users/<id>`),
    /// for a layer that runs after routing (added with `wrap_prefix`);
    /// `None` before routing (a global layer).
    pub fn route_template(&self) -> Option<&'static str> {
        match self.then {
            Then::Route => None,
            Then::Handler { index, .. } => Some(self.pipeline.routes[index].route().path()),
        }
    }

    /// `GET /users/<id>`: the route's method and template, a span's name
    /// by the OpenTelemetry conventions; `None` before routing.
    pub(crate) fn route_name(&self) -> Option<&str> {
        match self.then {
            Then::Route => None,
            Then::Handler { index, .. } => Some(self.pipeline.routes[index].span_name()),
        }
    }

    /// The template of the route `request` goes to: known already after
    /// routing (a layer added with `wrap_prefix`), looked up in the router
    /// before it (a global layer: one lookup); `None` when no route takes
    /// the request (a 404 or 405 follows).
    pub fn route_for(&self, request: &Request) -> Option<&'static str> {
        match self.then {
            Then::Handler { index, .. } => Some(self.pipeline.routes[index].route().path()),
            Then::Route => self
                .pipeline
                .route_index(request)
                .map(|index| self.pipeline.routes[index].route().path()),
        }
    }

    /// What the server counts, for a layer that catches panics.
    pub(crate) fn stats(&self) -> Arc<crate::metrics::ServerStats> {
        Arc::clone(&self.pipeline.stats)
    }

    /// The limits and waits the app's body extractors apply.
    pub(crate) fn settings(&self) -> &crate::extract::Settings {
        &self.pipeline.settings
    }

    /// Passes the request to the next layer, or to the stage after the
    /// last one.
    ///
    /// Each step is its own boxed future, so a layer's future holds a
    /// pointer to the rest of the onion rather than all of it inline: no
    /// layer copies the others' state around.
    pub fn run(self, request: Request) -> impl Future<Output = Response> + Send + 'static {
        self.boxed(request)
    }

    pub(super) fn boxed(self, request: Request) -> BoxFuture<'static> {
        let Next {
            pipeline,
            peer,
            layer,
            then,
        } = self;
        let stack = match then {
            Then::Route => &pipeline.global,
            Then::Handler { index, .. } => &pipeline.routes[index].stack,
        };
        match stack.get(layer).map(Arc::clone) {
            Some(current) => current.call_boxed(
                request,
                Next {
                    pipeline,
                    peer,
                    layer: layer + 1,
                    then,
                },
            ),
            None => match then {
                Then::Route => Box::pin(Unfailing {
                    future: route_step::<_, false>(pipeline, request, peer, None),
                }),
                Then::Handler { index, params } => {
                    Box::pin(handler_step(pipeline, index, params, request, peer))
                }
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The route step's answer as the onion's `Response`: the `Result`
    /// it gives (what hyper asks of the pipeline's entry) holds no error.
    struct Unfailing<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Unfailing<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        self.project().future.poll(cx).map(|answer| match answer {
            Ok(response) => response,
        })
    }
}
