//! Absolute paths of everything generated code names, in one table, so
//! that user imports (a local `Result`, a `mod core`) can never break an
//! expansion, and a reader of `cargo expand` output sees where each item
//! comes from.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

/// The runtime's hidden support module. Its name carries the version, so
/// a `portico-macros` paired with another `portico` fails loudly here
/// rather than expanding to calls whose meaning has changed.
pub(crate) fn private() -> TokenStream {
    // The same path as `PRIVATE`, without lexing it.
    quote!(::portico::__private_0_1_0)
}

/// [`private`] as source text, for output emitted as text.
pub(crate) const PRIVATE: &str = "::portico::__private_0_1_0";

/// The same path with every token at `span`, for calls whose trait-bound
/// errors must point at a user's token rather than at the attribute.
pub(crate) fn private_at(span: Span) -> TokenStream {
    quote_spanned!(span=> ::portico::__private_0_1_0)
}

/// `Result`.
pub(crate) fn result() -> TokenStream {
    quote!(::core::result::Result)
}

/// `Infallible`.
pub(crate) fn infallible() -> TokenStream {
    quote!(::core::convert::Infallible)
}
