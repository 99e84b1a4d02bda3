//! Emits the user's fn unchanged, plus a hidden type of the same name
//! whose `RouteDef::route()` builds the registry entry.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::check::{CachePolicy, Checked, Source, TagPart};
use crate::exports::{private, private_at};

/// The support module's local name inside `route()`, spanned at `span`
/// (for calls whose trait-bound errors must point at a user's token).
///
/// Every route expands to many calls into the support module, and each
/// path costs the compiler on every `cargo check` (tokens carried across
/// from the macro, resolved, lowered, hashed): `route()` imports the
/// module once, under a name no user code can see, with the probes'
/// traits, and names everything through it.
fn local(span: proc_macro2::Span) -> TokenStream {
    quote_spanned!(span=> __portico)
}

pub(crate) fn expand(route: &Checked<'_>) -> TokenStream {
    let p = local(proc_macro2::Span::call_site());
    let func = route.func;
    let vis = &func.vis;
    let name = &func.sig.ident;
    let name_str = name.to_string();
    let method = &route.method;
    let path = route.path;

    let bindings: Vec<_> = (0..route.args.len())
        .map(|i| format_ident!("__portico_arg{}", i))
        .collect();
    // Each argument's type as tokens, and its span, worked out once: both
    // walk the whole type, and each is wanted several times below.
    let types: Vec<(TokenStream, proc_macro2::Span)> = route
        .args
        .iter()
        .map(|arg| (arg.ty.to_token_stream(), arg.ty.span()))
        .collect();
    // How the runner gets each argument (see the runtime's `call`
    // module), spanned on the argument's type: a parameter's plan, so a
    // type that cannot be parsed from one is reported there; an
    // extractor's probe, whose making reports a type that is none.
    let arg_plans = route.args.iter().zip(&types).map(|(arg, (ty, span))| {
        let p = local(*span);
        match &arg.source {
            Source::Param { index, name } => {
                quote_spanned!(*span=> (&&#p::param::<#ty>(#index, #name)).parse_plan())
            }
            Source::Extractor => quote_spanned!(*span=> (&&#p::arg::<#ty>()).run_plan()),
        }
    });
    // The handler, spanned on the return type, so a type that is no
    // response is reported there. A sync fn's answer is made a future,
    // and a cache tag is made from the typed parameters before they move
    // into the call.
    let span = route.output_span;
    let callee = Ident::new(&name_str, span);
    let p_at = local(span);
    let arg_types = types.iter().map(|(ty, _)| ty);
    let tag = route.cache.as_ref().filter(|c| !c.tag.is_empty());
    let handler = if func.sig.asyncness.is_some() && tag.is_none() {
        quote!(#callee)
    } else {
        let call = if func.sig.asyncness.is_some() {
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
        quote!(move |#(#bindings: #arg_types),*| #answer)
    };
    let run = Ident::new(&format!("run{}", route.args.len()), span);
    let role = match route.role {
        Some(role) => quote!(#p::Some(#role)),
        None => quote!(#p::None),
    };
    // Spanned on the return type too, the runner's name included: the
    // runner's bound that the answer is a response is what reports a
    // return type that is not. A closure rather than a nested fn: one
    // item fewer for the compiler to lower, hash and check on every
    // `cargo check`.
    let handler_fn = quote_spanned!(span=> |__portico_ctx| #p_at::#run(__portico_ctx, #role, #(#arg_plans,)* #handler));
    // At each extractor's type after the first: that it does not read
    // the body after an earlier argument did (the first can read it
    // whatever it is, and needs no constant: each costs the compiler a
    // body to evaluate).
    let extractors: Vec<&(TokenStream, proc_macro2::Span)> = route
        .args
        .iter()
        .zip(&types)
        .filter(|(arg, _)| matches!(arg.source, Source::Extractor))
        .map(|(_, ty)| ty)
        .collect();
    let extractor_checks = extractors
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, (ty, span))| {
            let earlier = extractors[..i].iter().map(|(ty, span)| {
                let p = private_at(*span);
                quote_spanned!(*span=> #p::arg::<#ty>().takes_body)
            });
            let p = private_at(*span);
            quote_spanned! {*span=>
                const _: () = #p::body_read_once(#p::arg::<#ty>().takes_body && (#(#earlier)||*));
            }
        });

    let cache = route
        .cache
        .as_ref()
        .map(|policy| cache_policy(policy, &p))
        .unwrap_or_default();
    // Each argument's plan for the declarations (dependencies, OpenAPI),
    // picked where its type is known; the runtime's generic code does
    // the rest (its `declare` module).
    let declared_plans = route
        .args
        .iter()
        .zip(&types)
        .map(|(arg, (ty, _))| match &arg.source {
            Source::Param { .. } => quote!((&&#p::param_probe::<#ty>()).param_plan()),
            Source::Extractor => quote!((&&&#p::extractor::<#ty>()).extractor_plan()),
        });
    let params = route.args.iter().filter_map(|arg| match &arg.source {
        Source::Param { name, .. } => Some(name),
        Source::Extractor => None,
    });
    let (summary, description) = doc_comment(&route.func.attrs);
    let output = match &route.func.sig.output {
        syn::ReturnType::Default => quote!(()),
        syn::ReturnType::Type(_, ty) => quote!(#ty),
    };
    // `-> impl IntoResponse` names no type to describe.
    let response = if output.to_string().contains("impl ") {
        quote!(#p::undocumented_response)
    } else {
        quote!((&#p::response::<#output>()).describer())
    };

    let func_tokens = &func.tokens;
    let private = private();
    quote! {
        #func_tokens

        #(#extractor_checks)*

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #name {}

        impl #private::RouteDef for #name {
            fn route() -> #private::Route {
                use #private as #p;
                #[allow(unused_imports)]
                use #p::probe::*;
                #p::route(
                    #p::RouteInfo {
                        method: #p::Method::#method,
                        path: #path,
                        name: #name_str,
                        handler: #handler_fn,
                        role: #role,
                        summary: #summary,
                        description: #description,
                        params: &[#(#params),*],
                    },
                    (#(#declared_plans,)*),
                    #response,
                )
                #cache
            }
        }
    }
}

/// `.with_cache(CachePolicy { … })`: the policy's header values, worked
/// out at compile time.
fn cache_policy(policy: &CachePolicy, p: &TokenStream) -> TokenStream {
    let CachePolicy {
        cache_control,
        vary,
        vary_headers,
        server_ttl,
        ..
    } = policy;
    quote! {
        .with_cache(#p::CachePolicy {
            cache_control: #cache_control,
            vary: #vary,
            vary_headers: &[#(#vary_headers),*],
            server_ttl: #server_ttl,
        })
    }
}

/// The fn's doc comment: its first paragraph (one line) and all of it.
fn doc_comment(attrs: &[syn::Attribute]) -> (String, String) {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(text),
                        ..
                    }),
                ..
            }) => Some(text.value()),
            _ => None,
        })
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_owned()
        })
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
