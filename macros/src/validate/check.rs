//! The rules of `#[derive(Validate)]` that can be decided from the syntax:
//! each rule fits its field's type, bounds are ordered, regexes compile,
//! `must_match` names a field. What syntax cannot tell (a type alias, a
//! user type) is left to the runtime's traits and their diagnostics.

use syn::{Expr, ExprLit, ExprUnary, GenericArgument, Lit, PathArguments, Type, UnOp};

use super::parse::{Field, Input, Kind, Rule};
use crate::errors::Errors;

/// What the syntax of a field's type says about it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Text,
    Integer,
    Float,
    Bool,
    Collection,
    Other,
}

impl Class {
    fn describe(self) -> &'static str {
        match self {
            Class::Text => "a string",
            Class::Integer | Class::Float => "a number",
            Class::Bool => "a bool",
            Class::Collection => "a collection",
            Class::Other => "a value",
        }
    }
}

/// A field that may hold no value: its rules apply to the value it holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Optional {
    /// `Option<T>`.
    Option,
    /// `Patch<T>`: absent, `null`, or a value.
    Patch,
}

/// `Option<T>` or `Patch<T>` → `T` and which of the two.
pub(crate) fn optional_inner(ty: &Type) -> Option<(&Type, Optional)> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    let optional = if last.ident == "Option" {
        Optional::Option
    } else if last.ident == "Patch" {
        Optional::Patch
    } else {
        return None;
    };
    match &last.arguments {
        PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0] {
            GenericArgument::Type(inner) => Some((inner, optional)),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn classify(ty: &Type) -> Class {
    match ty {
        Type::Reference(r) => classify(&r.elem),
        Type::Slice(_) | Type::Array(_) => Class::Collection,
        Type::Path(path) => {
            let Some(last) = path.path.segments.last() else {
                return Class::Other;
            };
            match last.ident.to_string().as_str() {
                "String" | "str" | "Cow" => Class::Text,
                "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64"
                | "u128" | "usize" => Class::Integer,
                "f32" | "f64" => Class::Float,
                "bool" => Class::Bool,
                "Vec" | "VecDeque" | "HashMap" | "BTreeMap" | "HashSet" | "BTreeSet" => {
                    Class::Collection
                }
                _ => Class::Other,
            }
        }
        _ => Class::Other,
    }
}

/// A numeric literal, possibly negated: its value and whether it is a float.
fn literal(expr: &Expr) -> Option<(f64, bool)> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<f64>().ok().map(|v| (v, false)),
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => f.base10_parse::<f64>().ok().map(|v| (v, true)),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => literal(expr).map(|(v, f)| (-v, f)),
        _ => None,
    }
}

/// A derive input that passed every rule: all `expand` accepts. Only
/// [`check`] makes one.
pub(crate) struct Checked {
    input: Input,
}

impl std::ops::Deref for Checked {
    type Target = Input;

    fn deref(&self) -> &Input {
        &self.input
    }
}

/// Checks every rule of every field, reporting each mistake; the checked
/// model when there were none (here or before, in `parse`).
pub(crate) fn check(input: Input, errors: &mut Errors) -> Option<Checked> {
    check_fields(&input, errors);
    errors.is_empty().then_some(Checked { input })
}

fn check_fields(input: &Input, errors: &mut Errors) {
    for field in &input.fields {
        let optional = optional_inner(&field.ty);
        if optional.is_some_and(|(_, kind)| kind == Optional::Patch)
            && !(field.serde_default || input.serde_default)
        {
            errors.spanned(
                &field.ty,
                format!(
                    "`{}` is a `Patch` field without `#[serde(default)]`: serde would read it absent as `null`; add `#[serde(default)]` to the field or the struct",
                    field.ident
                ),
            );
        }
        let class = classify(optional.map_or(&field.ty, |(inner, _)| inner));
        let mut seen: Vec<String> = Vec::new();
        for rule in &field.rules {
            let name = rule.name.to_string();
            if seen.contains(&name) {
                errors.spanned(
                    &rule.name,
                    format!(
                        "rule `{name}` is given twice on `{}`; merge them into one",
                        field.ident
                    ),
                );
            }
            seen.push(name);
            check_rule(input, field, rule, class, optional.is_some(), errors);
        }
    }
}

