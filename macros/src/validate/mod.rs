//! `#[derive(Validate)]`.

mod check;
mod expand;
mod parse;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::errors::Errors;

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    let parsed = parse::parse(input, &mut errors);
    if let Some(parsed) = &parsed {
        check::check(parsed, &mut errors);
    }
    match (parsed, errors.finish()) {
        (Some(parsed), Ok(())) => expand::expand(&parsed),
        // A derive cannot re-emit the struct (it is already there); the
        // errors alone, each at its span, do not cascade.
        (_, Err(e)) => e.to_compile_error(),
        (None, Ok(())) => unreachable!("parse fails only with an error"),
    }
}
