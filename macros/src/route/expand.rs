//! Emits the user's fn unchanged, plus a hidden type of the same name
//! whose `RouteDef::route()` builds the registry entry.

use std::fmt::Write;

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{Ident, LitStr};

use super::check::{CachePolicy, Checked, Source, TagPart};
use crate::emit::Emit;
use crate::exports::{PRIVATE, private_at};

/// The support module's local name inside `route()`, spanned at `span`
/// (for calls whose trait-bound errors must point at a user's token).
///
/// Every route expands to several calls into the support module, and
/// each path costs the compiler on every `cargo check` (tokens carried
/// across from the macro, resolved, lowered, hashed): `route()` imports
/// the `probe` module whole, which holds the probes' traits and the
/// support module under this name, one no user code can see, and names
/// everything through it. One import, not two: each is an item.
fn local(span: Span) -> Ident {
    Ident::new("__portico", span)
}

pub(crate) fn expand(route: &Checked<'_>) -> TokenStream {
    let func = route.func;
    let mut out = Emit::default();
    out.tokens(&func.tokens);
    if route.args.len() > 1 {
        out.tokens(extractor_checks(route));
    }
    // The type's name written as text, spanned at the attribute: a
    // snake-case type name there is the macro's, which the
    // `non_camel_case_types` lint leaves alone (an `#[allow]` on each
    // route would be one more attribute for every check to read).
    write!(
        out,
        "#[doc(hidden)] {} struct {ident} {{}} impl {PRIVATE}::RouteDef for {ident}",
        func.vis,
        ident = func.ident
    )
    .ok();
    out.group(Delimiter::Brace, Span::call_site(), |out| {
        write!(out, "fn route() -> {PRIVATE}::Route").ok();
        out.group(Delimiter::Brace, Span::call_site(), |out| {
            // Never unused: the route call names `__portico` through it.
            write!(out, "use {PRIVATE}::probe::*;").ok();
            route_call(route, out);
            if let Some(policy) = &route.cache {
                cache_policy(policy, out);
            }
        });
    });
    out.finish()
}

