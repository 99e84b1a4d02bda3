//! Runs a `#[route]` handler: its role guard, its arguments got from the
//! request in order, then the user's fn and its answer.
//!
//! The work is generic code here, one [`Handle`] impl per arity over the
//! arguments' plans and the handler fn, not code the macro writes into
//! every route: the compiler checks it once, and a route only names its
//! plans and its fn. The macro's part is to pick each argument's plan by
//! its type (the `plan` module), where the type is known.

use crate::extract::RequestContext;
use crate::handler::{Handle, HandlerFuture, handler_future};
use crate::response::{IntoResponse, Response};

/// How one handler argument is got from the request.
pub trait Arg: Send + Sync + 'static {
    /// The argument's type.
    type Value: Send + 'static;

    /// Gets the value, or the response that refuses the request.
    fn get(
        &self,
        ctx: &mut RequestContext<'_>,
    ) -> impl Future<Output = Result<Self::Value, Refusal>> + Send;
}

/// The response refusing a request before its handler ran, boxed: the
/// handler's future holds room for what each argument's future returns,
/// and a response is ten times a pointer.
#[derive(Debug)]
pub struct Refusal(Box<Response>);

impl Refusal {
    /// Refuses with `response`.
    pub(super) fn new(response: Response) -> Self {
        Refusal(Box::new(response))
    }
}

/// Refuses with `rejection`'s response, marked so
/// ([`Refused`](crate::response::Refused)).
#[cold]
pub(super) fn refusal<R: IntoResponse>(rejection: R) -> Refusal {
    Refusal::new(refuse(rejection))
}

/// The response of an extractor or guard that refused the request before
/// the handler ran, marked so ([`Refused`](crate::response::Refused)).
#[cold]
fn refuse<R: IntoResponse>(rejection: R) -> Response {
    crate::response::refused(rejection.into_response())
}

/// A route's handler with its arguments' plans (a tuple, in argument
/// order) and the role it requires: what the route runs.
#[derive(Debug)]
pub struct Runner<P, F> {
    pub(super) role: Option<&'static str>,
    pub(super) plans: P,
    pub(super) handler: F,
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

// One impl per arity, as many as `#[route]` allows arguments (its
// `MAX_ARGS`). The bounds are the same as those of the `route` fns that
// build the runners (the `declare` module), which report them.
macro_rules! runners {
    ($($arg:ident $value:ident),*) => {
        impl<$($arg: Arg,)* F, Fut> Handle for Runner<($($arg,)*), F>
        where
            F: Fn($($arg::Value),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output: IntoResponse> + Send + 'static,
        {
            fn call<'r>(&'r self, ctx: &'r mut RequestContext<'_>) -> HandlerFuture<'r> {
                handler_future(async move {
                    if let Err(refused) = guard(ctx, self.role) {
                        return refuse(refused);
                    }
                    let ($($value,)*) = &self.plans;
                    $(
                        let $value = match $value.get(ctx).await {
                            Ok(value) => value,
                            Err(Refusal(refused)) => return *refused,
                        };
                    )*
                    (self.handler)($($value),*).await.into_response()
                })
            }
        }
    };
}

runners!();
runners!(A a);
runners!(A a, B b);
runners!(A a, B b, C c);
runners!(A a, B b, C c, D d);
runners!(A a, B b, C c, D d, E e);
runners!(A a, B b, C c, D d, E e, G g);
runners!(A a, B b, C c, D d, E e, G g, H h);
runners!(A a, B b, C c, D d, E e, G g, H h, I i);
runners!(A a, B b, C c, D d, E e, G g, H h, I i, J j);
runners!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k);
runners!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l);
runners!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m);
runners!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n);
runners!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n, O o);
runners!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n, O o, P p);
runners!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n, O o, P p, Q q);

/// A handler's answer marked with its cache tag (`#[route(…, cache(tag
/// = …))]`), the tag made from the parameters before the call.
pub async fn tagged<Fut>(answer: Fut, tag: String) -> Response
where
    Fut: Future<Output: IntoResponse>,
{
    crate::caching::tagged(answer.await.into_response(), tag)
}
