//! The OpenAPI vocabulary: what a route, an extractor, a response type or
//! a layer says about itself ([`Operation`]), the JSON Schemas of Rust
//! types (schemars, from serde's attributes) with the rules of
//! `#[derive(Validate)]` folded in, and the envelope's shapes. The
//! document itself is put together and served by `docs`.
//!
//! An extractor describes itself by implementing [`Describe`], a handler's
//! return type by [`DescribeResponse`]; `#[route]` calls both for every
//! argument and the return type, and a type that implements neither
//! (`Dep<T>`, a type without `JsonSchema`) adds nothing.

mod operation;
mod refs;
mod rules;
mod schemas;

pub use operation::{Limits, Listing, Operation};
pub use schemars::JsonSchema;
pub(crate) use schemas::Schemas;

/// An extractor that says what it reads (parameters, a body) and which
/// errors it answers with, for the OpenAPI document.
///
/// ```
/// use portico_runtime::openapi::{Describe, Operation};
///
/// /// `X-Api-Key`, checked against the app's keys.
/// struct ApiKey(String);
///
/// impl Describe for ApiKey {
///     fn describe(op: &mut Operation<'_>) {
///         let text = op.request_schema::<String>();
///         op.header("X-Api-Key", true, text, "the caller's API key");
///         op.error(401, "no API key, or an unknown one");
///     }
/// }
/// ```
pub trait Describe {
    /// Adds what the extractor reads and answers to `op`.
    fn describe(op: &mut Operation<'_>);
}

/// A handler's return type, for the OpenAPI document: its success
/// response and the errors it can be.
pub trait DescribeResponse {
    /// Adds the responses to `op`.
    fn describe_response(op: &mut Operation<'_>);
}

impl<T: Describe> Describe for Option<T> {
    fn describe(op: &mut Operation<'_>) {
        op.optionally(T::describe);
    }
}
