//! One plan per handler argument: how the runner gets it from the request
//! ([`Arg`]) and how the route declares it ([`Plan`]), picked by one probe
//! where the argument's type is known.
//!
//! A probe is a method call resolved by autoref: `(&&&param::<T>(…))
//! .param_plan()` for a path parameter, `(&&&&&arg::<T>()).arg_plan()`
//! for an extractor. Each impl of the family's trait offers the method
//! one reference deeper than the next, so the first whose bounds `T`
//! meets wins: a parameter with a schema, else without; an extractor
//! validated and described, described, validated, plain; and last a plan
//! for a type that is none, which never runs (the probe's own bound has
//! reported it at the argument, once). Described comes before validated
//! (no type is both without being the first) so that `Dep<T>`, the most
//! common argument, which describes itself as nothing, settles at the
//! second step.
//!
//! One probe per argument serves both the runner and the declarations,
//! and one trait per family keeps each step of its resolution to one
//! candidate: every probe costs the compiler trait selection on every
//! `cargo check`.

use std::marker::PhantomData;
use std::slice::Iter;

use super::call::{Arg, Refusal, refusal};
use super::declare::Plan;
use crate::extract::{FromParam, FromRequest, RequestContext};
use crate::inject::Needs;
use crate::openapi::{Describe, JsonSchema, Operation};
use crate::response::{IntoResponse, Rejection};
use crate::validate::{Validated, ValidationErrors};

/// Path parameter `index`, named `name` (for the error), parsed as `T`;
/// described with `T`'s schema when `S` is [`WithSchema`].
#[derive(Debug)]
pub struct Param<T, S> {
    index: usize,
    name: &'static str,
    parsed: PhantomData<fn() -> (T, S)>,
}

/// A parameter described with its type's schema.
#[derive(Debug)]
pub struct WithSchema;
/// A parameter described as a string: its type has no schema.
#[derive(Debug)]
pub struct NoSchema;

/// How a parameter of type `T` reads in the OpenAPI document.
pub trait ParamSchema<T> {
    /// Declares parameter `name` in `op`.
    fn describe(op: &mut Operation<'_>, name: &'static str);
}

impl<T: JsonSchema> ParamSchema<T> for WithSchema {
    fn describe(op: &mut Operation<'_>, name: &'static str) {
        let schema = op.request_schema::<T>();
        op.path_param(name, Some(schema));
    }
}

impl<T> ParamSchema<T> for NoSchema {
    fn describe(op: &mut Operation<'_>, name: &'static str) {
        op.path_param(name, None);
    }
}

impl<T: FromParam + Send + 'static, S: ParamSchema<T> + 'static> Arg for Param<T, S> {
    type Value = T;

    // Inlined into the runner: the parse is a few instructions for the
    // common types, and a call would cost as much again.
    #[inline(always)]
    fn get(&self, ctx: &mut RequestContext<'_>) -> impl Future<Output = Result<T, Refusal>> + Send {
        std::future::ready(parse_param(ctx, self.index, self.name).map_err(refusal))
    }
}

impl<T, S: ParamSchema<T>> Plan for Param<T, S> {
    fn declare(_: &mut Needs) {}
    fn describe(op: &mut Operation<'_>, params: &mut Iter<'_, &'static str>) {
        S::describe(op, params.next().copied().unwrap_or_default());
    }
}

