//! Emits `Inject` and `FromRequest` for a struct, and per-argument checks
//! for a provider fn.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Fields, FnArg, ItemFn, ItemStruct};

use super::check::Checked;
use super::parse::Target;
use crate::exports::{infallible, private, result};

pub(crate) fn expand(checked: &Checked) -> TokenStream {
    match checked.target() {
        Target::Struct(item) => expand_struct(item),
        Target::Fn(func) => expand_fn(func),
    }
}

/// A struct is built field by field from the container; it is also an
/// extractor, so a handler can take it directly.
fn expand_struct(item: &ItemStruct) -> TokenStream {
    let p = private();
    let result = result();
    let infallible = infallible();
    let ident = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let types: Vec<_> = item.fields.iter().map(|f| &f.ty).collect();
    // Spanned on each field's type: a type that cannot be injected is
    // reported there, with `Inject`'s own message.
    let declares = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> <#ty as #p::Inject>::declare(needs);));
    let resolves = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> <#ty as #p::Inject>::resolve(scope)));
    let build = match &item.fields {
        Fields::Named(named) => {
            let names = named.named.iter().map(|f| &f.ident);
            quote!(#ident { #(#names: #resolves),* })
        }
        Fields::Unnamed(_) => quote!(#ident ( #(#resolves),* )),
        Fields::Unit => quote!(#ident),
    };
    quote! {
        #item

        impl #impl_generics #p::Inject for #ident #ty_generics #where_clause {
            fn declare(needs: &mut #p::Needs) {
                needs.through::<Self>(|needs| { #(#declares)* });
            }

            fn resolve(#[allow(unused_variables)] scope: &mut #p::Scope<'_>) -> Self {
                #build
            }
        }

        impl #impl_generics #p::FromRequest for #ident #ty_generics #where_clause {
            type Rejection = #infallible;

            fn declare(needs: &mut #p::Needs) {
                <Self as #p::Inject>::declare(needs);
            }

            async fn from_request(
                ctx: &mut #p::RequestContext<'_>,
            ) -> #result<Self, Self::Rejection> {
                #result::Ok(<Self as #p::Inject>::resolve(&mut #p::scope(ctx)))
            }
        }
    }
}

/// A provider fn stays as written; each argument is checked to be
/// injectable, at its type, so a mistake is reported there rather than as
/// an opaque bound when the fn is registered.
fn expand_fn(func: &ItemFn) -> TokenStream {
    let p = private();
    let checks = func.sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(typed) => {
            let ty = &typed.ty;
            Some(quote_spanned!(ty.span()=> #p::assert_inject::<#ty>();))
        }
        FnArg::Receiver(_) => None,
    });
    quote! {
        #func

        const _: fn() = || {
            #(#checks)*
        };
    }
}
