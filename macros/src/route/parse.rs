//! Reads `#[route(METHOD, "path")]` and the item it sits on.

use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitInt, LitStr, Token};

/// The attribute's arguments, read as loosely as possible so that `check`
/// can report a wrong method and a wrong path in the same compile.
pub(crate) struct RouteArgs {
    pub(crate) method: Ident,
    pub(crate) path: LitStr,
    /// `role = "admin"`: a valid bearer token with that role is required.
    pub(crate) role: Option<LitStr>,
    /// `cache(...)`: the route's caching policy.
    pub(crate) cache: Option<CacheArgs>,
}

/// `cache(max_age = 60, private, stale_while_revalidate = 30, no_cache,
/// server = 60, tag = "user:<id>", vary = "Accept-Language")`, as written.
pub(crate) struct CacheArgs {
    /// The `cache` token, where errors about the whole policy point.
    pub(crate) name: Ident,
    pub(crate) max_age: Option<LitInt>,
    pub(crate) stale_while_revalidate: Option<LitInt>,
    pub(crate) public: Option<Ident>,
    pub(crate) private: Option<Ident>,
    pub(crate) no_cache: Option<Ident>,
    pub(crate) server: Option<Ident>,
    /// `server = N`: seconds kept server-side, when not `max_age`.
    pub(crate) server_ttl: Option<LitInt>,
    pub(crate) tag: Option<LitStr>,
    pub(crate) vary: Option<LitStr>,
}

const CACHE_KEYS: &str = "max_age = N, stale_while_revalidate = N, public, private, no_cache, server or server = N, tag = \"…\", vary = \"…\"";

impl CacheArgs {
    fn parse(name: Ident, input: ParseStream) -> syn::Result<Self> {
        let content;
        syn::parenthesized!(content in input);
        let mut args = CacheArgs {
            name,
            max_age: None,
            stale_while_revalidate: None,
            public: None,
            private: None,
            no_cache: None,
            server: None,
            server_ttl: None,
            tag: None,
            vary: None,
        };
        while !content.is_empty() {
            let key: Ident = content.call(syn::ext::IdentExt::parse_any)?;
            let repeated = || {
                syn::Error::new(
                    key.span(),
                    format!("`{key}` is given twice in `cache(...)`"),
                )
            };
            match key.to_string().as_str() {
                "max_age" | "stale_while_revalidate" => {
                    content.parse::<Token![=]>()?;
                    let value: LitInt = content.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            format!("`{key}` takes a number of seconds: `{key} = 60`"),
                        )
                    })?;
                    let slot = if key == "max_age" {
                        &mut args.max_age
                    } else {
                        &mut args.stale_while_revalidate
                    };
                    if slot.replace(value).is_some() {
                        return Err(repeated());
                    }
                }
                "tag" | "vary" => {
                    content.parse::<Token![=]>()?;
                    let value: LitStr = content.parse().map_err(|e| {
                        syn::Error::new(e.span(), format!("`{key}` takes a string literal"))
                    })?;
                    let slot = if key == "tag" {
                        &mut args.tag
                    } else {
                        &mut args.vary
                    };
                    if slot.replace(value).is_some() {
                        return Err(repeated());
                    }
                }
                "public" | "private" | "no_cache" | "server" => {
                    let slot = match key.to_string().as_str() {
                        "public" => &mut args.public,
                        "private" => &mut args.private,
                        "no_cache" => &mut args.no_cache,
                        _ => &mut args.server,
                    };
                    if slot.replace(key.clone()).is_some() {
                        return Err(repeated());
                    }
                    if key == "server" && content.peek(Token![=]) {
                        content.parse::<Token![=]>()?;
                        args.server_ttl = Some(content.parse().map_err(|e| {
                            syn::Error::new(
                                e.span(),
                                "`server` takes a number of seconds: `server = 60`",
                            )
                        })?);
                    }
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown `cache` setting `{key}`; expected {CACHE_KEYS}"),
                    ));
                }
            }
            if !content.is_empty() {
                content.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
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
        let mut cache = None;
        while input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let name: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            if name == "cache" && cache.is_none() && input.peek(syn::token::Paren) {
                cache = Some(CacheArgs::parse(name, input)?);
                continue;
            }
            if name != "role" || role.is_some() {
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "unexpected argument `{name}`; after the method and the path, #[route] takes `role = \"…\"` and `cache(...)`"
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
                "unexpected argument; {USAGE} takes a method, a path and optionally `role = \"…\"` and `cache(...)`"
            )));
        }
        Ok(RouteArgs {
            method,
            path,
            role,
            cache,
        })
    }
}

/// The fn a `#[route]` sits on: what the macro reads of it (attributes,
/// visibility, signature), with its body left unparsed — nothing here
/// needs it, and parsing every handler's body was half of what the macro
/// itself cost each `cargo check`. The fn is emitted as written.
pub(crate) struct Handler {
    pub(crate) attrs: Vec<syn::Attribute>,
    pub(crate) sig: syn::Signature,
    pub(crate) vis: syn::Visibility,
    /// The fn's tokens, as written.
    pub(crate) tokens: proc_macro2::TokenStream,
}

impl Handler {
    /// Reads `item` as a fn, or says why it is none: `Err(None)` when it
    /// is some other item (the caller reports that, at its keyword).
    pub(crate) fn parse(item: proc_macro2::TokenStream) -> Result<Self, Option<syn::Error>> {
        // Only what comes before the body is parsed: the body, the last
        // token tree when it is `{ … }`, is never walked.
        let mut head: Vec<proc_macro2::TokenTree> = item.clone().into_iter().collect();
        let has_body = matches!(head.last(),
            Some(proc_macro2::TokenTree::Group(body)) if body.delimiter() == proc_macro2::Delimiter::Brace);
        if has_body {
            head.pop();
        }
        let parser = |input: ParseStream| {
            let attrs = input.call(syn::Attribute::parse_outer)?;
            let vis: syn::Visibility = input.parse()?;
            if !Self::starts_fn(input) {
                input.parse::<proc_macro2::TokenStream>()?;
                return Ok(None);
            }
            let sig: syn::Signature = input.parse()?;
            if !has_body || !input.is_empty() {
                return Err(input.error("expected the handler's body, `{ … }`"));
            }
            Ok(Some((attrs, vis, sig)))
        };
        match syn::parse::Parser::parse2(parser, head.into_iter().collect()) {
            Ok(Some((attrs, vis, sig))) => Ok(Handler {
                attrs,
                sig,
                vis,
                tokens: item,
            }),
            Ok(None) => Err(None),
            Err(e) => Err(Some(e)),
        }
    }

    /// Whether a fn signature comes next (`fn`, or `async`, `const`,
    /// `unsafe`, `extern` starting one rather than another item).
    fn starts_fn(input: ParseStream) -> bool {
        input.peek(Token![fn])
            || input.peek(Token![async])
            || input.peek(Token![const]) && !input.peek2(syn::Ident) && !input.peek2(Token![_])
            || input.peek(Token![unsafe])
                && !input.peek2(Token![impl])
                && !input.peek2(Token![trait])
            || input.peek(Token![extern])
                && !input.peek2(Token![crate])
                && !input.peek2(syn::token::Brace)
    }
}