#[inline(always)]
fn parse_param<T: FromParam>(
    ctx: &RequestContext<'_>,
    index: usize,
    name: &'static str,
) -> Result<T, Rejection> {
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

/// Extractor `T`, its value checked by `V` ([`Validating`] or
/// [`Unchecked`]) and the extractor described by `D` ([`Described`] or
/// [`Undescribed`]).
#[derive(Debug)]
pub struct Extract<T, V, D>(PhantomData<fn() -> T>, PhantomData<fn() -> (V, D)>);

/// The extracted value is validated before the handler runs.
#[derive(Debug)]
pub struct Validating;
/// The extracted value is passed as it is.
#[derive(Debug)]
pub struct Unchecked;
/// The extractor describes itself in the OpenAPI document.
#[derive(Debug)]
pub struct Described;
/// The extractor does not (`Dep<T>`, a body type without a schema).
#[derive(Debug)]
pub struct Undescribed;

/// Whether an extracted `T` is validated.
pub trait Check<T> {
    /// Validates `value`.
    fn check(value: &T) -> Result<(), ValidationErrors>;
    /// Folds `T`'s rules into the schema it reads.
    fn constrain(op: &mut Operation<'_>);
}

impl<T: Validated> Check<T> for Validating {
    #[inline(always)]
    fn check(value: &T) -> Result<(), ValidationErrors> {
        value.validate_extracted()
    }
    fn constrain(op: &mut Operation<'_>) {
        op.constrain(T::rules());
    }
}

impl<T> Check<T> for Unchecked {
    #[inline(always)]
    fn check(_: &T) -> Result<(), ValidationErrors> {
        Ok(())
    }
    fn constrain(_: &mut Operation<'_>) {}
}

/// Whether extractor `T` describes itself.
pub trait Explain<T> {
    /// Describes `T` in `op`, its rules (`V`'s) folded in.
    fn describe<V: Check<T>>(op: &mut Operation<'_>);
}

impl<T: Describe> Explain<T> for Described {
    fn describe<V: Check<T>>(op: &mut Operation<'_>) {
        T::describe(op);
        V::constrain(op);
    }
}

impl<T> Explain<T> for Undescribed {
    fn describe<V: Check<T>>(_: &mut Operation<'_>) {}
}

impl<T, V, D> Arg for Extract<T, V, D>
where
    T: FromRequest + 'static,
    V: Check<T> + 'static,
    D: 'static,
{
    type Value = T;

    async fn get(&self, ctx: &mut RequestContext<'_>) -> Result<T, Refusal> {
        let value = T::from_request(ctx).await.map_err(refusal)?;
        match V::check(&value) {
            Ok(()) => Ok(value),
            Err(errors) => Err(invalid(errors)),
        }
    }
}

impl<T: FromRequest, V: Check<T>, D: Explain<T>> Plan for Extract<T, V, D> {
    fn declare(needs: &mut Needs) {
        T::declare(needs);
    }
    fn describe(op: &mut Operation<'_>, _: &mut Iter<'_, &'static str>) {
        D::describe::<V>(op);
    }
}

/// The 422 response for an argument that failed validation.
#[cold]
fn invalid(errors: ValidationErrors) -> Refusal {
    Refusal::new(Rejection::Invalid(errors).into_response())
}

/// The plan of a type that is no extractor, or that cannot be parsed
/// from a path parameter: never run, since the route does not compile
/// (the probe's own bound reports it, at the argument's type).
#[derive(Debug)]
pub struct Unusable<T>(PhantomData<fn() -> T>);

impl<T: Send + 'static> Arg for Unusable<T> {
    type Value = T;

    fn get(&self, _: &mut RequestContext<'_>) -> impl Future<Output = Result<T, Refusal>> + Send {
        std::future::pending()
    }
}

impl<T> Plan for Unusable<T> {
    fn declare(_: &mut Needs) {}
    fn describe(_: &mut Operation<'_>, _: &mut Iter<'_, &'static str>) {}
}

/// The probe for path parameter `index`, named `name`, called spanned on
/// the argument's type: a type that cannot be parsed from a parameter is
/// reported there.
pub fn param<T: FromParam>(index: usize, name: &'static str) -> ParamProbe<T> {
    ParamProbe {
        index,
        name,
        probed: PhantomData,
    }
}

/// Picks a path parameter's plan: `(&&&param::<T>(index, name))
/// .param_plan()`.
#[derive(Debug)]
pub struct ParamProbe<T> {
    index: usize,
    name: &'static str,
    probed: PhantomData<fn() -> T>,
}

impl<T> ParamProbe<T> {
    fn plan<S>(&self) -> Param<T, S> {
        Param {
            index: self.index,
            name: self.name,
            parsed: PhantomData,
        }
    }
}

/// A path parameter's plan `P`, offered by the probe one reference
/// deeper than the next: one trait for the family, so that each step of
/// the method's resolution weighs one candidate rather than one per plan.
pub trait ParamPlan<P> {
    #[allow(missing_docs)]
    fn param_plan(&self) -> P;
}

impl<T: FromParam + JsonSchema> ParamPlan<Param<T, WithSchema>> for &&ParamProbe<T> {
    fn param_plan(&self) -> Param<T, WithSchema> {
        self.plan()
    }
}

impl<T: FromParam> ParamPlan<Param<T, NoSchema>> for &ParamProbe<T> {
    fn param_plan(&self) -> Param<T, NoSchema> {
        self.plan()
    }
}

impl<T> ParamPlan<Unusable<T>> for ParamProbe<T> {
    fn param_plan(&self) -> Unusable<T> {
        Unusable(PhantomData)
    }
}

/// The probe for extractor argument `T`, called spanned on the
/// argument's type, in the route and in the body-read-once check: a type
/// that is no extractor gets `FromRequest`'s own diagnostic there (the
/// same one each time, which the compiler reports once).
pub const fn arg<T: FromRequest>() -> ArgProbe<T> {
    ArgProbe {
        takes_body: T::TAKES_BODY,
        probed: PhantomData,
    }
}

/// Picks an extractor's plan: `(&&&&&arg::<T>()).arg_plan()`.
#[derive(Debug)]
pub struct ArgProbe<T> {
    /// Whether the extractor reads the body (`FromRequest::TAKES_BODY`),
    /// for the check that a handler reads it once.
    pub takes_body: bool,
    probed: PhantomData<fn() -> T>,
}

/// An extractor's plan `P`, offered by the probe one reference deeper
/// than the next (see [`ParamPlan`]).
pub trait ArgPlan<P> {
    #[allow(missing_docs)]
    fn arg_plan(&self) -> P;
}

impl<T: FromRequest + Validated + Describe> ArgPlan<Extract<T, Validating, Described>>
    for &&&&ArgProbe<T>
{
    fn arg_plan(&self) -> Extract<T, Validating, Described> {
        Extract(PhantomData, PhantomData)
    }
}

impl<T: FromRequest + Describe> ArgPlan<Extract<T, Unchecked, Described>> for &&&ArgProbe<T> {
    fn arg_plan(&self) -> Extract<T, Unchecked, Described> {
        Extract(PhantomData, PhantomData)
    }
}

impl<T: FromRequest + Validated> ArgPlan<Extract<T, Validating, Undescribed>> for &&ArgProbe<T> {
    fn arg_plan(&self) -> Extract<T, Validating, Undescribed> {
        Extract(PhantomData, PhantomData)
    }
}

impl<T: FromRequest> ArgPlan<Extract<T, Unchecked, Undescribed>> for &ArgProbe<T> {
    fn arg_plan(&self) -> Extract<T, Unchecked, Undescribed> {
        Extract(PhantomData, PhantomData)
    }
}

impl<T> ArgPlan<Unusable<T>> for ArgProbe<T> {
    fn arg_plan(&self) -> Unusable<T> {
        Unusable(PhantomData)
    }
}
