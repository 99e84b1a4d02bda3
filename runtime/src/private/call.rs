//! Runs a `#[route]` handler: its role guard, its arguments got from the
//! request in order (each extractor's value validated when its type is
//! `Validated`), then the user's fn and its answer.
//!
//! The work is generic code here, one fn per arity, not an `async` block
//! the macro writes into every route: the compiler checks this code once,
//! and a route only instantiates it — which is what keeps `cargo check`
//! of an app with many routes fast. The macro's part is to pick each
//! argument's [`Arg`] plan by its type, where the type is known.

use std::marker::PhantomData;

use crate::extract::{FromParam, FromRequest, RequestContext};
use crate::handler::{HandlerFuture, handler_future};
use crate::response::{IntoResponse, Rejection, Response};
use crate::validate::Validated;

/// How one handler argument is got from the request.
pub trait Arg: Send {
    /// The argument's type.
    type Value: Send;

    /// Gets the value, or the response that refuses the request.
    fn get(
        self,
        ctx: &mut RequestContext<'_>,
    ) -> impl Future<Output = Result<Self::Value, Refusal>> + Send;
}

/// The response refusing a request before its handler ran, boxed: the
/// handler's future holds room for what each argument's future returns,
/// and a response is ten times a pointer.
#[derive(Debug)]
pub struct Refusal(Box<Response>);

/// Refuses with `rejection`'s response, marked so
/// ([`Refused`](crate::response::Refused)).
#[cold]
fn refusal<R: IntoResponse>(rejection: R) -> Refusal {
    Refusal(Box::new(refuse(rejection)))
}

/// Path parameter `index`, named `name` (for the error), parsed as `T`.
#[derive(Debug)]
pub struct Param<T> {
    index: usize,
    name: &'static str,
    parsed: PhantomData<fn() -> T>,
}

/// A parameter whose type cannot be parsed from one: never run, since the
/// route does not compile ([`param`] reports it at the argument's type).
#[derive(Debug)]
pub struct NotParam<T>(PhantomData<fn() -> T>);

/// Picks a path parameter's plan by method resolution on
/// `(&&param::<T>(index, name)).parse_plan()`: [`Param`] when `T` can be
/// parsed from one, else [`NotParam`]. Each plan is an [`Arg`] whatever
/// `T` is, so a type that cannot be parsed is reported once, where the
/// probe is made; and [`Param`] parses with `T`'s own code, which the
/// runner inlines.
#[derive(Debug)]
pub struct ParseProbe<T> {
    index: usize,
    name: &'static str,
    probed: PhantomData<fn() -> T>,
}

/// The probe for path parameter `index`, named `name`, spanned on the
/// argument's type: a type that cannot be parsed from a parameter is
/// reported there.
pub fn param<T: FromParam>(index: usize, name: &'static str) -> ParseProbe<T> {
    ParseProbe {
        index,
        name,
        probed: PhantomData,
    }
}

#[allow(missing_docs)]
pub trait ViaParam<T> {
    fn parse_plan(&self) -> Param<T>;
}

impl<T: FromParam> ViaParam<T> for &ParseProbe<T> {
    fn parse_plan(&self) -> Param<T> {
        Param {
            index: self.index,
            name: self.name,
            parsed: PhantomData,
        }
    }
}

#[allow(missing_docs)]
pub trait ViaNotParam<T> {
    fn parse_plan(&self) -> NotParam<T>;
}

impl<T> ViaNotParam<T> for ParseProbe<T> {
    fn parse_plan(&self) -> NotParam<T> {
        NotParam(PhantomData)
    }
}

impl<T: FromParam + Send> Arg for Param<T> {
    type Value = T;

    // Inlined into the runner: the parse is a few instructions for the
    // common types, and a call would cost as much again.
    #[inline(always)]
    fn get(self, ctx: &mut RequestContext<'_>) -> impl Future<Output = Result<T, Refusal>> + Send {
        std::future::ready(parse_param(ctx, self).map_err(refusal))
    }
}

