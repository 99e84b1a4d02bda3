//! Emits the user's fn unchanged, plus a hidden type of the same name
//! whose `RouteDef::route()` builds the registry entry.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::check::{CachePolicy, Checked, Source, TagPart};
use crate::exports::{phantom_data, private, private_at, result};

pub(crate) fn expand(route: &Checked<'_>) -> TokenStream {
    let p = private();
    let result = result();
    let phantom_data = phantom_data();
    let func = route.func;
    let vis = &func.vis;
    let name = &func.sig.ident;
    let name_str = name.to_string();
    let method = &route.method;
    let path = route.path;

    let bindings: Vec<_> = (0..route.args.len())
        .map(|i| format_ident!("__portico_arg{}", i))
        .collect();
    // Each extraction is spanned on its argument's type, so a type that is
    // neither an extractor nor a parameter is reported right there.
    let extractions = route.args.iter().zip(&bindings).map(|(arg, binding)| {
        let ty = arg.ty;
        let call = match &arg.source {
            Source::Param { index, name } => quote_spanned! {ty.span()=>
                #p::param::<#ty>(__portico_ctx, #index, #name)
            },
            Source::Extractor => quote_spanned! {ty.span()=>
                {
                    #[allow(unused_imports)]
                    use #p::{ViaExtractor as _, ViaNoExtractor as _};
                    (&#p::ExtractProbe::<#ty>(#phantom_data)).extract(__portico_ctx).await
                }
            },
        };
        let extracted = quote_spanned! {ty.span()=>
            let #binding = match #call {
                #result::Ok(value) => value,
                #result::Err(rejection) => return #p::refuse(rejection),
            };
        };
        // An extractor carrying a `Validate` type (`Json<NewUser>`) is
        // validated here, before the handler; others pass untouched. The
        // probe picks between the two by method resolution.
        let validated = match &arg.source {
            Source::Param { .. } => TokenStream::new(),
            Source::Extractor => quote! {
                if let #result::Err(errors) = {
                    use #p::{ViaNothing as _, ViaValidated as _};
                    (&#p::Probe(&#binding)).check()
                } {
                    return #p::invalid(errors);
                }
            },
        };
        quote!(#extracted #validated)
    });
    // Spanned on the return type, so a type that is no response is
    // reported there.
    let span = route.output_span;
    let callee = Ident::new(&name_str, span);
    let call = if func.sig.asyncness.is_some() {
        quote_spanned!(span=> #callee(#(#bindings),*).await)
    } else {
        quote_spanned!(span=> #callee(#(#bindings),*))
    };
    let p_at = private_at(span);
    let respond = quote_spanned! {span=> #p_at::respond(#call) };
    // A cache tag is made from the typed parameters, before they move
    // into the call, and marks the response.
    let (make_tag, respond) = match route.cache.as_ref().filter(|c| !c.tag.is_empty()) {
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
            (
                quote! {
                    let mut __portico_tag = ::std::string::String::new();
                    #(#pieces)*
                },
                quote!(#p::tagged(#respond, __portico_tag)),
            )
        }
        None => (TokenStream::new(), respond),
    };

    // The dependencies of the extractor arguments, in the order the
    // handler takes them; the app resolves them when it is built.
    let declares = route
        .args
        .iter()
        .filter(|arg| matches!(arg.source, Source::Extractor))
        .map(|arg| {
            let ty = arg.ty;
            quote! {{
                use #p::{ViaFromRequest as _, ViaNoDeclare as _};
                (&#p::DeclareProbe::<#ty>(#phantom_data)).declare(needs);
            }}
        });

    // `role = "…"`: checked first, so its dependency (the `Jwt`) comes
    // first in the declared list too.
    let (guard, guard_need) = match route.role {
        Some(role) => (
            quote! {
                if let #result::Err(rejection) = #p::require_role(__portico_ctx, #role) {
                    return #p::refuse(rejection);
                }
            },
            quote!(#p::declare_role(needs);),
        ),
        None => (TokenStream::new(), TokenStream::new()),
    };

    // At each extractor's type: that it is one (the one place a type that
    // is not gets reported), and that it does not read the body after an
    // earlier argument did.
    let extractors: Vec<&syn::Type> = route
        .args
        .iter()
        .filter(|arg| matches!(arg.source, Source::Extractor))
        .map(|arg| arg.ty)
        .collect();
    let extractor_checks = extractors.iter().enumerate().map(|(i, ty)| {
        let earlier = extractors[..i].iter().map(|ty| {
            let p = private_at(ty.span());
            quote_spanned!(ty.span()=> #p::takes_body::<#ty>())
        });
        let p = private_at(ty.span());
        quote_spanned! {ty.span()=>
            const _: () = #p::body_read_once(#p::takes_body::<#ty>() && (false #(|| #earlier)*));
        }
    });

    let cache = route
        .cache
        .as_ref()
        .map(|policy| cache_policy(policy, &p))
        .unwrap_or_default();
    let describe = describe(route, &p, &phantom_data);

    quote! {
        #func

        #(#extractor_checks)*

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #name {}

        impl #p::RouteDef for #name {
            fn route() -> #p::Route {
                fn __portico_handler<'r, 'a>(
                    #[allow(unused_variables)] __portico_ctx: &'r mut #p::RequestContext<'a>,
                ) -> #p::HandlerFuture<'r> {
                    #p::Box::pin(async move {
                        #guard
                        #(#extractions)*
                        #make_tag
                        #respond
                    })
                }
                fn __portico_declare(#[allow(unused_variables)] needs: &mut #p::Needs) {
                    #guard_need
                    #(#declares)*
                }
                fn __portico_describe(#[allow(unused_variables)] op: &mut #p::Operation<'_>) {
                    #describe
                }
                #p::Route::new(
                    #p::Method::#method,
                    #path,
                    #name_str,
                    __portico_handler,
                    __portico_declare,
                )
                .with_describe(__portico_describe)
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

/// The body of the route's `describe` fn: its doc comment, path
/// parameters, role, extractors, caching and return type, each described
/// by its own type (see the probes in the runtime's `__private`).
fn describe(route: &Checked<'_>, p: &TokenStream, phantom_data: &TokenStream) -> TokenStream {
    let (summary, description) = doc_comment(&route.func.attrs);
    let args = route.args.iter().map(|arg| {
        let ty = arg.ty;
        match &arg.source {
            Source::Param { name, .. } => quote! {
                let schema = {
                    use #p::{ViaNoSchema as _, ViaSchema as _};
                    (&#p::SchemaProbe::<#ty>(#phantom_data)).schema(op)
                };
                op.path_param(#name, schema);
            },
            Source::Extractor => quote! {{
                use #p::{ViaDescribe as _, ViaDescribeValidated as _, ViaNoDescribe as _};
                (&&#p::DescribeProbe::<#ty>(#phantom_data)).describe(op);
            }},
        }
    });
    let role = route.role.map(|role| quote!(#p::describe_role(op, #role);));
    let cached = route
        .cache
        .as_ref()
        .map(|_| quote!(#p::describe_cached(op);));
    let output = match &route.func.sig.output {
        syn::ReturnType::Default => quote!(()),
        syn::ReturnType::Type(_, ty) => quote!(#ty),
    };
    // `-> impl IntoResponse` names no type to describe.
    let response = if output.to_string().contains("impl ") {
        quote!(op.undocumented("impl IntoResponse");)
    } else {
        quote! {{
            use #p::{ViaDescribeResponse as _, ViaNoDescribeResponse as _};
            (&#p::ResponseProbe::<#output>(#phantom_data)).describe(op);
        }}
    };
    quote! {
        op.doc(#summary, #description);
        #role
        #(#args)*
        #cached
        #response
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
