//! Reads `#[derive(Validate)]` input: the struct's fields and the rules in
//! their `#[validate(...)]` attributes, in the `validator` crate's syntax.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Data, DeriveInput, Expr, Fields, Ident, LitStr, Path, Token};

use crate::errors::Errors;

/// One rule as written.
pub(crate) struct Rule {
    pub(crate) kind: Kind,
    /// The rule's name token, where errors about the rule point.
    pub(crate) name: Ident,
    pub(crate) message: Option<LitStr>,
    pub(crate) code: Option<LitStr>,
}

pub(crate) enum Kind {
    Length {
        min: Option<Expr>,
        max: Option<Expr>,
        equal: Option<Expr>,
    },
    Range {
        min: Option<Expr>,
        max: Option<Expr>,
        exclusive_min: Option<Expr>,
        exclusive_max: Option<Expr>,
    },
    Email,
    Url,
    Contains(LitStr),
    DoesNotContain(LitStr),
    RegexPattern(LitStr),
    RegexPath(Expr),
    MustMatch(LitStr),
    Required,
    Custom(Path),
    Nested,
    Schema(Path),
}

pub(crate) struct Field {
    pub(crate) ident: Ident,
    pub(crate) ty: syn::Type,
    /// The name clients see: `#[serde(rename = "…")]` or the field's name.
    pub(crate) key: String,
    /// `#[serde(default)]` (or `default = "…"`) on the field.
    pub(crate) serde_default: bool,
    pub(crate) rules: Vec<Rule>,
}

pub(crate) struct Input {
    pub(crate) ident: Ident,
    pub(crate) generics: syn::Generics,
    pub(crate) fields: Vec<Field>,
    pub(crate) schema: Vec<Rule>,
    /// `#[serde(default)]` on the struct.
    pub(crate) serde_default: bool,
}

const FIELD_RULES: &str = "length, range, email, url, contains, does_not_contain, regex, must_match, required, custom, nested";

pub(crate) fn parse(input: DeriveInput, errors: &mut Errors) -> Option<Input> {
    let fields = match input.data {
        Data::Struct(data) => match data.fields {
            Fields::Named(named) => named.named,
            Fields::Unnamed(unnamed) => {
                errors.spanned(
                    &unnamed,
                    "#[derive(Validate)] needs named fields, so that errors can name them; found a tuple struct",
                );
                return None;
            }
            Fields::Unit => {
                errors.spanned(
                    &input.ident,
                    "#[derive(Validate)] needs a struct with named fields; found a unit struct",
                );
                return None;
            }
        },
        Data::Enum(data) => {
            errors.spanned(
                data.enum_token,
                "#[derive(Validate)] applies to structs with named fields, not enums",
            );
            return None;
        }
        Data::Union(data) => {
            errors.spanned(
                data.union_token,
                "#[derive(Validate)] applies to structs with named fields, not unions",
            );
            return None;
        }
    };
    let mut schema = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("validate")) {
        parse_rules(attr, true, &mut schema, errors);
    }
    let fields = fields
        .into_iter()
        .map(|field| {
            let ident = field.ident.expect("named fields have names");
            let mut rules = Vec::new();
            for attr in field.attrs.iter().filter(|a| a.path().is_ident("validate")) {
                parse_rules(attr, false, &mut rules, errors);
            }
            let serde = serde_attrs(&field.attrs);
            let key = serde
                .rename
                .unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_owned());
            Field {
                ident,
                ty: field.ty,
                key,
                serde_default: serde.default,
                rules,
            }
        })
        .collect();
    Some(Input {
        serde_default: serde_attrs(&input.attrs).default,
        ident: input.ident,
        generics: input.generics,
        fields,
        schema,
    })
}

/// What Validate reads of `#[serde(...)]`.
#[derive(Default)]
struct SerdeAttrs {
    /// `rename = "…"`, so that error paths use the names clients send.
    rename: Option<String>,
    /// `default` or `default = "…"`.
    default: bool,
}

fn serde_attrs(attrs: &[Attribute]) -> SerdeAttrs {
    let mut found = SerdeAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") && meta.input.peek(Token![=]) {
                found.rename = Some(meta.value()?.parse::<LitStr>()?.value());
            } else {
                found.default |= meta.path.is_ident("default");
                skip(&meta)?;
            }
            Ok(())
        });
    }
    found
}