fn check_rule(
    input: &Input,
    field: &Field,
    rule: &Rule,
    class: Class,
    optional: bool,
    errors: &mut Errors,
) {
    let name = &rule.name;
    let field_name = &field.ident;
    let not_for = |errors: &mut Errors, advice: &str| {
        errors.spanned(
            name,
            format!(
                "`{name}` does not apply to `{field_name}`, which is {}; {advice}",
                class.describe()
            ),
        );
    };
    match &rule.kind {
        Kind::Length { min, max, equal } => {
            if matches!(class, Class::Integer | Class::Float | Class::Bool) {
                not_for(
                    errors,
                    "`length` measures strings and collections (for numbers use `range`)",
                );
            }
            if equal.is_some() && (min.is_some() || max.is_some()) {
                errors.spanned(
                    name,
                    "`length(equal = …)` cannot be combined with `min` or `max`",
                );
            }
            check_order(min.as_ref(), max.as_ref(), errors);
            for bound in [min, max, equal].into_iter().flatten() {
                if let Some((value, is_float)) = literal(bound)
                    && (is_float || value < 0.0)
                {
                    errors.spanned(bound, "a `length` bound is a count: a non-negative integer");
                }
            }
        }
        Kind::Range {
            min,
            max,
            exclusive_min,
            exclusive_max,
        } => {
            if matches!(class, Class::Text | Class::Bool | Class::Collection) {
                not_for(
                    errors,
                    "`range` applies to numbers (for strings and collections use `length`)",
                );
            }
            check_order(min.as_ref(), max.as_ref(), errors);
            check_order(exclusive_min.as_ref(), exclusive_max.as_ref(), errors);
            if min.is_some() && exclusive_min.is_some() || max.is_some() && exclusive_max.is_some()
            {
                errors.spanned(name, "give each side of a `range` one bound: `min` or `exclusive_min`, `max` or `exclusive_max`");
            }
            if class == Class::Integer {
                for bound in [min, max, exclusive_min, exclusive_max]
                    .into_iter()
                    .flatten()
                {
                    if literal(bound).is_some_and(|(_, is_float)| is_float) {
                        errors.spanned(
                            bound,
                            format!("`{field_name}` is an integer, so its bounds must be integers"),
                        );
                    }
                }
            }
        }
        Kind::Email
        | Kind::Url
        | Kind::Contains(_)
        | Kind::DoesNotContain(_)
        | Kind::RegexPattern(_)
        | Kind::RegexPath(_) => {
            if matches!(
                class,
                Class::Integer | Class::Float | Class::Bool | Class::Collection
            ) {
                not_for(errors, "it applies to strings");
            }
            if let Kind::RegexPattern(pattern) = &rule.kind
                // The engine's own constructor, with the limits it has at
                // run time (syntax, nesting, compiled size), so the
                // generated `Regex::new` cannot fail.
                && let Err(e) = regex::Regex::new(&pattern.value())
            {
                errors.spanned(pattern, format!("this regex does not compile:\n{e}"));
            }
        }
        Kind::MustMatch(other) => {
            let other_name = other.value();
            if *field_name == other_name {
                errors.spanned(
                    other,
                    "`must_match` compares with another field, not the field itself",
                );
            } else if !input.fields.iter().any(|f| f.ident == other_name) {
                let fields: Vec<String> = input
                    .fields
                    .iter()
                    .map(|f| format!("`{}`", f.ident))
                    .collect();
                errors.spanned(
                    other,
                    format!("`must_match` names `{other_name}`, but `{}` has no such field; its fields are {}", input.ident, fields.join(", ")),
                );
            }
        }
        Kind::Required => {
            if !optional {
                errors.spanned(
                    name,
                    format!(
                        "`required` applies to `Option` and `Patch` fields; `{field_name}` is always present"
                    ),
                );
            }
        }
        Kind::Custom(_) | Kind::Nested | Kind::Schema(_) => {}
    }
}

fn check_order(min: Option<&Expr>, max: Option<&Expr>, errors: &mut Errors) {
    if let (Some(lo), Some(hi)) = (min, max)
        && let (Some((a, _)), Some((b, _))) = (literal(lo), literal(hi))
        && a > b
    {
        errors.spanned(
            lo,
            format!(
                "the lower bound {a} is greater than the upper bound {b}, so no value can pass"
            ),
        );
    }
}