/// `__portico::route{N}(info, plans…, handler, describer)`, its name and
/// parentheses spanned on the return type: that fn's bound that the
/// answer is a response is what reports a return type that is not.
fn route_call(route: &Checked<'_>, out: &mut Emit) {
    let func = route.func;
    let span = route.output_span;
    let route_fn = Ident::new(&format!("route{}", route.args.len()), span);
    let p = local(span);
    out.tokens(quote_spanned!(span=> #p::#route_fn));
    out.group(Delimiter::Parenthesis, span, |out| {
        let (summary, description) = doc_comment(&func.docs);
        // No role is `""`: `check` refuses an empty one.
        let role = route.role.map(LitStr::value).unwrap_or_default();
        write!(
            out,
            "__portico::info(__portico::{}, {:?}, \"{}\", {role:?}, {summary:?}, {description:?}, &[",
            route.method,
            route.path.value(),
            // The name a client and the route table read: `type`, not
            // `r#type`.
            func.ident.unraw(),
        )
        .ok();
        for arg in &route.args {
            if let Source::Param { name, .. } = &arg.source {
                write!(out, "{name:?},").ok();
            }
        }
        out.text("]),");
        // Each argument's plan, picked by one probe spanned on its type:
        // how the runner gets it and how the route declares it (the
        // runtime's `plan` module). A parameter's probe reports a type
        // that cannot be parsed from one; an extractor's, a type that is
        // none.
        let plans = route.args.iter().map(|arg| {
            let (ty, span) = (arg.ty, arg.span);
            let p = local(span);
            match &arg.source {
                Source::Param { index, name } => {
                    quote_spanned!(span=> (&&&#p::param::<#ty>(#index, #name)).param_plan())
                }
                Source::Extractor => quote_spanned!(span=> (&&&&&#p::arg::<#ty>()).arg_plan()),
            }
        });
        let handler = handler(route);
        // `-> impl IntoResponse` names no type to describe.
        let response = match &func.output {
            None => quote!((&__portico::response::<()>()).describer()),
            Some(ty) if names_no_type(ty.clone()) => quote!(__portico::undocumented_response),
            Some(ty) => quote!((&__portico::response::<#ty>()).describer()),
        };
        // One stream, spliced once.
        out.tokens(quote!(#(#plans,)* #handler, #response));
    });
}

/// The handler as the runner calls it. An `async fn` is passed as it is
/// (its name spanned on the return type); a sync fn's answer is made a
/// future, and a cache tag is made from the typed parameters before they
/// move into the call, in a closure that captures nothing.
fn handler(route: &Checked<'_>) -> TokenStream {
    let func = route.func;
    let span = route.output_span;
    // Cloned, not made anew from its text: a raw name (`r#type`) is no
    // valid `Ident::new`.
    let mut callee = func.ident.clone();
    callee.set_span(span);
    let tag = route.cache.as_ref().filter(|c| !c.tag.is_empty());
    if func.asyncness && tag.is_none() {
        return quote!(#callee);
    }
    let p = local(Span::call_site());
    let bindings: Vec<_> = (0..route.args.len())
        .map(|i| format_ident!("__portico_arg{}", i))
        .collect();
    let call = if func.asyncness {
        quote_spanned!(span=> #callee(#(#bindings),*))
    } else {
        quote_spanned!(span=> ::core::future::ready(#callee(#(#bindings),*)))
    };
    let answer = match tag {
        Some(policy) => {
            let pieces = policy.tag.iter().map(|part| match part {
                TagPart::Text(text) => quote!(__portico_tag.push_str(#text);),
                TagPart::Param(index) => {
                    let at = route
                        .args
                        .iter()
                        .position(|arg| matches!(&arg.source, Source::Param { index: i, .. } if i == index))
                        .expect("checked: every tag parameter is an argument");
                    let binding = &bindings[at];
                    let span = policy.tag_span;
                    quote_spanned!(span=> __portico_tag.push_str(&::std::string::ToString::to_string(&#binding));)
                }
            });
            quote! {{
                let mut __portico_tag = ::std::string::String::new();
                #(#pieces)*
                #p::tagged(#call, __portico_tag)
            }}
        }
        None => call,
    };
    let arg_types = route.args.iter().map(|arg| arg.ty);
    quote!(move |#(#bindings: #arg_types),*| #answer)
}

/// At each extractor's type after the first: that it does not read the
/// body after an earlier argument did (the first can read it whatever it
/// is, and needs no constant: each costs the compiler a body to
/// evaluate).
fn extractor_checks(route: &Checked<'_>) -> TokenStream {
    let extractors: Vec<(&TokenStream, Span)> = route
        .args
        .iter()
        .filter(|arg| matches!(arg.source, Source::Extractor))
        .map(|arg| (arg.ty, arg.span))
        .collect();
    let checks = extractors
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, &(ty, span))| {
            let earlier = extractors[..i].iter().map(|&(ty, span)| {
                let p = private_at(span);
                quote_spanned!(span=> #p::arg::<#ty>().takes_body)
            });
            let p = private_at(span);
            quote_spanned! {span=>
                const _: () = #p::body_read_once(#p::arg::<#ty>().takes_body && (#(#earlier)||*));
            }
        });
    quote!(#(#checks)*)
}

/// Whether the type is or holds an `impl Trait`, which names no type.
fn names_no_type(ty: TokenStream) -> bool {
    ty.into_iter().any(|tt| match tt {
        TokenTree::Ident(word) => word == "impl",
        TokenTree::Group(group) => names_no_type(group.stream()),
        _ => false,
    })
}

/// `.with_cache(CachePolicy { … })`: the policy's header values, worked
/// out at compile time.
fn cache_policy(policy: &CachePolicy, out: &mut Emit) {
    let CachePolicy {
        cache_control,
        vary,
        vary_headers,
        server_ttl,
        ..
    } = policy;
    write!(
        out,
        ".with_cache(__portico::CachePolicy {{ cache_control: {cache_control:?}, vary: {vary:?}, vary_headers: &{vary_headers:?}, server_ttl: {server_ttl} }})"
    )
    .ok();
}

/// The fn's doc comment: its first paragraph (one line) and all of it.
fn doc_comment(docs: &[String]) -> (String, String) {
    let lines: Vec<&str> = docs
        .iter()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect();
    let description = lines.join("\n").trim().to_owned();
    let summary = description
        .split("\n\n")
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (summary, description)
}
