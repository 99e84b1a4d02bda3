//! The rules of `#[route]`: a known method, a well-formed path, and a
//! plain fn whose arguments cover every `<param>`.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use syn::LitStr;

use portico_path::{MAX_PARAMS, PathError, Segment};

use super::parse::{CacheArgs, Handler, InputKind, RouteArgs, first_span, is_ident};
use crate::errors::Errors;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A route that passed every check: all `expand` accepts.
pub(crate) struct Checked<'a> {
    pub(crate) role: Option<&'a LitStr>,
    pub(crate) method: Ident,
    pub(crate) path: &'a LitStr,
    pub(crate) func: &'a Handler,
    pub(crate) args: Vec<Arg<'a>>,
    pub(crate) output_span: Span,
    pub(crate) cache: Option<CachePolicy>,
}

/// A checked `cache(...)`, with the header values it sends worked out.
pub(crate) struct CachePolicy {
    pub(crate) cache_control: String,
    /// The `Vary` header value (empty when the answer varies by nothing
    /// but the URL).
    pub(crate) vary: String,
    /// The same names in lower case, which key the server-side cache.
    pub(crate) vary_headers: Vec<String>,
    /// Seconds a response is kept server-side (0: not kept).
    pub(crate) server_ttl: u32,
    /// The tag template, as text and path-parameter indices.
    pub(crate) tag: Vec<TagPart>,
    /// Where the tag was written.
    pub(crate) tag_span: Span,
}

pub(crate) enum TagPart {
    Text(String),
    Param(usize),
}

/// One argument of the handler fn.
pub(crate) struct Arg<'a> {
    pub(crate) ty: &'a TokenStream,
    /// The type's first token, where errors about the argument point.
    pub(crate) span: Span,
    pub(crate) source: Source,
}

pub(crate) enum Source {
    /// The `index`-th `<param>` of the path, named `name`.
    Param { index: usize, name: String },
    /// Any other argument: an extractor.
    Extractor,
}

/// A `<param>` found in the path.
struct PathParam {
    name: String,
    catch_all: bool,
}

pub(crate) fn check<'a>(args: &'a RouteArgs, func: &'a Handler) -> Result<Checked<'a>, syn::Error> {
    let mut errors = Errors::default();
    check_method(&args.method, &mut errors);
    let before = errors.len();
    let params = check_path(&args.path, &mut errors);
    // A path with too many parameters is the one mistake its arguments
    // make too: say it once.
    if errors.len() == before {
        check_arity(func, &mut errors);
    }
    check_signature(func, &mut errors);
    let handler_args = check_args(&args.path, func, &params, &mut errors);
    let cache = args
        .cache
        .as_ref()
        .and_then(|cache| check_cache(args, cache, func, &params, &mut errors));
    if let Some(role) = &args.role
        && role.value().trim().is_empty()
    {
        errors.spanned(role, "`role` names a role: it cannot be empty");
    }
    errors.finish()?;
    Ok(Checked {
        role: args.role.as_ref(),
        method: Ident::new(&args.method.to_string(), args.method.span()),
        path: &args.path,
        func,
        args: handler_args,
        cache,
        output_span: func
            .output
            .as_ref()
            .and_then(first_span)
            .unwrap_or_else(|| func.ident.span()),
    })
}

fn check_method(method: &Ident, errors: &mut Errors) {
    let name = method.to_string();
    if METHODS.contains(&name.as_str()) {
        return;
    }
    let upper = name.to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        errors.spanned(
            method,
            format!("HTTP methods are written in upper case: expected `{upper}`, found `{name}`"),
        );
    } else {
        errors.spanned(
            method,
            format!(
                "unknown HTTP method `{name}`; expected one of {}",
                METHODS.join(", ")
            ),
        );
    }
}

/// The path's parameters, by the grammar the router parses it with
/// (`portico-path`). Each broken rule is reported with the fix; a path
/// with any has no parameters to match against the arguments (which
/// would only add errors about the same mistake).
fn check_path(lit: &LitStr, errors: &mut Errors) -> Vec<PathParam> {
    let path = lit.value();
    match portico_path::parse(&path) {
        Ok(segments) => segments
            .into_iter()
            .filter_map(|segment| match segment {
                Segment::Param(name) => Some(PathParam {
                    name: name.to_owned(),
                    catch_all: false,
                }),
                Segment::CatchAll(name) => Some(PathParam {
                    name: name.to_owned(),
                    catch_all: true,
                }),
                Segment::Static(_) => None,
            })
            .collect(),
        Err(broken) => {
            for error in broken {
                errors.spanned(lit, path_message(&path, &error));
            }
            Vec::new()
        }
    }
}

