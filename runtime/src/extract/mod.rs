//! Extractors: how handler arguments are made from a request.
//!
//! A handler argument named like a `<param>` of its route is parsed with
//! [`FromParam`]; every other argument is an extractor, a type that
//! implements [`FromRequest`]. Portico ships [`Json`], [`Query`],
//! [`Dep`], [`Page`], [`Cursor`], `HeaderMap`, `Method`, `Uri`, `Bytes`,
//! `String` and the whole `http::Request<Body>`; users add their own by
//! implementing the trait.

mod body;
mod cursor;
mod paging;
mod param;
mod parts;
mod query;
mod shape;

pub use crate::inject::Dep;
pub use body::Json;
pub use cursor::{Cursor, Position};
pub use paging::{Page, Paging};
pub use param::FromParam;
pub use parts::Extension;
pub use query::Query;

use std::future::Future;

use http::{Extensions, HeaderMap, Method, Uri};

use std::any::Any;
use std::mem::ManuallyDrop;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::body::Body;
use crate::inject::{Inject, Needs, RequestHead, RouteDeps, Scope};
use crate::openapi::{Describe, Operation};
use crate::response::{IntoResponse, Rejection};
use crate::router::Params;

/// What every request of an app can see of its configuration.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The largest body a body extractor reads, in bytes.
    pub(crate) body_limit: usize,
    /// How long a body extractor waits for the next piece of the body.
    pub(crate) body_idle_timeout: std::time::Duration,
    /// How long a body extractor may take to read the whole body.
    pub(crate) body_timeout: std::time::Duration,
    /// The bounds of `Page` and `Cursor`, and the key that signs cursors.
    pub(crate) paging: Paging,
}

/// A smaller body limit for the requests under a `BodyLimit` layer, which
/// it leaves in the request's extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerBodyLimit(pub(crate) usize);

impl Settings {
    /// Reads a request's body whole, under the limits a body extractor
    /// would apply (for a layer that must see the body before the
    /// handler, which then reads the bytes it puts back).
    pub(crate) async fn read_request_body(
        &self,
        request: &mut http::Request<Body>,
    ) -> Result<bytes::Bytes, Rejection> {
        let limit = match request.extensions().get::<LayerBodyLimit>() {
            Some(layer) => layer.0.min(self.body_limit),
            None => self.body_limit,
        };
        let taken = std::mem::take(request.body_mut());
        body::read_limited(taken, limit, self.body_idle_timeout, self.body_timeout).await
    }
}

/// A request on its way to a handler: its head, its body (until an
/// extractor takes it), the route's path parameters and the app's state.
#[derive(Debug)]
pub struct RequestContext<'a> {
    /// The request as it came, borrowed from the future that answers it:
    /// neither taken apart nor copied.
    request: &'a mut http::Request<Body>,
    body_taken: bool,
    params: &'a Params,
    peer: Option<SocketAddr>,
    settings: &'a Settings,
    deps: &'a RouteDeps,
    /// Made only for a route with request-scoped dependencies, and
    /// dropped by `RequestContext`'s own `Drop`: a context without them is
    /// dropped with one check, inlined, where the compiler's drop glue
    /// would be a call.
    request_values: ManuallyDrop<Option<RequestValues>>,
    dep_cursor: usize,
}

/// A request's request-scoped values, in the route's plan order.
type RequestValues = Box<[Arc<dyn Any + Send + Sync>]>;

impl Drop for RequestContext<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.request_values.is_some() {
            self.drop_request_values();
        }
    }
}

impl<'a> RequestContext<'a> {
    #[inline(never)]
    fn drop_request_values(&mut self) {
        drop(self.request_values.take());
    }

    pub(crate) fn new(
        request: &'a mut http::Request<Body>,
        params: &'a Params,
        peer: Option<SocketAddr>,
        settings: &'a Settings,
        deps: &'a RouteDeps,
    ) -> Self {
        RequestContext {
            request,
            body_taken: false,
            params,
            peer,
            settings,
            deps,
            request_values: ManuallyDrop::new(None),
            dep_cursor: 0,
        }
    }

    /// Makes this request's request-scoped values (before any extractor runs).
    pub(crate) fn make_request_values(&mut self) {
        let head = RequestHead::new(&*self.request, self.peer);
        *self.request_values = Some(self.deps.run_plan(&head).into_boxed_slice());
    }

