//! Emits the user's fn unchanged, plus a hidden type of the same name
//! whose `RouteDef::route()` builds the registry entry.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Type};

use super::check::{CachePolicy, Checked, Source, TagPart};
use crate::exports::{private, private_at};

/// The support module's local name inside `route()`, spanned at `span`
/// (for calls whose trait-bound errors must point at a user's token).
///
/// Every route expands to several calls into the support module, and
/// each path costs the compiler on every `cargo check` (tokens carried
/// across from the macro, resolved, lowered, hashed): `route()` imports
/// the module once, under a name no user code can see, with the probes'
/// traits, and names everything through it. An ident, not a stream: the
/// macro hands an ident to the compiler with the tokens around it, a
/// stream on its own.
fn local(span: Span) -> Ident {
    Ident::new("__portico", span)
}

pub(crate) fn expand(route: &Checked<'_>) -> TokenStream {
    let p = local(Span::call_site());
    let func = route.func;
    let vis = &func.vis;
    let name = &func.sig.ident;
    let name_str = name.to_string();
    let method = &route.method;
    let path = route.path;

    // Each argument's plan, picked by one probe spanned on its type: how
    // the runner gets it and how the route declares it (the runtime's
    // `plan` module). A parameter's probe reports a type that cannot be
    // parsed from one; an extractor's, a type that is none.
    let arg_plans = route.args.iter().map(|arg| {
        let ty = arg.ty;
        let span = ty.span();
        let p = local(span);
        match &arg.source {
            Source::Param { index, name } => {
                quote_spanned!(span=> (&&&#p::param::<#ty>(#index, #name)).param_plan())
            }
            Source::Extractor => quote_spanned!(span=> (&&&&&#p::arg::<#ty>()).arg_plan()),
        }
    });
    // The handler and the `route` fn taking it, spanned on the return
    // type: that fn's bound that the answer is a response is what reports
    // a return type that is not. An `async fn` is passed as it is; a sync
    // fn's answer is made a future, and a cache tag is made from the typed
    // parameters before they move into the call, in a closure that
    // captures nothing.
    let span = route.output_span;
    let callee = Ident::new(&name_str, span);
    let tag = route.cache.as_ref().filter(|c| !c.tag.is_empty());
    let handler = if func.sig.asyncness.is_some() && tag.is_none() {
        quote!(#callee)
    } else {
        let bindings: Vec<_> = (0..route.args.len())
            .map(|i| format_ident!("__portico_arg{}", i))
            .collect();
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
        let arg_types = route.args.iter().map(|arg| arg.ty);
        quote!(move |#(#bindings: #arg_types),*| #answer)
    };
    let route_fn = Ident::new(&format!("route{}", route.args.len()), span);
    let p_at = local(span);
    let role = match route.role {
        Some(role) => quote!(#p::Some(#role)),
        None => quote!(#p::None),
    };
    // At each extractor's type after the first: that it does not read
    // the body after an earlier argument did (the first can read it
    // whatever it is, and needs no constant: each costs the compiler a
    // body to evaluate).
    let extractors: Vec<&Type> = route
        .args
        .iter()
        .filter(|arg| matches!(arg.source, Source::Extractor))
        .map(|arg| arg.ty)
        .collect();
    let extractor_checks = extractors.iter().enumerate().skip(1).map(|(i, ty)| {
        let earlier = extractors[..i].iter().map(|ty| {
            let p = private_at(ty.span());
            quote_spanned!(ty.span()=> #p::arg::<#ty>().takes_body)
        });
        let span = ty.span();
        let p = private_at(span);
        quote_spanned! {span=>
            const _: () = #p::body_read_once(#p::arg::<#ty>().takes_body && (#(#earlier)||*));
        }
    });

    let cache = route
        .cache
        .as_ref()
        .map(|policy| cache_policy(policy, &p))
        .unwrap_or_default();
    let params = route.args.iter().filter_map(|arg| match &arg.source {
        Source::Param { name, .. } => Some(name),
        Source::Extractor => None,
    });
    let (summary, description) = doc_comment(&route.func.attrs);
    // `-> impl IntoResponse` names no type to describe.
    let response = match &route.func.sig.output {
        syn::ReturnType::Default => quote!((&#p::response::<()>()).describer()),
        syn::ReturnType::Type(_, ty) if names_no_type(ty) => quote!(#p::undocumented_response),
        syn::ReturnType::Type(_, ty) => quote!((&#p::response::<#ty>()).describer()),
    };

    // The whole call spanned on the return type, so that the bound is
    // reported there rather than at the attribute; the arguments keep
    // their own spans.
    let call = quote_spanned! {span=>
        #p_at::#route_fn(
            #p::RouteInfo {
                method: #p::Method::#method,
                path: #path,
                name: #name_str,
                role: #role,
                summary: #summary,
                description: #description,
                params: &[#(#params),*],
            },
            #(#arg_plans,)*
            #handler,
            #response,
        )
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
                #call
                #cache
            }
        }
    }
}

/// Whether `ty` is or holds an `impl Trait`, which names no type.
fn names_no_type(ty: &Type) -> bool {
    match ty {
        Type::ImplTrait(_) => true,
        Type::Group(group) => names_no_type(&group.elem),
        Type::Paren(paren) => names_no_type(&paren.elem),
        Type::Reference(reference) => names_no_type(&reference.elem),
        Type::Tuple(tuple) => tuple.elems.iter().any(names_no_type),
        Type::Array(array) => names_no_type(&array.elem),
        Type::Slice(slice) => names_no_type(&slice.elem),
        Type::Path(path) => {
            path.path
                .segments
                .iter()
                .any(|segment| match &segment.arguments {
                    syn::PathArguments::AngleBracketed(args) => args.args.iter().any(
                        |arg| matches!(arg, syn::GenericArgument::Type(ty) if names_no_type(ty)),
                    ),
                    _ => false,
                })
        }
        _ => false,
    }
}

/// `.with_cache(CachePolicy { … })`: the policy's header values, worked
/// out at compile time.
fn cache_policy(policy: &CachePolicy, p: &Ident) -> TokenStream {
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
