//! Absolute paths of everything generated code names, in one table, so
//! that user imports can never break an expansion.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

/// The runtime's hidden support module.
pub(crate) fn private() -> TokenStream {
    quote!(::portico::__private)
}

/// The same path with every token at `span`, for calls whose trait-bound
/// errors must point at a user's token rather than at the attribute.
pub(crate) fn private_at(span: Span) -> TokenStream {
    quote_spanned!(span=> ::portico::__private)
}
