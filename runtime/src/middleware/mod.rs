//! Middleware: the [`Middleware`] trait and [`Next`] (the onion itself
//! lives in the request pipeline), [`from_fn`], the built-in layers, and
//! interop with tower.
//!
//! Layers go around the router (`App::wrap`, global) or around the
//! handlers of a path prefix (`App::wrap_prefix`, after routing). The
//! first layer added is the outermost: a request flows in through the
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

use crate::response::Response;
pub use crate::service::{Middleware, Next, Request};

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

impl<F> std::fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FromFn")
    }
}

impl<F, Fut> Middleware for FromFn<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn call(&self, request: Request, next: Next) -> impl Future<Output = Response> + Send {
        (self.0)(request, next)
    }
}
