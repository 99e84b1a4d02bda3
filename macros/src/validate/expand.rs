//! Emits `impl Validate`: one block per field, each rule a check whose
//! error is built only when it fails, so a valid value allocates nothing.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::{Expr, Type};

use super::check::Checked;
use super::check::{Class, Optional, classify, optional_inner};
use super::parse::{Field, Kind, Rule};
use crate::exports::{private, result};

/// The runtime's `validate` module, imported under this name inside each
/// fn the derive writes, so that each of the many paths into it is two
/// segments the compiler resolves locally rather than four from the
/// crate root (every `cargo check` resolves them again). An ident, not a
/// stream: the macro hands an ident over with the tokens around it.
fn local() -> Ident {
    Ident::new("__portico_v", Span::call_site())
}

pub(crate) fn expand(input: &Checked) -> TokenStream {
    let result = result();
    let p = private();
    let v = local();
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let fields = input.fields.iter().map(|field| expand_field(field, &v));
    let described = input.fields.iter().map(|field| describe_field(field, &v));
    let whole = input.schema.iter().filter_map(|rule| match &rule.kind {
        Kind::Schema(function) => {
            let name = format!("schema: {}", path_text(function));
            Some(quote!(__rules.whole(#name);))
        }
        _ => None,
    });
    let schema = input.schema.iter().map(|rule| {
        let Kind::Schema(function) = &rule.kind else {
            return TokenStream::new();
        };
        report(
            quote_spanned!(function.span_of()=> #v::custom(self, |__v| #function(__v))),
            "__all__",
            rule,
            &v,
        )
    });
    quote! {
        // `|v| f(v)` is not redundant: it lets deref coercion adapt `f`.
        #[allow(clippy::redundant_closure)]
        impl #impl_generics #p::validate::Validate for #ident #ty_generics #where_clause {
            fn validate(&self) -> #result<(), #p::validate::ValidationErrors> {
                #[allow(unused_imports)]
                use #p::validate as #v;
                let mut __errors = #v::ValidationErrors::new();
                #(#fields)*
                #(#schema)*
                __errors.into_result()
            }

            fn describe(__rules: &mut #p::validate::SchemaRules) {
                #[allow(unused_imports)]
                use #p::validate as #v;
                #(#described)*
                #(#whole)*
            }
        }
    }
}

/// What stands in for the impl when the input has mistakes: it accepts
/// every value, and exists only so that the mistakes are the sole errors.
pub(crate) fn stub(ident: &Ident, generics: &syn::Generics) -> TokenStream {
    let p = private();
    let result = result();
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        impl #impl_generics #p::validate::Validate for #ident #ty_generics #where_clause {
            fn validate(&self) -> #result<(), #p::validate::ValidationErrors> {
                #result::Ok(())
            }
        }
    }
}

trait SpanOf {
    fn span_of(&self) -> proc_macro2::Span;
}

impl<T: ToTokens> SpanOf for T {
    fn span_of(&self) -> proc_macro2::Span {
        syn::spanned::Spanned::span(self)
    }
}