/// Consumes whatever follows a meta item we are not going to use.
fn skip(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

fn parse_rules(attr: &Attribute, struct_level: bool, rules: &mut Vec<Rule>, errors: &mut Errors) {
    let result = attr.parse_nested_meta(|meta| {
        let Some(name) = meta.path.get_ident().cloned() else {
            errors.spanned(&meta.path, format!("expected a rule name: one of {FIELD_RULES}"));
            return skip(&meta);
        };
        let rule = if struct_level {
            match name.to_string().as_str() {
                "schema" => Ok(parse_args(&meta, &name, &["function"], errors)?.map(|mut args| {
                    let function = args.path("function", &name, errors);
                    (function.map(Kind::Schema), args)
                })),
                other => {
                    errors.spanned(
                        &name,
                        format!("unknown struct-level rule `{other}`; the only one is `schema(function = path)`; field rules go on fields"),
                    );
                    return skip(&meta);
                }
            }
        } else {
            parse_field_rule(&meta, &name, errors)
        };
        if let Some((Some(kind), args)) = rule? {
            rules.push(Rule { kind, name, message: args.message, code: args.code });
        }
        Ok(())
    });
    if let Err(e) = result {
        errors.push(e);
    }
}

type Parsed = syn::Result<Option<(Option<Kind>, Args)>>;

fn parse_field_rule(meta: &ParseNestedMeta, name: &Ident, errors: &mut Errors) -> Parsed {
    let rule = name.to_string();
    let flag = |kind: Kind, errors: &mut Errors| -> Parsed {
        let args = parse_args(meta, name, &[], errors)?;
        Ok(args.map(|args| (Some(kind), args)))
    };
    match rule.as_str() {
        "email" => flag(Kind::Email, errors),
        "url" => flag(Kind::Url, errors),
        "required" => flag(Kind::Required, errors),
        "nested" => flag(Kind::Nested, errors),
        "length" => Ok(parse_args(meta, name, &["min", "max", "equal"], errors)?.map(|mut args| {
            let (min, max, equal) = (args.expr("min"), args.expr("max"), args.expr("equal"));
            let kind = if min.is_none() && max.is_none() && equal.is_none() {
                errors.spanned(name, "`length` needs at least one of `min`, `max` or `equal`, as in `length(min = 1, max = 100)`");
                None
            } else {
                Some(Kind::Length { min, max, equal })
            };
            (kind, args)
        })),
        "range" => Ok(parse_args(meta, name, &["min", "max", "exclusive_min", "exclusive_max"], errors)?.map(|mut args| {
            let (min, max) = (args.expr("min"), args.expr("max"));
            let (exclusive_min, exclusive_max) = (args.expr("exclusive_min"), args.expr("exclusive_max"));
            let kind = if [&min, &max, &exclusive_min, &exclusive_max].iter().all(|b| b.is_none()) {
                errors.spanned(name, "`range` needs at least one bound, as in `range(min = 0, max = 150)`");
                None
            } else {
                Some(Kind::Range { min, max, exclusive_min, exclusive_max })
            };
            (kind, args)
        })),
        "contains" | "does_not_contain" => {
            let shorthand = shorthand_str(meta)?;
            Ok(parse_args(meta, name, &["pattern"], errors)?.map(|mut args| {
                let pattern = shorthand.or_else(|| args.str("pattern", name, errors));
                let kind = pattern.map(|p| if rule == "contains" { Kind::Contains(p) } else { Kind::DoesNotContain(p) });
                (kind, args)
            }))
        }
        "must_match" => {
            let shorthand = shorthand_str(meta)?;
            Ok(parse_args(meta, name, &["other"], errors)?.map(|mut args| {
                let other = shorthand.or_else(|| args.str("other", name, errors));
                (other.map(Kind::MustMatch), args)
            }))
        }
        "regex" => {
            if let Some(pattern) = shorthand_str(meta)? {
                return Ok(Some((Some(Kind::RegexPattern(pattern)), Args::default())));
            }
            Ok(parse_args(meta, name, &["path", "pattern"], errors)?.map(|mut args| {
                let kind = match (args.expr("path"), args.values.remove("pattern")) {
                    (Some(path), None) => Some(Kind::RegexPath(path)),
                    (None, Some(Value::Str(pattern))) => Some(Kind::RegexPattern(pattern)),
                    (None, Some(_)) => {
                        errors.spanned(name, "`pattern` takes a string literal: `regex(pattern = \"^[a-z]+$\")`");
                        None
                    }
                    (Some(_), Some(_)) => {
                        errors.spanned(name, "`regex` takes either `path` or `pattern`, not both");
                        None
                    }
                    (None, None) => {
                        errors.spanned(name, "`regex` needs `path = STATIC_REGEX` or `pattern = \"…\"`");
                        None
                    }
                };
                (kind, args)
            }))
        }
        "custom" => {
            if meta.input.peek(Token![=]) {
                let function = parse_function(meta.value()?)?;
                return Ok(Some((Some(Kind::Custom(function)), Args::default())));
            }
            Ok(parse_args(meta, name, &["function"], errors)?.map(|mut args| {
                let function = args.path("function", name, errors);
                (function.map(Kind::Custom), args)
            }))
        }
        "schema" => {
            errors.spanned(name, "`schema` is a struct-level rule: put `#[validate(schema(function = path))]` on the struct");
            skip(meta).map(|()| None)
        }
        other => {
            errors.spanned(name, format!("unknown validation rule `{other}`; expected one of {FIELD_RULES}"));
            skip(meta).map(|()| None)
        }
    }
}

/// `rule = "literal"`.
fn shorthand_str(meta: &ParseNestedMeta) -> syn::Result<Option<LitStr>> {
    if meta.input.peek(Token![=]) {
        return Ok(Some(meta.value()?.parse()?));
    }
    Ok(None)
}

/// A function path written bare (`function = is_even`) or quoted (`function = "is_even"`).
fn parse_function(input: syn::parse::ParseStream) -> syn::Result<Path> {
    if input.peek(LitStr) {
        input.parse::<LitStr>()?.parse()
    } else {
        input.parse()
    }
}

enum Value {
    Expr(Expr),
    Str(LitStr),
    Path(Path),
}

/// A rule's `name = value` arguments.
#[derive(Default)]
struct Args {
    values: std::collections::HashMap<String, Value>,
    message: Option<LitStr>,
    code: Option<LitStr>,
}

impl Args {
    fn expr(&mut self, name: &str) -> Option<Expr> {
        match self.values.remove(name)? {
            Value::Expr(e) => Some(e),
            Value::Str(s) => Some(syn::parse_quote!(#s)),
            Value::Path(p) => Some(syn::parse_quote!(#p)),
        }
    }

    fn str(&mut self, name: &str, rule: &Ident, errors: &mut Errors) -> Option<LitStr> {
        match self.values.remove(name) {
            Some(Value::Str(s)) => Some(s),
            Some(Value::Expr(e)) => {
                errors.spanned(e, format!("`{name}` takes a string literal"));
                None
            }
            Some(Value::Path(p)) => {
                errors.spanned(p, format!("`{name}` takes a string literal"));
                None
            }
            None => {
                errors.spanned(rule, format!("`{rule}` needs `{name} = \"…\"`"));
                None
            }
        }
    }

    fn path(&mut self, name: &str, rule: &Ident, errors: &mut Errors) -> Option<Path> {
        match self.values.remove(name) {
            Some(Value::Path(p)) => Some(p),
            Some(Value::Str(s)) => s.parse().map_err(|e| errors.push(e)).ok(),
            Some(Value::Expr(e)) => {
                errors.spanned(e, format!("`{name}` takes a function path"));
                None
            }
            None => {
                errors.spanned(
                    rule,
                    format!("`{rule}` needs `{name} = path::to::function`"),
                );
                None
            }
        }
    }
}

/// Parses `rule` or `rule(arg = value, …, message = "…", code = "…")`.
/// `Ok(None)` when the arguments were wrong (already reported).
fn parse_args(
    meta: &ParseNestedMeta,
    rule: &Ident,
    allowed: &[&str],
    errors: &mut Errors,
) -> syn::Result<Option<Args>> {
    let mut args = Args::default();
    if meta.input.peek(Token![=]) {
        errors.spanned(
            rule,
            format!(
                "`{rule}` takes arguments in parentheses, as in `{rule}({})`",
                example(rule, allowed)
            ),
        );
        skip(meta)?;
        return Ok(None);
    }
    if !meta.input.peek(syn::token::Paren) {
        return Ok(Some(args));
    }
    if meta
        .input
        .cursor()
        .group(proc_macro2::Delimiter::Parenthesis)
        .is_some_and(|(inside, _, _)| inside.eof())
    {
        // `rule()`: no arguments, as if written `rule`; the rule says what it needs.
        let _empty;
        syn::parenthesized!(_empty in meta.input);
        return Ok(Some(args));
    }
    let mut ok = true;
    meta.parse_nested_meta(|arg| {
        let Some(name) = arg.path.get_ident().map(Ident::to_string) else {
            errors.spanned(&arg.path, format!("expected an argument name of `{rule}`"));
            ok = false;
            return skip(&arg);
        };
        match name.as_str() {
            "message" => args.message = Some(arg.value()?.parse()?),
            "code" => args.code = Some(arg.value()?.parse()?),
            n if allowed.contains(&n) => {
                if !arg.input.peek(Token![=]) {
                    errors.spanned(&arg.path, format!("`{n}` needs a value: `{n} = …`"));
                    ok = false;
                    return skip(&arg);
                }
                let input = arg.value()?;
                let value = if n == "function" {
                    Value::Path(parse_function(input)?)
                } else if input.peek(LitStr) {
                    Value::Str(input.parse()?)
                } else {
                    Value::Expr(input.parse()?)
                };
                if args.values.insert(name.clone(), value).is_some() {
                    errors.spanned(&arg.path, format!("`{n}` is given twice"));
                    ok = false;
                }
            }
            other => {
                let expected: Vec<&str> =
                    allowed.iter().copied().chain(["message", "code"]).collect();
                errors.spanned(
                    &arg.path,
                    format!(
                        "unknown argument `{other}` of `{rule}`; expected {}",
                        expected.join(", ")
                    ),
                );
                ok = false;
                skip(&arg)?;
            }
        }
        Ok(())
    })?;
    Ok(ok.then_some(args))
}

fn example(rule: &Ident, allowed: &[&str]) -> String {
    match rule.to_string().as_str() {
        "length" => "min = 1, max = 100".into(),
        "range" => "min = 0, max = 150".into(),
        _ => allowed
            .first()
            .map_or("message = \"…\"".into(), |a| format!("{a} = …")),
    }
}
