//! The rules of `#[route]`: a known method, a well-formed path, and a
//! plain fn whose arguments cover every `<param>`.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, LitStr, Pat, ReturnType, Type};

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
    errors.finish()?;
    if let Some(role) = &args.role
        && role.value().trim().is_empty()
    {
        return Err(syn::Error::new_spanned(
            role,
            "`role` names a role: it cannot be empty",
        ));
    }
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

fn check_path(lit: &LitStr, errors: &mut Errors) -> Vec<PathParam> {
    let path = lit.value();
    let mut params: Vec<PathParam> = Vec::new();
    let Some(rest) = path.strip_prefix('/') else {
        errors.spanned(
            lit,
            format!(r#"a route path must start with `/`: expected "/{path}", found "{path}""#),
        );
        return params;
    };
    if rest.is_empty() {
        return params;
    }
    for (i, segment) in rest.split('/').enumerate() {
        if segment.is_empty() {
            let fixed = format!(
                "/{}",
                rest.split('/')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("/")
            );
            errors.spanned(
                lit,
                format!(
                    r#"a route path has no empty segments: expected "{fixed}", found "{path}""#
                ),
            );
            return params;
        }
        if let Some(last) = params.last().filter(|p| p.catch_all) {
            errors.spanned(
                lit,
                format!(
                    "catch-all `<{}..>` must be the last segment of the path, but segment {} follows it",
                    last.name,
                    i + 1
                ),
            );
            return params;
        }
        if !segment.contains(['<', '>']) {
            continue;
        }
        let Some(inner) = segment.strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
            errors.spanned(
                lit,
                format!(
                    "malformed parameter `{segment}`: a parameter is a whole segment written `<name>` or `<name..>`"
                ),
            );
            continue;
        };
        let (name, catch_all) = match inner.strip_suffix("..") {
            Some(name) => (name, true),
            None => (inner, false),
        };
        if name.is_empty() {
            errors.spanned(
                lit,
                format!("empty parameter `{segment}`: name it after its fn argument, as in `<id>`"),
            );
            continue;
        }
        if name.contains(['<', '>']) {
            errors.spanned(
                lit,
                format!("malformed parameter `{segment}`: write `<name>` or `<name..>`"),
            );
            continue;
        }
        if syn::parse_str::<Ident>(name).is_err() {
            errors.spanned(
                lit,
                format!(
                    "parameter name `{name}` is not a Rust identifier; it must name a fn argument"
                ),
            );
            continue;
        }
        if params.iter().any(|p| p.name == name) {
            errors.spanned(
                lit,
                format!("parameter `<{name}>` appears twice in the path; each parameter needs its own name"),
            );
            continue;
        }
        params.push(PathParam {
            name: name.to_owned(),
            catch_all,
        });
    }
    params
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