impl<T: Send> Arg for NotParam<T> {
    type Value = T;

    fn get(self, _: &mut RequestContext<'_>) -> impl Future<Output = Result<T, Refusal>> + Send {
        // Never polled: a route with this plan does not compile.
        std::future::pending()
    }
}

#[inline(always)]
fn parse_param<T: FromParam>(ctx: &RequestContext<'_>, param: Param<T>) -> Result<T, Rejection> {
    let Param { index, name, .. } = param;
    let path = ctx.uri().path();
    let decoded = match ctx.params().decoded(path, index) {
        Some(Ok(decoded)) => decoded,
        Some(Err(_)) | None => return Err(Rejection::ParamNotUtf8 { name }),
    };
    T::from_param(&decoded).map_err(|err| bad_param::<T>(name, &decoded, &err))
}

/// The 400 for a parameter `T` could not be parsed from.
#[cold]
fn bad_param<T>(name: &'static str, value: &str, err: &dyn std::fmt::Display) -> Rejection {
    Rejection::BadParam {
        name,
        value: value.to_owned(),
        expected: short_type_name::<T>(),
        reason: err.to_string(),
    }
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    // `alloc::string::String` reads as `String`; keep generics intact.
    let head = full.split('<').next().unwrap_or(full);
    match head.rfind("::") {
        Some(i) => &full[i + 2..],
        None => full,
    }
}

/// Extractor `T`, its value validated before the handler runs.
#[derive(Debug)]
pub struct Validating<T>(PhantomData<fn() -> T>);
/// Extractor `T`, its value passed as it is.
#[derive(Debug)]
pub struct Extracting<T>(PhantomData<fn() -> T>);
/// A type that is no extractor: never run, since the route does not
/// compile (`arg` reports it at the argument's type).
#[derive(Debug)]
pub struct NotExtractor<T>(PhantomData<fn() -> T>);

impl<T: FromRequest + Validated> Arg for Validating<T> {
    type Value = T;

    async fn get(self, ctx: &mut RequestContext<'_>) -> Result<T, Refusal> {
        let value = T::from_request(ctx).await.map_err(refusal)?;
        match value.validate_extracted() {
            Ok(()) => Ok(value),
            Err(errors) => Err(invalid(errors)),
        }
    }
}

impl<T: FromRequest> Arg for Extracting<T> {
    type Value = T;

    async fn get(self, ctx: &mut RequestContext<'_>) -> Result<T, Refusal> {
        T::from_request(ctx).await.map_err(refusal)
    }
}

impl<T: Send> Arg for NotExtractor<T> {
    type Value = T;

    fn get(self, _: &mut RequestContext<'_>) -> impl Future<Output = Result<T, Refusal>> + Send {
        // Never polled: a route with this plan does not compile.
        std::future::pending()
    }
}

/// Picks an extractor argument's plan by method resolution on
/// `(&&arg::<T>()).run_plan()`: [`Validating`] when `T` is an extractor
/// whose value is [`Validated`], else [`Extracting`] when it is an
/// extractor, else [`NotExtractor`].
#[derive(Debug)]
pub struct ArgProbe<T> {
    /// Whether the extractor reads the body (`FromRequest::TAKES_BODY`),
    /// for the check that a handler reads it once.
    pub takes_body: bool,
    probed: PhantomData<T>,
}

/// The probe for extractor argument `T`, called spanned on the
/// argument's type, in the handler and in the body-read-once check: a
/// type that is no extractor gets `FromRequest`'s own diagnostic there
/// (the same one each time, which the compiler reports once).
pub const fn arg<T: FromRequest>() -> ArgProbe<T> {
    ArgProbe {
        takes_body: T::TAKES_BODY,
        probed: PhantomData,
    }
}

#[allow(missing_docs)]
pub trait ViaValidating<T> {
    fn run_plan(&self) -> Validating<T>;
}

impl<T: FromRequest + Validated> ViaValidating<T> for &ArgProbe<T> {
    fn run_plan(&self) -> Validating<T> {
        Validating(PhantomData)
    }
}

