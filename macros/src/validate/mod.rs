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
    let (ident, generics) = (input.ident.clone(), input.generics.clone());
    let mut errors = Errors::default();
    let checked =
        parse::parse(input, &mut errors).and_then(|parsed| check::check(parsed, &mut errors));
    match (checked, errors.finish()) {
        (Some(checked), Ok(())) => expand::expand(&checked),
        (_, Err(e)) => {
            // A derive cannot re-emit the struct (it is already there);
            // beside the errors it emits an `impl Validate` that accepts
            // everything, so one misspelt rule is one error, not one more
            // at every `.validate()` call.
            let stub = expand::stub(&ident, &generics);
            let e = e.to_compile_error();
            quote::quote!(#stub #e)
        }
        (None, Ok(())) => unreachable!("parse and check fail only with an error"),
    }
}
