//! What a `#[route]` declares besides its handler: the dependencies its
//! arguments take and how they read in the OpenAPI document.
//!
//! The macro picks one plan per argument by its type (a probe, where the
//! type is known) and hands the plans to [`route`], whose code, generic
//! over them, the compiler checks once: no describing or declaring fn is
//! written into every route.

use std::marker::PhantomData;
use std::slice::Iter;

use crate::extract::FromRequest;
use crate::handler::{Declared, HandlerFn, Route};
use crate::inject::{Inject, Needs};
use crate::openapi::{Describe, DescribeResponse, JsonSchema, Operation};
use crate::validate::Validated;

/// One argument's part in the route's declarations.
pub trait Plan {
    /// Lists the dependencies it takes.
    fn declare(needs: &mut Needs);
    /// Describes it, taking its name from `params` when it is a path
    /// parameter.
    fn describe(op: &mut Operation<'_>, params: &mut Iter<'_, &'static str>);
}

/// A path parameter whose type has a schema.
#[derive(Debug)]
pub struct SchemaParam<T>(PhantomData<fn() -> T>);
/// A path parameter whose type has none (it reads as a string).
#[derive(Debug)]
pub struct PlainParam<T>(PhantomData<fn() -> T>);

impl<T: JsonSchema> Plan for SchemaParam<T> {
    fn declare(_: &mut Needs) {}
    fn describe(op: &mut Operation<'_>, params: &mut Iter<'_, &'static str>) {
        let schema = op.request_schema::<T>();
        op.path_param(params.next().copied().unwrap_or_default(), Some(schema));
    }
}

impl<T> Plan for PlainParam<T> {
    fn declare(_: &mut Needs) {}
    fn describe(op: &mut Operation<'_>, params: &mut Iter<'_, &'static str>) {
        op.path_param(params.next().copied().unwrap_or_default(), None);
    }
}

/// Picks a path parameter's plan: `(&&param_probe::<T>()).param_plan()`.
#[derive(Debug)]
pub struct ParamProbe<T>(PhantomData<T>);

/// The probe for path parameter type `T`.
pub fn param_probe<T>() -> ParamProbe<T> {
    ParamProbe(PhantomData)
}

#[allow(missing_docs)]
pub trait ViaSchemaParam<T> {
    fn param_plan(&self) -> SchemaParam<T>;
}

impl<T: JsonSchema> ViaSchemaParam<T> for &ParamProbe<T> {
    fn param_plan(&self) -> SchemaParam<T> {
        SchemaParam(PhantomData)
    }
}

#[allow(missing_docs)]
pub trait ViaPlainParam<T> {
    fn param_plan(&self) -> PlainParam<T>;
}

impl<T> ViaPlainParam<T> for ParamProbe<T> {
    fn param_plan(&self) -> PlainParam<T> {
        PlainParam(PhantomData)
    }
}

/// An extractor that describes itself and whose value is validated: its
/// rules fold into the schema it reads.
#[derive(Debug)]
pub struct DescribedValidated<T>(PhantomData<fn() -> T>);
/// An extractor that describes itself.
#[derive(Debug)]
pub struct Described<T>(PhantomData<fn() -> T>);
/// An extractor that does not (`Dep<T>`, a body type without a schema).
#[derive(Debug)]
pub struct Undescribed<T>(PhantomData<fn() -> T>);
/// A type that is no extractor: the route does not compile.
#[derive(Debug)]
pub struct NoPlan<T>(PhantomData<fn() -> T>);

impl<T: FromRequest + Describe + Validated> Plan for DescribedValidated<T> {
    fn declare(needs: &mut Needs) {
        T::declare(needs);
    }
    fn describe(op: &mut Operation<'_>, _: &mut Iter<'_, &'static str>) {
        T::describe(op);
        op.constrain(T::rules());
    }
}

impl<T: FromRequest + Describe> Plan for Described<T> {
    fn declare(needs: &mut Needs) {
        T::declare(needs);
    }
    fn describe(op: &mut Operation<'_>, _: &mut Iter<'_, &'static str>) {
        T::describe(op);
    }
}

impl<T: FromRequest> Plan for Undescribed<T> {
    fn declare(needs: &mut Needs) {
        T::declare(needs);
    }
    fn describe(_: &mut Operation<'_>, _: &mut Iter<'_, &'static str>) {}
}

impl<T> Plan for NoPlan<T> {
    fn declare(_: &mut Needs) {}
    fn describe(_: &mut Operation<'_>, _: &mut Iter<'_, &'static str>) {}
}

/// Picks an extractor's plan by method resolution on
/// `(&&&extractor::<T>()).extractor_plan()`: [`DescribedValidated`], else
/// [`Described`], else [`Undescribed`], else [`NoPlan`].
#[derive(Debug)]
pub struct ExtractorProbe<T>(PhantomData<T>);

/// The probe for extractor type `T` (whether it is one is reported by
/// [`arg`](super::arg)).
pub fn extractor<T>() -> ExtractorProbe<T> {
    ExtractorProbe(PhantomData)
}

#[allow(missing_docs)]
pub trait ViaDescribedValidated<T> {
    fn extractor_plan(&self) -> DescribedValidated<T>;
}

impl<T: FromRequest + Describe + Validated> ViaDescribedValidated<T> for &&ExtractorProbe<T> {
    fn extractor_plan(&self) -> DescribedValidated<T> {
        DescribedValidated(PhantomData)
    }
}

#[allow(missing_docs)]
pub trait ViaDescribed<T> {
    fn extractor_plan(&self) -> Described<T>;
}

impl<T: FromRequest + Describe> ViaDescribed<T> for &&&ExtractorProbe<T> {
    fn extractor_plan(&self) -> Described<T> {
        Described(PhantomData)
    }
}

#[allow(missing_docs)]
pub trait ViaUndescribed<T> {
    fn extractor_plan(&self) -> Undescribed<T>;
}

impl<T: FromRequest> ViaUndescribed<T> for &ExtractorProbe<T> {
    fn extractor_plan(&self) -> Undescribed<T> {
        Undescribed(PhantomData)
    }
}

#[allow(missing_docs)]
pub trait ViaNoPlan<T> {
    fn extractor_plan(&self) -> NoPlan<T>;
}

impl<T> ViaNoPlan<T> for ExtractorProbe<T> {
    fn extractor_plan(&self) -> NoPlan<T> {
        NoPlan(PhantomData)
    }
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

#[allow(missing_docs)]
pub trait ViaDescribeResponse {
    fn describer(&self) -> fn(&mut Operation<'_>);
}

impl<T: DescribeResponse> ViaDescribeResponse for ResponseProbe<T> {
    fn describer(&self) -> fn(&mut Operation<'_>) {
        T::describe_response
    }
}

#[allow(missing_docs)]
pub trait ViaNoDescribeResponse {
    fn describer(&self) -> fn(&mut Operation<'_>);
}

impl<T> ViaNoDescribeResponse for &ResponseProbe<T> {
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
    /// The method.
    pub method: http::Method,
    /// The path pattern.
    pub path: &'static str,
    /// The handler fn's name.
    pub name: &'static str,
    /// The type-erased handler.
    pub handler: HandlerFn,
    /// The role the route requires, if any.
    pub role: Option<&'static str>,
    /// The doc comment's first paragraph.
    pub summary: &'static str,
    /// The whole doc comment.
    pub description: &'static str,
    /// The path parameters' names, in argument order.
    pub params: &'static [&'static str],
}

/// The route entry of a `#[route]` handler.
pub fn route<P: Plans>(info: RouteInfo, _plans: P, response: fn(&mut Operation<'_>)) -> Route {
    // A role guard's dependency, the app's `Jwt`, comes first: the guard
    // runs before the arguments are got.
    let declare: fn(&mut Needs) = match info.role {
        Some(_) => |needs| {
            <crate::inject::Dep<crate::auth::Jwt> as Inject>::declare(needs);
            P::declare(needs);
        },
        None => P::declare,
    };
    Route::new(info.method, info.path, info.name, info.handler, declare).with_declared(Declared {
        summary: info.summary,
        description: info.description,
        role: info.role,
        params: info.params,
        args: P::describe,
        response,
    })
}