/// What a broken path rule says at compile time: found, and the fix.
fn path_message(path: &str, error: &PathError) -> String {
    match error {
        PathError::NoLeadingSlash => {
            format!(r#"a route path must start with `/`: expected "/{path}", found "{path}""#)
        }
        PathError::EmptySegment => {
            let fixed: String = path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| format!("/{s}"))
                .collect();
            let fixed = if fixed.is_empty() {
                "/".to_owned()
            } else {
                fixed
            };
            format!(r#"a route path has no empty segments: expected "{fixed}", found "{path}""#)
        }
        PathError::CatchAllNotLast { name } => format!(
            "catch-all `<{name}..>` must be the last segment of the path; move it to the end or make it `<{name}>`"
        ),
        PathError::BadParamName { name } => {
            format!("parameter name `{name}` is not a Rust identifier; it must name a fn argument")
        }
        PathError::DuplicateParam { name } => format!(
            "parameter `<{name}>` appears twice in the path; each parameter needs its own name"
        ),
        PathError::TooManyParams { found } => format!(
            "a route path has at most {MAX_PARAMS} parameters, found {found}; take the rest from the query string"
        ),
        // The grammar's own wording already says what to write.
        other => other.to_string(),
    }
}

fn check_signature(func: &Handler, errors: &mut Errors) {
    if let Some(generics) = &func.generics {
        errors.spanned(
            generics,
            "a route handler cannot be generic: the router needs one concrete fn; use concrete types",
        );
    }
    if let Some(where_clause) = &func.where_clause {
        errors.spanned(where_clause, "a route handler cannot have a `where` clause");
    }
    for input in &func.inputs {
        match input.kind {
            InputKind::Variadic => {
                errors.spanned(&input.tokens, "a route handler cannot be variadic");
            }
            InputKind::Receiver => errors.spanned(
                &input.tokens,
                "a route handler cannot take `self`: write a free fn and take what it needs as `Dep<T>`",
            ),
            InputKind::Typed if is_ident(input.ty.clone().into_iter().next().as_ref(), "impl") => {
                errors.spanned(
                    &input.ty,
                    "a route handler cannot take `impl Trait` arguments: use a concrete type",
                );
            }
            InputKind::Typed => {}
        }
    }
}

/// The most arguments a handler takes: the runtime has a runner for each
/// count up to this one (`private/call.rs`).
const MAX_ARGS: usize = 16;

fn check_arity(func: &Handler, errors: &mut Errors) {
    let inputs = &func.inputs;
    if let Some(extra) = inputs.get(MAX_ARGS) {
        errors.spanned(
            &extra.tokens,
            format!(
                "a handler takes at most {MAX_ARGS} arguments, found {}; group the rest in an `#[inject]` struct or one extractor",
                inputs.len()
            ),
        );
    }
}

fn check_args<'a>(
    lit: &LitStr,
    func: &'a Handler,
    params: &[PathParam],
    errors: &mut Errors,
) -> Vec<Arg<'a>> {
    let typed = || {
        func.inputs
            .iter()
            .filter(|input| input.kind == InputKind::Typed)
    };
    for param in params {
        if !typed().any(|input| input.name.as_ref().is_some_and(|n| *n == param.name)) {
            let syntax = if param.catch_all {
                format!("<{}..>", param.name)
            } else {
                format!("<{}>", param.name)
            };
            errors.spanned(
                lit,
                format!(
                    "path parameter `{syntax}` has no matching argument: add an argument `{}: T` to `{}`",
                    param.name, func.ident
                ),
            );
        }
    }
    typed()
        .map(|input| {
            let param = input
                .name
                .as_ref()
                .and_then(|name| params.iter().position(|p| *name == p.name));
            Arg {
                ty: &input.ty,
                span: input.ty_span(),
                source: match param {
                    Some(index) => Source::Param {
                        index,
                        name: params[index].name.clone(),
                    },
                    None => Source::Extractor,
                },
            }
        })
        .collect()
}

/// Whether an argument reads the caller's token: `Claims<T>`, also inside
/// `Option`. (An extractor of the user's own that reads `Authorization`
/// is declared with `vary = "Authorization"`.)
fn reads_claims(ty: &TokenStream) -> bool {
    // The path's last segment: the last word before its `<…>`.
    let mut tokens = ty.clone().into_iter();
    let mut last = None;
    for tt in tokens.by_ref() {
        match tt {
            TokenTree::Ident(word) => last = Some(word),
            TokenTree::Punct(p) if p.as_char() == ':' => {}
            TokenTree::Punct(p) if matches!(p.as_char(), '<' | '>' | ',') => break,
            _ => return false,
        }
    }
    match last {
        Some(word) if word == "Claims" => true,
        Some(word) if word == "Option" => {
            let inner: TokenStream = tokens.collect();
            reads_claims(&inner)
        }
        _ => false,
    }
}

fn seconds(lit: &syn::LitInt, errors: &mut Errors) -> Option<u32> {
    match lit.base10_parse::<u32>() {
        Ok(value) => Some(value),
        Err(_) => {
            errors.spanned(
                lit,
                "expected a whole number of seconds, at most 4294967295",
            );
            None
        }
    }
}

