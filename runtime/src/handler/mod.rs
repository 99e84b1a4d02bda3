//! Route registry entries: what `#[route]` emits and `App::mount` takes.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Method;

use crate::extract::RequestContext;
use crate::inject::{Need, Needs};
use crate::openapi::Operation;
use crate::response::Response;

/// The future of a type-erased handler, borrowing the request for `'r`:
/// kept in place inside the request's own future when it fits in 128
/// bytes (`INLINE_HANDLER`: a handler taking a few path parameters or
/// headers), else boxed there. Boxing every one was the one allocation
/// per request that raw hyper does not make (~140 instructions, measured
/// with callgrind).
pub(crate) type HandlerFuture<'r> = stackfuture::StackFuture<'r, Response, INLINE_HANDLER>;

/// The room a handler's future gets inline: enough for no arguments (32
/// bytes), a path parameter (80) or one with a token's claims (104).
/// Larger ones (448 bytes for a JSON body being read, more for a query in
/// flight) are boxed: the request's future is allocated at its largest
/// for every open connection, idle or not.
pub(crate) const INLINE_HANDLER: usize = 128;

/// `future` as a [`HandlerFuture`]: inline when it fits, else boxed.
#[inline]
pub(crate) fn handler_future<'r>(
    future: impl Future<Output = Response> + Send + 'r,
) -> HandlerFuture<'r> {
    // Boxed as `dyn Future`: one boxed type for every handler, where
    // `from_or_box` also generated `StackFuture`'s code for each
    // handler's `Pin<Box<F>>` (a debug build generates both branches for
    // every route, fits or not).
    if HandlerFuture::has_space_for_val(&future) && HandlerFuture::has_alignment_for_val(&future) {
        match stackfuture::StackFuture::try_from(future) {
            Ok(inline) => inline,
            Err(_) => unreachable!("the same space and alignment were checked just before"),
        }
    } else {
        let boxed: Pin<Box<dyn Future<Output = Response> + Send + 'r>> = Box::pin(future);
        stackfuture::StackFuture::from(boxed)
    }
}

/// A type-erased handler: extracts the arguments, calls the user's fn and
/// turns its result into a response. It borrows the request context
/// rather than taking it, so the future stays small and the context is
/// not copied into it.
pub(crate) trait Handle: Send + Sync + 'static {
    /// The handler's future on the request in `ctx`.
    fn call<'r>(&'r self, ctx: &'r mut RequestContext<'_>) -> HandlerFuture<'r>;
}

/// A handler written as one fn (the runtime's own routes: health,
/// metrics, the OpenAPI document and its pages).
pub(crate) type HandlerFn = for<'r, 'a> fn(&'r mut RequestContext<'a>) -> HandlerFuture<'r>;

impl Handle for HandlerFn {
    fn call<'r>(&'r self, ctx: &'r mut RequestContext<'_>) -> HandlerFuture<'r> {
        self(ctx)
    }
}

/// One route: method, path pattern, handler name and handler.
///
/// `#[route]` builds these; `routes![…]` collects them; `App::mount`
/// takes them. Displayed as `GET /users/<id> -> get_user`.
#[derive(Clone)]
pub struct Route {
    method: Method,
    path: &'static str,
    name: &'static str,
    handler: Arc<dyn Handle>,
    declare: fn(&mut Needs),
    cache: Option<CachePolicy>,
    describe: fn(&mut Operation<'_>),
    declared: Option<Declared>,
    documented: bool,
}

/// What `#[route]` declares of a handler for the OpenAPI document, as
/// data and two fns the runtime instantiates, rather than a describing fn
/// the macro would write into every route (which the compiler would
/// check once per route).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Declared {
    /// The doc comment's first paragraph.
    pub(crate) summary: &'static str,
    /// The whole doc comment.
    pub(crate) description: &'static str,
    /// The role the route requires, if any.
    pub(crate) role: Option<&'static str>,
    /// The path parameters' names, in argument order.
    pub(crate) params: &'static [&'static str],
    /// Describes the arguments, taking each parameter's name in turn.
    pub(crate) args: fn(&mut Operation<'_>, &mut std::slice::Iter<'_, &'static str>),
    /// Describes the return type.
    pub(crate) response: fn(&mut Operation<'_>),
}

/// A route's declared caching policy (`#[route(GET, …, cache(…))]`), its
/// header values worked out when the route was compiled.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// The `Cache-Control` value: `private, max-age=60`, …
    pub cache_control: &'static str,
    /// The `Vary` value, empty when the answer depends on the URL alone.
    pub vary: &'static str,
    /// The `Vary` names in lower case: they key the server-side cache.
    pub vary_headers: &'static [&'static str],
    /// Seconds a response is kept server-side; 0 when it is not.
    pub server_ttl: u32,
}

