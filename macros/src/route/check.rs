//! The rules of `#[route]`: a known method, a well-formed path, and a
//! plain fn whose arguments cover every `<param>`.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, LitStr, Pat, ReturnType, Type};

use portico_path::{MAX_PARAMS, PathError, Segment};

use super::parse::RouteArgs;
use crate::errors::Errors;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A route that passed every check: all `expand` accepts.
pub(crate) struct Checked<'a> {
    pub(crate) role: Option<&'a LitStr>,
    pub(crate) method: Ident,
    pub(crate) path: &'a LitStr,
    pub(crate) func: &'a ItemFn,
    pub(crate) args: Vec<Arg<'a>>,
    pub(crate) output_span: Span,
}

/// One argument of the handler fn.
pub(crate) struct Arg<'a> {
    pub(crate) ty: &'a Type,
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

pub(crate) fn check<'a>(args: &'a RouteArgs, func: &'a ItemFn) -> Result<Checked<'a>, syn::Error> {
    let mut errors = Errors::default();
    check_method(&args.method, &mut errors);
    let params = check_path(&args.path, &mut errors);
    check_signature(func, &mut errors);
    let handler_args = check_args(&args.path, func, &params, &mut errors);
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
        output_span: match &func.sig.output {
            ReturnType::Default => func.sig.ident.span(),
            ReturnType::Type(_, ty) => ty.span(),
        },
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

fn check_signature(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if !sig.generics.params.is_empty() {
        errors.spanned(
            &sig.generics,
            "a route handler cannot be generic: the router needs one concrete fn; use concrete types",
        );
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.spanned(where_clause, "a route handler cannot have a `where` clause");
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, "a route handler cannot be variadic");
    }
    if let Some(receiver) = sig.receiver() {
        errors.spanned(
            receiver,
            "a route handler cannot take `self`: write a free fn and take what it needs as `Dep<T>`",
        );
    }
    for input in &sig.inputs {
        if let FnArg::Typed(typed) = input
            && let Type::ImplTrait(impl_trait) = &*typed.ty
        {
            errors.spanned(
                impl_trait,
                "a route handler cannot take `impl Trait` arguments: use a concrete type",
            );
        }
    }
}

fn arg_name(pat: &Pat) -> Option<&Ident> {
    match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(&p.ident),
        _ => None,
    }
}

fn check_args<'a>(
    lit: &LitStr,
    func: &'a ItemFn,
    params: &[PathParam],
    errors: &mut Errors,
) -> Vec<Arg<'a>> {
    let typed: Vec<&syn::PatType> = func
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(t) => Some(t),
            FnArg::Receiver(_) => None,
        })
        .collect();
    for param in params {
        if !typed
            .iter()
            .any(|t| arg_name(&t.pat).is_some_and(|n| *n == param.name))
        {
            let syntax = if param.catch_all {
                format!("<{}..>", param.name)
            } else {
                format!("<{}>", param.name)
            };
            errors.spanned(
                lit,
                format!(
                    "path parameter `{syntax}` has no matching argument: add an argument `{}: T` to `{}`",
                    param.name, func.sig.ident
                ),
            );
        }
    }
    typed
        .into_iter()
        .map(|t| {
            let param =
                arg_name(&t.pat).and_then(|name| params.iter().position(|p| *name == p.name));
            Arg {
                ty: &t.ty,
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
