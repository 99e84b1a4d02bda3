//! The route entry of a `#[route]` handler: what it runs and what it
//! declares besides (the dependencies its arguments take and how they
//! read in the OpenAPI document).
//!
//! The macro picks one plan per argument by its type (the `plan` module)
//! and hands the plans and the handler fn to a `route` fn here, whose
//! code, generic over them, the compiler checks once: no runner,
//! describing or declaring fn is written into every route.

use std::marker::PhantomData;
use std::slice::Iter;
use std::sync::Arc;

use http::Method;

use super::call::{Arg, Runner};
use crate::handler::{Declared, Handle, Route};
use crate::inject::{Inject, Needs};
use crate::openapi::{DescribeResponse, Operation};
use crate::response::IntoResponse;

/// One argument's part in the route's declarations.
pub trait Plan {
    /// Lists the dependencies it takes.
    fn declare(needs: &mut Needs);
    /// Describes it, taking its name from `params` when it is a path
    /// parameter.
    fn describe(op: &mut Operation<'_>, params: &mut Iter<'_, &'static str>);
}

/// How return type `T` is described: by its [`DescribeResponse`] impl,
/// else as "any success" named in `x-portico-undocumented` (an
/// `ApiResponse<T>` whose `T` has no `JsonSchema`). Picked by
/// `(&response::<T>()).describer()`.
#[derive(Debug)]
pub struct ResponseProbe<T>(PhantomData<T>);

/// The probe for return type `T`.
pub fn response<T>() -> ResponseProbe<T> {
    ResponseProbe(PhantomData)
}

/// How a response is described, offered by the probe one reference
/// deeper than the next (see [`ParamPlan`](super::ParamPlan)).
pub trait Describer<P> {
    #[allow(missing_docs)]
    fn describer(&self) -> fn(&mut Operation<'_>);
}

/// The response described by its type.
#[derive(Debug)]
pub struct ByType;
/// The response described as "any success".
#[derive(Debug)]
pub struct Undocumented;

impl<T: DescribeResponse> Describer<ByType> for ResponseProbe<T> {
    fn describer(&self) -> fn(&mut Operation<'_>) {
        T::describe_response
    }
}

impl<T> Describer<Undocumented> for &ResponseProbe<T> {
    fn describer(&self) -> fn(&mut Operation<'_>) {
        |op| op.undocumented(std::any::type_name::<T>())
    }
}

/// A handler returning `impl IntoResponse`, which names no type.
pub fn undocumented_response(op: &mut Operation<'_>) {
    op.undocumented("impl IntoResponse");
}

/// The plans of all of a route's arguments, in order.
pub trait Plans {
    /// Lists the dependencies of every argument.
    fn declare(needs: &mut Needs);
    /// Describes every argument.
    fn describe(op: &mut Operation<'_>, params: &mut Iter<'_, &'static str>);
}

macro_rules! plans {
    ($($plan:ident)*) => {
        impl<$($plan: Plan),*> Plans for ($($plan,)*) {
            fn declare(#[allow(unused_variables)] needs: &mut Needs) {
                $($plan::declare(needs);)*
            }
            fn describe(
                #[allow(unused_variables)] op: &mut Operation<'_>,
                #[allow(unused_variables)] params: &mut Iter<'_, &'static str>,
            ) {
                $($plan::describe(op, params);)*
            }
        }
    };
}

plans!();
plans!(A);
plans!(A B);
plans!(A B C);
plans!(A B C D);
plans!(A B C D E);
plans!(A B C D E F);
plans!(A B C D E F G);
plans!(A B C D E F G H);
plans!(A B C D E F G H I);
plans!(A B C D E F G H I J);
plans!(A B C D E F G H I J K);
plans!(A B C D E F G H I J K L);
plans!(A B C D E F G H I J K L M);
plans!(A B C D E F G H I J K L M N);
plans!(A B C D E F G H I J K L M N O);
plans!(A B C D E F G H I J K L M N O P);

/// What `#[route]` knows of a route apart from its arguments' plans.
#[derive(Debug)]
pub struct RouteInfo {
    method: Method,
    path: &'static str,
    /// The handler fn's name.
    name: &'static str,
    /// The role the route requires, if any.
    role: Option<&'static str>,
    /// The doc comment's first paragraph.
    summary: &'static str,
    /// The whole doc comment.
    description: &'static str,
    /// The path parameters' names, in argument order.
    params: &'static [&'static str],
}

/// A route's facts, in the order `#[route]` writes them: positional, and
/// the role `""` when there is none (`#[route]` refuses an empty one),
/// because every token of every route costs the compiler on each `cargo
/// check`. A call rather than seven more arguments of the `route{N}` fn:
/// that fn is inlined into every route, and they made a clean build of a
/// 100-route app 1.3 % dearer.
pub const fn info(
    method: Method,
    path: &'static str,
    name: &'static str,
    role: &'static str,
    summary: &'static str,
    description: &'static str,
    params: &'static [&'static str],
) -> RouteInfo {
    RouteInfo {
        method,
        path,
        name,
        role: if role.is_empty() { None } else { Some(role) },
        summary,
        description,
        params,
    }
}

/// The route entry of `handler`, described by its plans `P` and by
/// `response`. Generic over the plans alone, not the handler: routes
/// whose arguments have the same types share its code (a clean build
/// generates it once for them, not once per route).
fn route<P: Plans>(
    info: RouteInfo,
    handler: Arc<dyn Handle>,
    response: fn(&mut Operation<'_>),
) -> Route {
    // A role guard's dependency, the app's `Jwt`, comes first: the guard
    // runs before the arguments are got.
    let declare: fn(&mut Needs) = match info.role {
        Some(_) => |needs| {
            <crate::inject::Dep<crate::auth::Jwt> as Inject>::declare(needs);
            P::declare(needs);
        },
        None => P::declare,
    };
    Route::with_handle(info.method, info.path, info.name, handler, declare).with_declared(
        Declared {
            summary: info.summary,
            description: info.description,
            role: info.role,
            params: info.params,
            args: P::describe,
            response,
        },
    )
}

// One `route` fn per arity, as many as `#[route]` allows arguments (its
// `MAX_ARGS`): each argument a plan, then the handler. The bounds on the
// handler are written at the invocation, so that an error they raise (a
// return type that is no response) quotes this one line rather than the
// whole macro.
//
// Each is instantiated once per route. `#[inline(always)]` makes a debug
// build generate that instantiation with the route's own code, and the
// runner is boxed before it is shared (`Arc::from` a `Box<dyn Handle>`,
// one instantiation for every route) rather than put in an `Arc` by
// type: a generic instantiation is otherwise generated in a codegen unit
// named for where the generic is defined, one unit holding every
// route's, and editing one handler regenerated that whole unit on an
// incremental build (two units more than before this design: measured
// with `-Zhuman-readable-cgu-names`).
macro_rules! route_fns {
    ($bounds:tt $($route:ident($($arg:ident $value:ident),*);)*) => {
        $(route_fns!(@one $bounds $route($($arg $value),*));)*
    };
    (@one {$($bound:tt)*} $route:ident($($arg:ident $value:ident),*)) => {
        /// The route entry of a handler of this many arguments, each got
        /// by its plan.
        #[allow(clippy::too_many_arguments)]
        #[inline(always)]
        pub fn $route<$($arg: Arg + Plan,)* F, Fut>(
            info: RouteInfo,
            $($value: $arg,)*
            handler: F,
            response: fn(&mut Operation<'_>),
        ) -> Route
        where
            F: Fn($($arg::Value),*) -> Fut + Send + Sync + 'static,
            $($bound)*
        {
            let runner = Runner { role: info.role, plans: ($($value,)*), handler };
            let runner: Box<dyn Handle> = Box::new(runner);
            route::<($($arg,)*)>(info, Arc::from(runner), response)
        }
    };
}

route_fns! {
    { Fut: Future<Output: IntoResponse> + Send + 'static, }
    route0();
    route1(A a);
    route2(A a, B b);
    route3(A a, B b, C c);
    route4(A a, B b, C c, D d);
    route5(A a, B b, C c, D d, E e);
    route6(A a, B b, C c, D d, E e, G g);
    route7(A a, B b, C c, D d, E e, G g, H h);
    route8(A a, B b, C c, D d, E e, G g, H h, I i);
    route9(A a, B b, C c, D d, E e, G g, H h, I i, J j);
    route10(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k);
    route11(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l);
    route12(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m);
    route13(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n);
    route14(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n, O o);
    route15(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n, O o, P p);
    route16(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m, N n, O o, P p, Q q);
}
