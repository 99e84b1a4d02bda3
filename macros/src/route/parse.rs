//! Reads `#[route(METHOD, "path")]` and the item it sits on.

use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token};

/// The attribute's arguments, read as loosely as possible so that `check`
/// can report a wrong method and a wrong path in the same compile.
pub(crate) struct RouteArgs {
    pub(crate) method: Ident,
    pub(crate) path: LitStr,
    /// `role = "admin"`: a valid bearer token with that role is required.
    pub(crate) role: Option<LitStr>,
}

const USAGE: &str =
    r#"expected `#[route(METHOD, "/path")]`, for example `#[route(GET, "/users/<id>")]`"#;

impl Parse for RouteArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error(USAGE));
        }
        if input.peek(LitStr) {
            return Err(input.error(
                r#"the method comes first, as an upper-case word: `#[route(GET, "/path")]`"#,
            ));
        }
        let method: Ident = input
            .call(syn::ext::IdentExt::parse_any)
            .map_err(|e| syn::Error::new(e.span(), USAGE))?;
        if input.is_empty() {
            return Err(syn::Error::new(
                method.span(),
                format!(r#"missing path: write `#[route({method}, "/path")]`"#),
            ));
        }
        input.parse::<Token![,]>()?;
        let path: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                r#"expected the path as a string literal, for example "/users/<id>""#,
            )
        })?;
        let mut role = None;
        while input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let name: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            if name != "role" || role.is_some() {
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "unexpected argument `{name}`; after the method and the path, #[route] takes only `role = \"…\"`"
                    ),
                ));
            }
            input.parse::<Token![=]>()?;
            role = Some(input.parse::<LitStr>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    r#"`role` takes a string literal: `role = "admin"`"#,
                )
            })?);
        }
        if !input.is_empty() {
            return Err(input.error(format!(
                "unexpected argument; {USAGE} takes a method, a path and optionally `role = \"…\"`"
            )));
        }
        Ok(RouteArgs { method, path, role })
    }
}