#[allow(missing_docs)]
pub trait ViaExtracting<T> {
    fn run_plan(&self) -> Extracting<T>;
}

impl<T: FromRequest> ViaExtracting<T> for &&ArgProbe<T> {
    fn run_plan(&self) -> Extracting<T> {
        Extracting(PhantomData)
    }
}

#[allow(missing_docs)]
pub trait ViaNotExtractor<T> {
    fn run_plan(&self) -> NotExtractor<T>;
}

impl<T> ViaNotExtractor<T> for ArgProbe<T> {
    fn run_plan(&self) -> NotExtractor<T> {
        NotExtractor(PhantomData)
    }
}

/// The 422 response for an argument that failed validation.
#[cold]
fn invalid(errors: crate::validate::ValidationErrors) -> Refusal {
    Refusal(Box::new(Rejection::Invalid(errors).into_response()))
}

/// The response of an extractor or guard that refused the request before
/// the handler ran, marked so ([`Refused`](crate::response::Refused)).
#[cold]
fn refuse<R: IntoResponse>(rejection: R) -> Response {
    crate::response::refused(rejection.into_response())
}

/// The role a route requires (`#[route(…, role = "admin")]`): checked
/// before the arguments are got, so its 401/403 comes first. Inlined: most
/// routes require none.
#[inline(always)]
fn guard(
    ctx: &mut RequestContext<'_>,
    role: Option<&'static str>,
) -> Result<(), crate::auth::AuthError> {
    match role {
        Some(role) => crate::auth::require_role(ctx, role),
        None => Ok(()),
    }
}

// The bounds on the handler are written at the invocation, so that an
// error they raise (a return type that is no response) quotes this one
// line rather than the whole macro. As many runners as `#[route]` allows
// arguments (its `MAX_ARGS`).
macro_rules! runners {
    ($bounds:tt $($run:ident($($arg:ident $value:ident),*);)*) => {
        $(runners!(@one $bounds $run($($arg $value),*));)*
    };
    (@one {$($bound:tt)*} $run:ident($($arg:ident $value:ident),*)) => {
        /// Runs a handler of this many arguments; see the module.
        #[allow(clippy::too_many_arguments)]
        pub fn $run<'r, $($arg: Arg + 'r,)* F, Fut>(
            ctx: &'r mut RequestContext<'_>,
            role: Option<&'static str>,
            $($value: $arg,)*
            handler: F,
        ) -> HandlerFuture<'r>
        where
            F: FnOnce($($arg::Value),*) -> Fut + Send + 'r,
            $($bound)*
        {
            handler_future(async move {
                if let Err(refused) = guard(ctx, role) {
                    return refuse(refused);
                }
                $(
                    let $value = match $value.get(ctx).await {
                        Ok(value) => value,
                        Err(Refusal(refused)) => return *refused,
                    };
                )*
                handler($($value),*).await.into_response()
            })
        }
    };
}

runners! {
    { Fut: Future<Output: IntoResponse> + Send + 'r, }
    run0();
    run1(A a);
    run2(A a, B b);
    run3(A a, B b, C c);
    run4(A a, B b, C c, D d);
    run5(A a, B b, C c, D d, E e);
    run6(A a, B b, C c, D d, E e, G g);
    run7(A a, B b, C c, D d, E e, G g, H h);
    run8(A a, B b, C c, D d, E e, G g, H h, I i);
    run9(A a, B b, C c, D d, E e, G g, H h, I i, J j);
    run10(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k);
    run11(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l);
    run12(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m);
    run13(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n);
    run14(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n, O o);
    run15(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n, O o, P p);
    run16(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n, O o, P p, Q q);
}

/// A handler's answer marked with its cache tag (`#[route(…, cache(tag
/// = …))]`), the tag made from the parameters before the call.
pub async fn tagged<Fut>(answer: Fut, tag: String) -> Response
where
    Fut: Future<Output: IntoResponse>,
{
    crate::caching::tagged(answer.await.into_response(), tag)
}
