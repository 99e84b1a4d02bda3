//! `#[route(METHOD, "path")]` and `routes![…]`.

mod check;
mod expand;
mod parse;

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;

use crate::emit::Emit;
use crate::errors::{Errors, with_errors};
use crate::exports::PRIVATE;
use parse::{Handler, RouteArgs};

pub(crate) fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = syn::parse2::<RouteArgs>(args)
        .map_err(|e| errors.push(e))
        .ok();
    let func = match Handler::parse(item.clone()) {
        Ok(func) => func,
        // Another item: only now parsed whole, to point at its keyword.
        Err(None) => {
            match syn::parse2::<syn::Item>(item.clone()) {
                Ok(other) => errors.spanned(
                    item_keyword(&other),
                    "#[route] can only be put on a handler function (`async fn`)",
                ),
                Err(e) => errors.push(e),
            }
            return with_errors(item, errors);
        }
        Err(Some(e)) => {
            errors.push(e);
            return with_errors(item, errors);
        }
    };
    let Some(args) = args else {
        return with_errors(func.tokens, errors);
    };
    match check::check(&args, &func) {
        Ok(checked) => expand::expand(&checked),
        Err(e) => {
            errors.push(e);
            with_errors(func.tokens, errors)
        }
    }
}

/// The token to point at for a misplaced attribute: the item's keyword
/// (`struct`, `impl`, …) rather than its whole body.
fn item_keyword(item: &syn::Item) -> TokenStream {
    match item {
        syn::Item::Struct(i) => i.struct_token.into_token_stream(),
        syn::Item::Enum(i) => i.enum_token.into_token_stream(),
        syn::Item::Impl(i) => i.impl_token.into_token_stream(),
        syn::Item::Trait(i) => i.trait_token.into_token_stream(),
        syn::Item::Mod(i) => i.mod_token.into_token_stream(),
        syn::Item::Const(i) => i.const_token.into_token_stream(),
        syn::Item::Static(i) => i.static_token.into_token_stream(),
        syn::Item::Type(i) => i.type_token.into_token_stream(),
        syn::Item::Union(i) => i.union_token.into_token_stream(),
        other => other.into_token_stream(),
    }
}

pub(crate) fn routes(input: TokenStream) -> TokenStream {
    let paths = match handler_paths(input) {
        Ok(paths) => paths,
        Err(e) => return e.to_compile_error(),
    };
    let mut out = Emit::default();
    out.text("::std::vec!");
    out.group(Delimiter::Bracket, Span::call_site(), |out| {
        for path in paths {
            out.text("<")
                .tokens(path)
                .text(&format!(" as {PRIVATE}::RouteDef>::route(),"));
        }
    });
    out.finish()
}

/// `a, b::c, …`: the paths, read by hand for what `routes` costs every
/// `cargo check` (see `emit`); the compiler resolves them.
fn handler_paths(input: TokenStream) -> Result<Vec<TokenStream>, syn::Error> {
    let mut paths = Vec::new();
    let mut path = TokenStream::new();
    let mut expect_name = true;
    let mut last = None;
    for tt in input {
        last = Some(tt.span());
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' && !expect_name => {
                paths.push(std::mem::take(&mut path));
                expect_name = true;
                continue;
            }
            TokenTree::Punct(p) if p.as_char() == ':' => expect_name = true,
            TokenTree::Ident(_) if expect_name => expect_name = false,
            _ => {
                return Err(syn::Error::new(
                    tt.span(),
                    "expected handler names separated by commas, as in `routes![list_users, get_user]`",
                ));
            }
        }
        path.extend([tt]);
    }
    if !path.is_empty() {
        if expect_name {
            let at = last.unwrap_or_else(Span::call_site);
            return Err(syn::Error::new(at, "expected a handler name after `::`"));
        }
        paths.push(path);
    }
    Ok(paths)
}