fn overrides(rule: &Rule) -> TokenStream {
    let message = rule.message.as_ref().map(|m| quote!(.with_message(#m)));
    let code = rule.code.as_ref().map(|c| quote!(.with_code(#c)));
    quote!(#message #code)
}

/// Records the error of a rule call at `key`, with the rule's overrides.
fn report(call: TokenStream, key: &str, rule: &Rule, v: &Ident) -> TokenStream {
    let overrides = overrides(rule);
    quote! {
        if let #v::Err(error) = #call {
            __errors.add(#key, error #overrides);
        }
    }
}

fn some<T: ToTokens>(value: Option<T>, v: &Ident) -> TokenStream {
    match value {
        Some(value) => quote!(#v::Some(#value)),
        None => quote!(#v::None),
    }
}

/// A `range` bound as a reference to a value of the field's type. A
/// literal on a primitive numeric field is cast to it, so that `min = 0`
/// works on an `f64` field as it does in the `validator` crate.
fn bound(expr: Option<&Expr>, inner: &Type, v: &Ident) -> TokenStream {
    match expr {
        Some(expr) => {
            let value = typed(expr, inner);
            quote!(#v::Some(&#value))
        }
        None => quote!(#v::None),
    }
}

/// `expr` as a value of the field's type: a literal on a primitive
/// numeric field is cast to it.
fn typed(expr: &Expr, inner: &Type) -> TokenStream {
    let is_literal = matches!(expr, Expr::Lit(_) | Expr::Unary(_));
    if is_literal && matches!(classify(inner), Class::Integer | Class::Float) {
        quote!(((#expr) as #inner))
    } else {
        quote!((#expr))
    }
}

fn expand_field(field: &Field, v: &Ident) -> TokenStream {
    let ident = &field.ident;
    let key = &field.key;
    let optional = optional_inner(&field.ty);
    let value_ty = optional.map_or(&field.ty, |(inner, _)| inner);
    // Rules on the value itself run only when an `Option` is `Some` (a
    // `Patch` holds a value);
    // `required`, `must_match` and `nested` look at the whole field.
    let mut on_value = Vec::new();
    let mut on_field = Vec::new();
    for rule in &field.rules {
        let span = rule.name.span();
        let call = match &rule.kind {
            Kind::Length { min, max, equal } => {
                let (min, max, equal) = (
                    some(min.as_ref(), v),
                    some(max.as_ref(), v),
                    some(equal.as_ref(), v),
                );
                quote_spanned!(span=> #v::length(__value, #min, #max, #equal))
            }
            Kind::Range {
                min,
                max,
                exclusive_min,
                exclusive_max,
            } => {
                let [min, max, emin, emax] = [min, max, exclusive_min, exclusive_max]
                    .map(|b| bound(b.as_ref(), value_ty, v));
                quote_spanned!(span=> #v::range(__value, #min, #max, #emin, #emax))
            }
            Kind::Email => quote_spanned!(span=> #v::email(__value)),
            Kind::Url => quote_spanned!(span=> #v::url(__value)),
            Kind::Contains(pattern) => quote_spanned!(span=> #v::contains(__value, #pattern)),
            Kind::DoesNotContain(pattern) => {
                quote_spanned!(span=> #v::does_not_contain(__value, #pattern))
            }
            Kind::RegexPattern(pattern) => {
                let check = quote_spanned!(span=> #v::regex(__value, &__REGEX));
                quote! {{
                    static __REGEX: #v::LazyLock<#v::Regex> = #v::LazyLock::new(|| {
                        #v::Regex::new(#pattern).expect("the pattern was checked when the code was compiled")
                    });
                    #check
                }}
            }
            Kind::RegexPath(path) => quote_spanned!(path.span_of()=> #v::regex(__value, &#path)),
            Kind::Custom(function) => {
                quote_spanned!(function.span_of()=> #v::custom(__value, |__v| #function(__v)))
            }
            Kind::MustMatch(other) => {
                let other_ident = syn::Ident::new(&other.value(), other.span());
                let call = quote_spanned!(other.span()=> #v::must_match(&self.#ident, &self.#other_ident, #other));
                on_field.push(report(call, key, rule, v));
                continue;
            }
            Kind::Required => {
                on_field.push(report(
                    quote_spanned!(span=> #v::required(&self.#ident)),
                    key,
                    rule,
                    v,
                ));
                continue;
            }
            Kind::Nested => {
                let call = quote_spanned!(span=> #v::Nested::validate(&self.#ident));
                on_field.push(quote! {
                    if let #v::Err(nested) = #call {
                        __errors.merge(#key, nested);
                    }
                });
                continue;
            }
            Kind::Schema(_) => continue,
        };
        on_value.push(report(call, key, rule, v));
    }
    let on_value = if on_value.is_empty() {
        TokenStream::new()
    } else if let Some((_, kind)) = optional {
        let held = match kind {
            Optional::Option => quote!(&self.#ident),
            Optional::Patch => quote!(self.#ident.value()),
        };
        quote!(if let #v::Some(__value) = #held { #(#on_value)* })
    } else {
        quote!({ let __value = &self.#ident; #(#on_value)* })
    };
    quote!(#on_value #(#on_field)*)
}

/// A path as the schema names it: `not_blank`, `rules::slug`.
fn path_text(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// The field's rules as `SchemaRules` entries, for the published schema.
fn describe_field(field: &Field, v: &Ident) -> TokenStream {
    let key = &field.key;
    let ty = &field.ty;
    let value_ty = optional_inner(ty).map_or(ty, |(inner, _)| inner);
    let as_u64 = |bound: &Option<Expr>| match bound {
        Some(expr) => quote!(#v::Some((#expr) as u64)),
        None => quote!(#v::None),
    };
    let as_json = |bound: &Option<Expr>| match bound {
        Some(expr) => {
            let value = typed(expr, value_ty);
            quote!(#v::schema_bound(&#value))
        }
        None => quote!(#v::None),
    };
    let rules = field.rules.iter().map(|rule| {
        let span = rule.name.span();
        let described = match &rule.kind {
            Kind::Length { min, max, equal } => {
                let (min, max, equal) = (as_u64(min), as_u64(max), as_u64(equal));
                quote!(#v::SchemaRule::Length { min: #min, max: #max, equal: #equal })
            }
            Kind::Range {
                min,
                max,
                exclusive_min,
                exclusive_max,
            } => {
                let [min, max, emin, emax] =
                    [min, max, exclusive_min, exclusive_max].map(as_json);
                quote!(#v::SchemaRule::Range {
                    min: #min,
                    max: #max,
                    exclusive_min: #emin,
                    exclusive_max: #emax,
                })
            }
            Kind::Email => quote!(#v::SchemaRule::Format("email")),
            Kind::Url => quote!(#v::SchemaRule::Format("uri")),
            Kind::Contains(text) => quote!(#v::SchemaRule::Contains(#text)),
            Kind::DoesNotContain(text) => quote!(#v::SchemaRule::DoesNotContain(#text)),
            Kind::RegexPattern(pattern) => {
                quote!(#v::SchemaRule::Pattern(::std::string::ToString::to_string(#pattern)))
            }
            Kind::RegexPath(path) => quote_spanned! {path.span_of()=>
                #v::SchemaRule::Pattern(::std::string::ToString::to_string(#v::Regex::as_str(&#path)))
            },
            Kind::MustMatch(other) => {
                let name = format!("must_match: {}", other.value());
                quote!(#v::SchemaRule::Unexpressed(::std::string::ToString::to_string(#name)))
            }
            Kind::Custom(function) => {
                let name = format!("custom: {}", path_text(function));
                quote!(#v::SchemaRule::Unexpressed(::std::string::ToString::to_string(#name)))
            }
            Kind::Required => quote!(#v::SchemaRule::Required),
            Kind::Nested => quote_spanned! {span=>
                #v::SchemaRule::Nested(<#ty as #v::Nested>::describe)
            },
            Kind::Schema(_) => return TokenStream::new(),
        };
        quote!(__rules.field(#key, #described);)
    });
    quote!(#(#rules)*)
}