/// RFC 9110 `tchar`: what a header name is made of.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn check_cache(
    args: &RouteArgs,
    cache: &CacheArgs,
    func: &Handler,
    params: &[PathParam],
    errors: &mut Errors,
) -> Option<CachePolicy> {
    let before = errors.len();
    if args.method != "GET" {
        errors.spanned(
            &cache.name,
            format!(
                "`cache` applies to GET routes: a response to {} is not reused by caches (RFC 9111 §2), and the write it makes must reach the handler",
                args.method
            ),
        );
    }
    let claims = func.inputs.iter().any(|input| reads_claims(&input.ty));
    let personal = claims || args.role.is_some();
    if let Some(public) = &cache.public {
        if personal {
            errors.spanned(
                public,
                "a route that reads the caller's token (`Claims`, `role =`) cannot be cached `public`: a shared cache would hand one caller's answer to another; use `private`",
            );
        }
        if cache.private.is_some() {
            errors.spanned(
                public,
                "`public` and `private` contradict each other; keep one",
            );
        }
    }
    let max_age = cache.max_age.as_ref().and_then(|lit| seconds(lit, errors));
    let swr = cache
        .stale_while_revalidate
        .as_ref()
        .and_then(|lit| seconds(lit, errors));
    match (&cache.max_age, &cache.no_cache) {
        (Some(lit), Some(_)) => errors.spanned(
            lit,
            "`max_age` and `no_cache` contradict each other: `no_cache` makes every use revalidate",
        ),
        (None, None) => errors.spanned(
            &cache.name,
            "`cache(...)` needs `max_age = N` (seconds a response stays fresh) or `no_cache` (stored, revalidated with its ETag on every use)",
        ),
        _ => {}
    }
    if let (Some(lit), None) = (&cache.stale_while_revalidate, &cache.max_age) {
        errors.spanned(
            lit,
            "`stale_while_revalidate` extends `max_age`: give `max_age = N` too",
        );
    }
    let server_ttl = match (&cache.server, &cache.server_ttl) {
        (_, Some(lit)) => seconds(lit, errors),
        (Some(server), None) => {
            if max_age.is_none() {
                errors.spanned(
                    server,
                    "`server` keeps a response for `max_age` unless told how long: write `server = N` (seconds)",
                );
            }
            max_age
        }
        (None, None) => None,
    };
    if let Some(server) = &cache.server
        && personal
    {
        errors.spanned(
            server,
            "a route that reads the caller's token (`Claims`, `role =`) cannot keep answers server-side: a kept answer would be served without checking the token again; leave `server` out",
        );
    }
    if let (Some(lit), Some(0)) = (&cache.server_ttl, server_ttl) {
        errors.spanned(lit, "`server = 0` keeps nothing; leave `server` out");
    }
    if let (Some(lit), None) = (&cache.tag, &cache.server) {
        errors.spanned(
            lit,
            "a `tag` invalidates responses kept server-side: add `server`",
        );
    }
    let mut vary = Vec::new();
    if personal {
        vary.push("Authorization".to_owned());
    }
    if let Some(lit) = &cache.vary {
        for name in lit.value().split(',').map(str::trim) {
            if !is_token(name) {
                errors.spanned(
                    lit,
                    format!("`{name}` is not a header name; `vary` lists header names separated by commas"),
                );
            } else if !vary.iter().any(|v| v.eq_ignore_ascii_case(name)) {
                vary.push(name.to_owned());
            }
        }
    }
    let mut tag = Vec::new();
    if let Some(lit) = &cache.tag {
        let text = lit.value();
        let mut rest = text.as_str();
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>') else {
                errors.spanned(lit, "a `<` in the tag is not closed: write `<param>`");
                break;
            };
            let name = &rest[open + 1..open + close];
            match params.iter().position(|p| p.name == name) {
                Some(index) => {
                    if open > 0 {
                        tag.push(TagPart::Text(rest[..open].to_owned()));
                    }
                    tag.push(TagPart::Param(index));
                }
                None => errors.spanned(
                    lit,
                    format!(
                        "the tag names `<{name}>`, which is not a parameter of the path \"{}\"",
                        args.path.value()
                    ),
                ),
            }
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            tag.push(TagPart::Text(rest.to_owned()));
        }
        if text.is_empty() {
            errors.spanned(lit, "a tag cannot be empty");
        }
    }
    if errors.len() > before {
        return None;
    }
    let visibility = if cache.public.is_some() {
        "public"
    } else {
        "private"
    };
    let cache_control = match (max_age, swr) {
        (Some(age), Some(swr)) => {
            format!("{visibility}, max-age={age}, stale-while-revalidate={swr}")
        }
        (Some(age), None) => format!("{visibility}, max-age={age}"),
        _ => format!("{visibility}, no-cache"),
    };
    Some(CachePolicy {
        cache_control,
        vary_headers: vary.iter().map(|v| v.to_ascii_lowercase()).collect(),
        vary: vary.join(", "),
        server_ttl: server_ttl.unwrap_or(0),
        tag,
        tag_span: cache.tag.as_ref().map_or(cache.name.span(), LitStr::span),
    })
}
