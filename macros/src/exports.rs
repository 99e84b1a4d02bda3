//! Absolute paths of everything generated code names, in one table, so
//! that user imports can never break an expansion.

use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn private() -> TokenStream {
    quote!(::portico::__private)
}