    /// The route's dependencies, in declaration order.
    #[inline]
    pub(crate) fn scope(&mut self) -> Scope<'_> {
        let values = self.request_values.as_deref().unwrap_or_default();
        Scope::new(&self.deps.slots, values, &mut self.dep_cursor)
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        self.request.method()
    }

    /// The address of the client's end of the connection (`None` when the
    /// request did not come over a socket, as from the test client).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The request URI.
    pub fn uri(&self) -> &Uri {
        self.request.uri()
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }

    /// Typed values that middleware attached to the request.
    pub fn extensions(&self) -> &Extensions {
        self.request.extensions()
    }

    /// Mutable access to the request extensions.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        self.request.extensions_mut()
    }

    /// The largest body a body extractor reads, in bytes: the app's, or
    /// a smaller one set by a `BodyLimit` layer.
    pub fn body_limit(&self) -> usize {
        match self.extensions().get::<LayerBodyLimit>() {
            Some(layer) => layer.0.min(self.settings.body_limit),
            None => self.settings.body_limit,
        }
    }

    /// How long a body extractor waits between pieces of the body, and in all.
    pub(crate) fn body_timeouts(&self) -> (std::time::Duration, std::time::Duration) {
        (self.settings.body_idle_timeout, self.settings.body_timeout)
    }

    /// Takes the body; only one extractor of a handler can.
    pub fn take_body(&mut self) -> Result<Body, Rejection> {
        if std::mem::replace(&mut self.body_taken, true) {
            return Err(Rejection::BodyAlreadyTaken);
        }
        Ok(std::mem::take(self.request.body_mut()))
    }

    pub(crate) fn params(&self) -> &Params {
        self.params
    }
}

/// A type that can be made from a request: every handler argument that is
/// not a path parameter.
///
/// ```
/// use portico_runtime::extract::{FromRequest, RequestContext};
/// use portico_runtime::response::ApiError;
///
/// /// The caller's `User-Agent`, or an empty string.
/// struct UserAgent(String);
///
/// impl FromRequest for UserAgent {
///     type Rejection = ApiError;
///
///     async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, ApiError> {
///         let ua = ctx.headers().get("user-agent").and_then(|v| v.to_str().ok());
///         Ok(UserAgent(ua.unwrap_or_default().to_owned()))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler argument: it is not an extractor",
    label = "not an extractor and not a `<param>` of the route",
    note = "use an extractor such as `Json<T>`, `Query<T>`, `Dep<T>`, `HeaderMap`, or implement `portico::FromRequest` for `{Self}`; to read a path parameter, name the argument like the `<param>` in the route path"
)]
pub trait FromRequest: Sized + Send {
    /// What the request gets back when extraction fails.
    type Rejection: IntoResponse;

    /// Whether it reads the request body. A handler can read the body
    /// once: `#[route]` refuses a second argument that says so. Set it in
    /// an extractor that calls [`RequestContext::take_body`].
    const TAKES_BODY: bool = false;

    /// Lists the dependencies this extractor takes from the app (`Dep<T>`
    /// and `#[inject]` structs do; most extractors take none). The app
    /// checks and resolves them when it is built.
    fn declare(needs: &mut Needs) {
        let _ = needs;
    }

    /// Extracts the value. Extractors run in argument order; one that
    /// fails stops the request before the handler.
    fn from_request(
        ctx: &mut RequestContext<'_>,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

impl<T: FromRequest> FromRequest for Option<T> {
    type Rejection = std::convert::Infallible;

    const TAKES_BODY: bool = T::TAKES_BODY;

    fn declare(needs: &mut Needs) {
        T::declare(needs);
    }

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        Ok(T::from_request(ctx).await.ok())
    }
}

/// A dependency is no part of the API: it adds nothing to the OpenAPI
/// document. Saying so rather than leaving it undescribed lets a
/// route's argument probe settle on `Dep<T>` at its second step.
impl<T> Describe for Dep<T> {
    fn describe(_: &mut Operation<'_>) {}
}

impl<T: Send + Sync + 'static> FromRequest for Dep<T> {
    type Rejection = std::convert::Infallible;

    fn declare(needs: &mut Needs) {
        <Self as Inject>::declare(needs);
    }

    // Resolution is a cursor step: no state machine needed.
    #[inline]
    fn from_request(
        ctx: &mut RequestContext<'_>,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        std::future::ready(Ok(<Self as Inject>::resolve(&mut ctx.scope())))
    }
}