impl Route {
    /// One of the runtime's own routes, its handler one fn: `declare`
    /// lists the dependencies it takes.
    pub(crate) fn new(
        method: Method,
        path: &'static str,
        name: &'static str,
        handler: HandlerFn,
        declare: fn(&mut Needs),
    ) -> Self {
        Route::with_handle(method, path, name, Arc::new(handler), declare)
    }

    /// A route, as `#[route]` makes it: `declare` lists the dependencies
    /// of the handler's arguments, in the order `handler` takes them.
    pub(crate) fn with_handle(
        method: Method,
        path: &'static str,
        name: &'static str,
        handler: Arc<dyn Handle>,
        declare: fn(&mut Needs),
    ) -> Self {
        Route {
            method,
            path,
            name,
            handler,
            declare,
            cache: None,
            describe: |_| {},
            declared: None,
            documented: true,
        }
    }

    /// Sets how the route describes itself in the OpenAPI document (its
    /// doc comment, parameters, body, responses).
    #[doc(hidden)]
    pub fn with_describe(mut self, describe: fn(&mut Operation<'_>)) -> Self {
        self.describe = describe;
        self
    }

    /// Sets what `#[route]` declared of the handler, which describes it.
    pub(crate) fn with_declared(mut self, declared: Declared) -> Self {
        self.declared = Some(declared);
        self
    }

    /// Leaves the route out of the OpenAPI document (the document's own
    /// routes are).
    pub fn undocumented(mut self) -> Self {
        self.documented = false;
        self
    }

    /// Whether the route is in the OpenAPI document.
    pub(crate) fn is_documented(&self) -> bool {
        self.documented
    }

    /// Describes the route into `op`.
    pub(crate) fn describe(&self, op: &mut Operation<'_>) {
        let Some(declared) = &self.declared else {
            return (self.describe)(op);
        };
        op.doc(declared.summary, declared.description);
        if let Some(role) = declared.role {
            op.bearer();
            op.error(403, &format!("the token does not carry the role `{role}`"));
        }
        (declared.args)(op, &mut declared.params.iter());
        if self.cache.is_some() {
            describe_cached(op);
        }
        (declared.response)(op);
    }

    /// Declares the route's caching policy.
    #[doc(hidden)]
    pub fn with_cache(mut self, policy: CachePolicy) -> Self {
        self.cache = Some(policy);
        self
    }

    /// The route's declared caching policy, if it has one.
    pub(crate) fn cache_policy(&self) -> Option<&CachePolicy> {
        self.cache.as_ref()
    }

    /// The dependencies of the handler's arguments, in order.
    pub fn needs(&self) -> Vec<Need> {
        let mut needs = Needs::default();
        (self.declare)(&mut needs);
        needs.into_vec()
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path pattern, in Portico's `<param>` syntax.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The handler fn's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn handler(&self) -> &dyn Handle {
        &*self.handler
    }
}

/// A route with `cache(…)`: its `Cache-Control`, and the conditional GET
/// it answers (`ETag`, `If-None-Match`, 304).
fn describe_cached(op: &mut Operation<'_>) {
    op.success_header("Cache-Control", "how long the answer may be reused");
    if op.method() == Method::GET || op.method() == Method::HEAD {
        op.success_header("ETag", "the representation's version");
        op.header(
            "If-None-Match",
            false,
            serde_json::json!({"type": "string"}),
            "the `ETag`s the client holds",
        );
        op.empty_response(
            304,
            "not modified: the `ETag` sent in `If-None-Match` is current",
        );
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.method, self.path, self.name)
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Route({self})")
    }
}

/// Implemented by the hidden type `#[route]` emits beside each handler fn,
/// so that `routes![get_user]` can name the route by the fn's name.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a route",
    label = "not a `#[route]` handler",
    note = "put `#[route(METHOD, \"/path\")]` on the handler fn to list it in `routes![…]`"
)]
pub trait RouteDef {
    /// The route entry.
    fn route() -> Route;
}

pin_project_lite::pin_project! {
    /// Polls a future, turning a panic inside into `Err(())` so that one
    /// bad request cannot take its connection, or the server, down with it.
    pub(crate) struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F> CatchUnwind<F> {
    pub(crate) fn new(future: F) -> Self {
        CatchUnwind { future }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        poll_catching(self.project().future, cx)
    }
}

/// Polls `future`, a panic inside it turned into `Err(())`.
#[inline]
pub(crate) fn poll_catching<F: Future>(
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, ()>> {
    // Mapped inside the closure: the answer leaves `catch_unwind` in its
    // final shape, where mapping it afterwards copied it once more.
    std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx).map(Ok)))
        .unwrap_or(Poll::Ready(Err(())))
}
