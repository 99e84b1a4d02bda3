//! Emits `impl Validate`: one block per field, each rule a check whose
//! error is built only when it fails, so a valid value allocates nothing.
//!
//! Written as text through [`Emit`], with the user's tokens spliced in
//! where their spans matter: every `cargo check` runs the derive again,
//! unoptimized, and `quote!` nested in `quote!` cost it ~7,000
//! instructions per token emitted.

use std::fmt::Write;

use proc_macro2::{Delimiter, Ident, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::{Expr, Type};

use super::check::Checked;
use super::check::{Class, Optional, classify, optional_inner};
use super::parse::{Field, Kind, Rule};
use crate::emit::Emit;
use crate::exports::{PRIVATE, private, result};

/// The runtime's `validate` module, imported under this name inside each
/// fn the derive writes, so that each of the many paths into it is two
/// segments the compiler resolves locally rather than four from the
/// crate root (every `cargo check` resolves them again).
const V: &str = "__portico_v";

pub(crate) fn expand(input: &Checked) -> TokenStream {
    let mut out = Emit::default();
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let generic = !input.generics.params.is_empty() || where_clause.is_some();
    // `|v| f(v)` is not redundant: it lets deref coercion adapt `f`.
    out.text("#[allow(clippy::redundant_closure)] impl");
    if generic {
        out.tokens(impl_generics);
    }
    write!(out, " {PRIVATE}::validate::Validate for {}", input.ident).ok();
    if generic {
        out.tokens(ty_generics).tokens(where_clause);
    }
    out.group(Delimiter::Brace, Span::call_site(), |out| {
        write!(
            out,
            "fn validate(&self) -> ::core::result::Result<(), {PRIVATE}::validate::ValidationErrors>"
        )
        .ok();
        out.group(Delimiter::Brace, Span::call_site(), |out| {
            write!(
                out,
                "#[allow(unused_imports)] use {PRIVATE}::validate as {V}; let mut __errors = {V}::ValidationErrors::new();"
            )
            .ok();
            for field in &input.fields {
                expand_field(field, out);
            }
            for rule in &input.schema {
                if let Kind::Schema(function) = &rule.kind {
                    report(out, "__all__", rule, |out| custom(out, function, "self"));
                }
            }
            out.text("__errors.into_result()");
        });
        write!(
            out,
            "fn describe(__rules: &mut {PRIVATE}::validate::SchemaRules)"
        )
        .ok();
        out.group(Delimiter::Brace, Span::call_site(), |out| {
            write!(out, "#[allow(unused_imports)] use {PRIVATE}::validate as {V};").ok();
            for field in &input.fields {
                describe_field(field, out);
            }
            for rule in &input.schema {
                if let Kind::Schema(function) = &rule.kind {
                    let name = format!("schema: {}", path_text(function));
                    write!(out, "__rules.whole({name:?});").ok();
                }
            }
        });
    });
    out.finish()
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

fn span_of(tokens: &impl ToTokens) -> Span {
    syn::spanned::Spanned::span(tokens)
}

/// `__portico_v::name(…)`, the path and its parentheses spanned at
/// `span`: a rule's trait-bound errors point there, at the rule.
fn call(out: &mut Emit, span: Span, name: &str, args: impl FnOnce(&mut Emit)) {
    out.spanned(span, &format!("{V}::{name}"));
    out.group(Delimiter::Parenthesis, span, args);
}

/// `__portico_v::custom(subject, |__v| function(__v))`, spanned at the
/// function: a signature that does not fit is reported there.
fn custom(out: &mut Emit, function: &syn::Path, subject: &str) {
    let span = span_of(function);
    call(out, span, "custom", |out| {
        out.spanned(span, &format!("{subject}, |__v|"))
            .tokens(function);
        out.group(Delimiter::Parenthesis, span, |out| {
            out.spanned(span, "__v");
        });
    });
}

/// Records the error of the rule call `check` writes at `key`, with the
/// rule's overrides.
fn report(out: &mut Emit, key: &str, rule: &Rule, check: impl FnOnce(&mut Emit)) {
    write!(out, "if let {V}::Err(error) =").ok();
    check(out);
    out.group(Delimiter::Brace, Span::call_site(), |out| {
        write!(out, "__errors.add({key:?}, error").ok();
        if let Some(message) = &rule.message {
            write!(out, ".with_message({})", message.to_token_stream()).ok();
        }
        if let Some(code) = &rule.code {
            write!(out, ".with_code({})", code.to_token_stream()).ok();
        }
        out.text(");");
    });
}

/// `, Some(expr)` or `, None`: a bound of a `length` call.
fn some(out: &mut Emit, value: Option<&Expr>) {
    match value {
        Some(value) => {
            write!(out, ", {V}::Some").ok();
            out.group(Delimiter::Parenthesis, Span::call_site(), |out| {
                out.tokens(value);
            });
        }
        None => {
            write!(out, ", {V}::None").ok();
        }
    }
}

/// `expr` as a value of the field's type: a literal on a primitive
/// numeric field is cast to it, so that `min = 0` works on an `f64`
/// field as it does in the `validator` crate.
fn typed(out: &mut Emit, expr: &Expr, inner: &Type) {
    let is_literal = matches!(expr, Expr::Lit(_) | Expr::Unary(_));
    out.group(Delimiter::Parenthesis, Span::call_site(), |out| {
        out.group(Delimiter::Parenthesis, Span::call_site(), |out| {
            out.tokens(expr);
        });
        if is_literal && matches!(classify(inner), Class::Integer | Class::Float) {
            out.text("as").tokens(inner);
        }
    });
}

/// A `range` bound: `wrap(&value)`, the value as the field's type
/// ([`typed`]), or `None`.
fn range_bound(out: &mut Emit, wrap: &str, bound: Option<&Expr>, value_ty: &Type) {
    match bound {
        Some(expr) => {
            write!(out, "{V}::{wrap}").ok();
            out.group(Delimiter::Parenthesis, Span::call_site(), |out| {
                out.text("&");
                typed(out, expr, value_ty);
            });
        }
        None => {
            write!(out, "{V}::None").ok();
        }
    }
}

fn expand_field(field: &Field, out: &mut Emit) {
    let ident = &field.ident;
    let key = field.key.as_str();
    let optional = optional_inner(&field.ty);
    let value_ty = optional.map_or(&field.ty, |(inner, _)| inner);
    // Rules on the value itself run only when an `Option` is `Some` (a
    // `Patch` holds a value); `required`, `must_match` and `nested` look
    // at the whole field, after them.
    let value_rules: Vec<&Rule> = field
        .rules
        .iter()
        .filter(|rule| on_value(&rule.kind))
        .collect();
    if !value_rules.is_empty() {
        match optional {
            Some((_, Optional::Option)) => {
                write!(out, "if let {V}::Some(__value) = &self.{ident}").ok();
            }
            Some((_, Optional::Patch)) => {
                write!(out, "if let {V}::Some(__value) = self.{ident}.value()").ok();
            }
            None => {}
        }
        out.group(Delimiter::Brace, Span::call_site(), |out| {
            if optional.is_none() {
                write!(out, "let __value = &self.{ident};").ok();
            }
            for rule in value_rules {
                report(out, key, rule, |out| value_check(out, rule, value_ty));
            }
        });
    }
    for rule in &field.rules {
        let span = rule.name.span();
        match &rule.kind {
            Kind::MustMatch(other) => report(out, key, rule, |out| {
                let span = other.span();
                call(out, span, "must_match", |out| {
                    out.spanned(span, &format!("&self.{ident}, &self.{},", other.value()))
                        .tokens(other);
                });
            }),
            Kind::Required => report(out, key, rule, |out| {
                call(out, span, "required", |out| {
                    out.spanned(span, &format!("&self.{ident}"));
                });
            }),
            Kind::Nested => {
                write!(out, "if let {V}::Err(nested) =").ok();
                out.spanned(span, &format!("{V}::Nested::validate"));
                out.group(Delimiter::Parenthesis, span, |out| {
                    out.spanned(span, &format!("&self.{ident}"));
                });
                write!(out, "{{ __errors.merge({key:?}, nested); }}").ok();
            }
            _ => {}
        }
    }
}

/// The call that checks `__value` against a rule on the value.
fn value_check(out: &mut Emit, rule: &Rule, value_ty: &Type) {
    let span = rule.name.span();
    match &rule.kind {
        Kind::Length { min, max, equal } => call(out, span, "length", |out| {
            out.spanned(span, "__value");
            for bound in [min, max, equal] {
                some(out, bound.as_ref());
            }
        }),
        Kind::Range {
            min,
            max,
            exclusive_min,
            exclusive_max,
        } => call(out, span, "range", |out| {
            out.spanned(span, "__value");
            for bound in [min, max, exclusive_min, exclusive_max] {
                out.text(",");
                range_bound(out, "Some", bound.as_ref(), value_ty);
            }
        }),
        Kind::Email => call(out, span, "email", |out| {
            out.spanned(span, "__value");
        }),
        Kind::Url => call(out, span, "url", |out| {
            out.spanned(span, "__value");
        }),
        Kind::Contains(pattern) | Kind::DoesNotContain(pattern) => {
            let name = if matches!(rule.kind, Kind::Contains(_)) {
                "contains"
            } else {
                "does_not_contain"
            };
            call(out, span, name, |out| {
                out.spanned(span, "__value,").tokens(pattern);
            });
        }
        Kind::RegexPattern(pattern) => {
            out.group(Delimiter::Brace, Span::call_site(), |out| {
                write!(
                    out,
                    "static __REGEX: {V}::LazyLock<{V}::Regex> = {V}::LazyLock::new(|| {V}::Regex::new({}).expect(\"the pattern was checked when the code was compiled\"));",
                    pattern.to_token_stream()
                )
                .ok();
                call(out, span, "regex", |out| {
                    out.spanned(span, "__value, &__REGEX");
                });
            });
        }
        Kind::RegexPath(path) => {
            let span = span_of(path);
            call(out, span, "regex", |out| {
                out.spanned(span, "__value, &").tokens(path);
            });
        }
        Kind::Custom(function) => custom(out, function, "__value"),
        // Not rules on the value: see `on_value`.
        Kind::MustMatch(_) | Kind::Required | Kind::Nested | Kind::Schema(_) => {}
    }
}

/// Whether a rule checks the field's value (`value_check`), run only when
/// an `Option` is `Some`; the others look at the whole field, or at the
/// whole struct (`schema`).
fn on_value(kind: &Kind) -> bool {
    !matches!(
        kind,
        Kind::MustMatch(_) | Kind::Required | Kind::Nested | Kind::Schema(_)
    )
}

/// A path as the schema names it: `not_blank`, `rules::slug`.
fn path_text(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// The field's rules as `SchemaRules` entries, for the published schema.
fn describe_field(field: &Field, out: &mut Emit) {
    let key = field.key.as_str();
    let ty = &field.ty;
    let value_ty = optional_inner(ty).map_or(ty, |(inner, _)| inner);
    for rule in &field.rules {
        if matches!(rule.kind, Kind::Schema(_)) {
            continue;
        }
        write!(out, "__rules.field").ok();
        out.group(Delimiter::Parenthesis, Span::call_site(), |out| {
            write!(out, "{key:?}, {V}::SchemaRule::").ok();
            describe_rule(out, rule, ty, value_ty);
        });
        out.text(";");
    }
}

/// One rule as a `SchemaRule`, after `SchemaRule::`.
fn describe_rule(out: &mut Emit, rule: &Rule, ty: &Type, value_ty: &Type) {
    let as_u64 = |out: &mut Emit, name: &str, bound: &Option<Expr>| {
        write!(out, "{name}:").ok();
        match bound {
            Some(expr) => {
                write!(out, "{V}::Some").ok();
                out.group(Delimiter::Parenthesis, Span::call_site(), |out| {
                    out.group(Delimiter::Parenthesis, Span::call_site(), |out| {
                        out.tokens(expr);
                    });
                    out.text("as u64");
                });
            }
            None => {
                write!(out, "{V}::None").ok();
            }
        }
        out.text(",");
    };
    let as_json = |out: &mut Emit, name: &str, bound: &Option<Expr>| {
        write!(out, "{name}:").ok();
        range_bound(out, "schema_bound", bound.as_ref(), value_ty);
        out.text(",");
    };
    let unexpressed = |out: &mut Emit, text: String| {
        write!(
            out,
            "Unexpressed(::std::string::ToString::to_string({text:?}))"
        )
        .ok();
    };
    match &rule.kind {
        Kind::Length { min, max, equal } => {
            out.text("Length");
            out.group(Delimiter::Brace, Span::call_site(), |out| {
                as_u64(out, "min", min);
                as_u64(out, "max", max);
                as_u64(out, "equal", equal);
            });
        }
        Kind::Range {
            min,
            max,
            exclusive_min,
            exclusive_max,
        } => {
            out.text("Range");
            out.group(Delimiter::Brace, Span::call_site(), |out| {
                as_json(out, "min", min);
                as_json(out, "max", max);
                as_json(out, "exclusive_min", exclusive_min);
                as_json(out, "exclusive_max", exclusive_max);
            });
        }
        Kind::Email => {
            out.text("Format(\"email\")");
        }
        Kind::Url => {
            out.text("Format(\"uri\")");
        }
        Kind::Contains(text) => {
            write!(out, "Contains({})", text.to_token_stream()).ok();
        }
        Kind::DoesNotContain(text) => {
            write!(out, "DoesNotContain({})", text.to_token_stream()).ok();
        }
        Kind::RegexPattern(pattern) => {
            write!(
                out,
                "Pattern(::std::string::ToString::to_string({}))",
                pattern.to_token_stream()
            )
            .ok();
        }
        Kind::RegexPath(path) => {
            out.text("Pattern");
            out.group(Delimiter::Parenthesis, span_of(path), |out| {
                write!(out, "::std::string::ToString::to_string").ok();
                out.group(Delimiter::Parenthesis, span_of(path), |out| {
                    write!(out, "{V}::Regex::as_str").ok();
                    out.group(Delimiter::Parenthesis, span_of(path), |out| {
                        out.text("&").tokens(path);
                    });
                });
            });
        }
        Kind::MustMatch(other) => unexpressed(out, format!("must_match: {}", other.value())),
        Kind::Custom(function) => unexpressed(out, format!("custom: {}", path_text(function))),
        Kind::Required => {
            out.text("Required");
        }
        Kind::Nested => {
            // Spanned at the rule: a field type that is not `Validate`
            // is reported there.
            let span = rule.name.span();
            let v = Ident::new(V, span);
            out.text("Nested")
                .tokens(quote_spanned!(span=> (<#ty as #v::Nested>::describe)));
        }
        Kind::Schema(_) => {}
    }
}
