//! `#[inject]`.

mod check;
mod expand;
mod parse;

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::errors::{Errors, with_errors};

pub(crate) fn inject(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.spanned(&args, "#[inject] takes no arguments");
    }
    let item: syn::Item = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(e) => {
            errors.push(e);
            return with_errors(item, errors);
        }
    };
    let target = match parse::parse(item, &mut errors) {
        Ok(target) => target,
        Err(item) => return with_errors(item.into_token_stream(), errors),
    };
    match check::check(target, &mut errors) {
        Ok(checked) => expand::expand(&checked),
        Err(target) => with_errors(target.into_token_stream(), errors),
    }
}
