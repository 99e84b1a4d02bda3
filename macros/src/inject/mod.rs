//! `#[inject]`.

mod check;
mod expand;
mod parse;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

use crate::errors::Errors;
use parse::Target;

pub(crate) fn inject(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.spanned(&args, "#[inject] takes no arguments");
    }
    let item: syn::Item = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(e) => return with_errors(item, e),
    };
    match parse::parse(item, &mut errors) {
        Ok(Target::Struct(item)) => {
            check::check_struct(&item, &mut errors);
            match errors.finish() {
                Ok(()) => expand::expand_struct(&item),
                Err(e) => with_errors(item.into_token_stream(), e),
            }
        }
        Ok(Target::Fn(func)) => {
            check::check_fn(&func, &mut errors);
            match errors.finish() {
                Ok(()) => expand::expand_fn(&func),
                Err(e) => with_errors(func.into_token_stream(), e),
            }
        }
        Err(item) => match errors.finish() {
            Ok(()) => item.into_token_stream(),
            Err(e) => with_errors(item.into_token_stream(), e),
        },
    }
}

/// The user's item unchanged beside the errors, so nothing cascades.
fn with_errors(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}
