//! The built-in rules of `#[validate(...)]`. Each returns `Ok(())` when
//! the value passes and builds its error (in a cold path) only when it
//! does not, so validating a valid value allocates nothing.
//!
//! Generated code calls these; they are public so that hand-written
//! `Validate` impls can use them too.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Display;

use serde::Serialize;

use super::ValidationError;
pub use super::patch::Presence;

/// Something with a length: strings count characters (not bytes),
/// collections count items.
#[diagnostic::on_unimplemented(
    message = "`length` cannot measure `{Self}`",
    label = "`length` needs a string or a collection",
    note = "`length` applies to `String`, `&str`, `Vec<T>`, slices, sets and maps; for numbers use `range`"
)]
pub trait HasLength {
    /// What the length counts, for messages: `characters` or `items`.
    const UNIT: &'static str;
    /// The length.
    fn length(&self) -> usize;
}

macro_rules! text_length {
    ($($ty:ty),*) => {$(
        impl HasLength for $ty {
            const UNIT: &'static str = "characters";
            fn length(&self) -> usize {
                self.chars().count()
            }
        }
    )*};
}
text_length!(str, String, Cow<'_, str>);

macro_rules! collection_length {
    ($([$($generics:tt)*] $ty:ty),*) => {$(
        impl<$($generics)*> HasLength for $ty {
            const UNIT: &'static str = "items";
            fn length(&self) -> usize {
                self.len()
            }
        }
    )*};
}
collection_length!(
    [T] Vec<T>,
    [T] [T],
    [T, const N: usize] [T; N],
    [T] VecDeque<T>,
    [T, S] HashSet<T, S>,
    [T] BTreeSet<T>,
    [K, V, S] HashMap<K, V, S>,
    [K, V] BTreeMap<K, V>
);

impl<T: HasLength + ?Sized> HasLength for &T {
    const UNIT: &'static str = T::UNIT;
    fn length(&self) -> usize {
        (**self).length()
    }
}

/// Text a string rule (`email`, `url`, `contains`, `regex`) can read.
#[diagnostic::on_unimplemented(
    message = "this rule needs text, but the field is `{Self}`",
    label = "not a string",
    note = "`email`, `url`, `contains`, `does_not_contain` and `regex` apply to `String`, `&str` and `Cow<str>`"
)]
pub trait AsText {
    /// The text.
    fn as_text(&self) -> &str;
}

impl AsText for str {
    fn as_text(&self) -> &str {
        self
    }
}
impl AsText for String {
    fn as_text(&self) -> &str {
        self
    }
}
impl AsText for Cow<'_, str> {
    fn as_text(&self) -> &str {
        self
    }
}
impl<T: AsText + ?Sized> AsText for &T {
    fn as_text(&self) -> &str {
        (**self).as_text()
    }
}

/// `length(min, max, equal)`.
pub fn length<T: HasLength + ?Sized>(
    value: &T,
    min: Option<usize>,
    max: Option<usize>,
    equal: Option<usize>,
) -> Result<(), ValidationError> {
    let len = value.length();
    let ok = min.is_none_or(|min| len >= min)
        && max.is_none_or(|max| len <= max)
        && equal.is_none_or(|equal| len == equal);
    if ok {
        Ok(())
    } else {
        Err(length_error(T::UNIT, min, max, equal))
    }
}

#[cold]
fn length_error(
    unit: &'static str,
    min: Option<usize>,
    max: Option<usize>,
    equal: Option<usize>,
) -> ValidationError {
    let message = match (min, max, equal) {
        (_, _, Some(n)) => format!("must be exactly {n} {unit} long"),
        (Some(1), None, None) if unit == "characters" => "must not be empty".to_owned(),
        (Some(1), None, None) => "must have at least 1 item".to_owned(),
        (Some(lo), Some(hi), None) => format!("must be between {lo} and {hi} {unit} long"),
        (Some(lo), None, None) => format!("must be at least {lo} {unit} long"),
        (None, Some(hi), None) => format!("must be at most {hi} {unit} long"),
        (None, None, None) => "has an invalid length".to_owned(),
    };
    with_params(
        ValidationError::new("length").with_message(message),
        [("min", min), ("max", max), ("equal", equal)],
    )
}

/// `range(min, max, exclusive_min, exclusive_max)`. NaN is never in range.
pub fn range<T: PartialOrd + Display + Serialize + ?Sized>(
    value: &T,
    min: Option<&T>,
    max: Option<&T>,
    exclusive_min: Option<&T>,
    exclusive_max: Option<&T>,
) -> Result<(), ValidationError> {
    let ok = min.is_none_or(|min| value >= min)
        && max.is_none_or(|max| value <= max)
        && exclusive_min.is_none_or(|min| value > min)
        && exclusive_max.is_none_or(|max| value < max);
    if ok {
        Ok(())
    } else {
        Err(range_error(min, max, exclusive_min, exclusive_max))
    }
}

#[cold]
fn range_error<T: Display + Serialize + ?Sized>(
    min: Option<&T>,
    max: Option<&T>,
    exclusive_min: Option<&T>,
    exclusive_max: Option<&T>,
) -> ValidationError {
    let mut parts = Vec::new();
    if let Some(min) = min {
        parts.push(format!("at least {min}"));
    }
    if let Some(min) = exclusive_min {
        parts.push(format!("greater than {min}"));
    }
    if let Some(max) = max {
        parts.push(format!("at most {max}"));
    }
    if let Some(max) = exclusive_max {
        parts.push(format!("less than {max}"));
    }
    let message = match (min, max, exclusive_min, exclusive_max) {
        (Some(lo), Some(hi), None, None) => format!("must be between {lo} and {hi}"),
        _ => format!("must be {}", parts.join(" and ")),
    };
    with_params(
        ValidationError::new("range").with_message(message),
        [
            ("min", min),
            ("max", max),
            ("exclusive_min", exclusive_min),
            ("exclusive_max", exclusive_max),
        ],
    )
}

fn with_params<V: Serialize>(
    mut error: ValidationError,
    params: impl IntoIterator<Item = (&'static str, Option<V>)>,
) -> ValidationError {
    for (name, value) in params {
        if let Some(value) = value {
            error = error.with_param(name, value);
        }
    }
    error
}

/// `email`: the WHATWG HTML "valid e-mail address" grammar, at most 254
/// bytes with a local part of at most 64 (RFC 5321).
pub fn email<T: AsText + ?Sized>(value: &T) -> Result<(), ValidationError> {
    check(super::email::is_email(value.as_text()), || {
        ValidationError::new("email").with_message("must be a valid email address")
    })
}

/// `url`: an absolute URL with a scheme and a host, at most 2048 bytes.
pub fn url<T: AsText + ?Sized>(value: &T) -> Result<(), ValidationError> {
    check(super::email::is_url(value.as_text()), || {
        ValidationError::new("url").with_message("must be a valid URL")
    })
}

/// `contains(pattern)`.
pub fn contains<T: AsText + ?Sized>(
    value: &T,
    pattern: &'static str,
) -> Result<(), ValidationError> {
    check(value.as_text().contains(pattern), || {
        ValidationError::new("contains")
            .with_message(format!("must contain `{pattern}`"))
            .with_param("pattern", pattern)
    })
}

/// `does_not_contain(pattern)`.
pub fn does_not_contain<T: AsText + ?Sized>(
    value: &T,
    pattern: &'static str,
) -> Result<(), ValidationError> {
    check(!value.as_text().contains(pattern), || {
        ValidationError::new("does_not_contain")
            .with_message(format!("must not contain `{pattern}`"))
            .with_param("pattern", pattern)
    })
}

/// `regex(path = …)` or `regex(pattern = "…")`.
pub fn regex<T: AsText + ?Sized>(value: &T, regex: &regex::Regex) -> Result<(), ValidationError> {
    check(regex.is_match(value.as_text()), || {
        ValidationError::new("regex").with_message("has an invalid format")
    })
}

/// `must_match(other = "…")`: `value` equals the field named `other`.
pub fn must_match<T: PartialEq + ?Sized>(
    value: &T,
    other_value: &T,
    other: &'static str,
) -> Result<(), ValidationError> {
    check(value == other_value, || {
        ValidationError::new("must_match")
            .with_message(format!("must match `{other}`"))
            .with_param("other", other)
    })
}

/// `required`: an `Option` field is `Some`, a `Patch` field holds a value.
pub fn required(value: &impl Presence) -> Result<(), ValidationError> {
    check(value.is_present(), || {
        ValidationError::new("required").with_message("is required")
    })
}

#[inline]
fn check(ok: bool, error: impl FnOnce() -> ValidationError) -> Result<(), ValidationError> {
    if ok { Ok(()) } else { Err(cold(error)) }
}

#[cold]
fn cold(error: impl FnOnce() -> ValidationError) -> ValidationError {
    error()
}

/// Runs a `custom(function = f)` rule on a field, or a `schema(function =
/// f)` rule on a whole struct. The generated code passes `|v| f(v)`, so `f`
/// may take any type the value derefs to (`&str` for a `String` field).
pub fn custom<T: ?Sized>(
    value: &T,
    function: impl FnOnce(&T) -> Result<(), ValidationError>,
) -> Result<(), ValidationError> {
    function(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<(), ValidationError>) -> String {
        result.unwrap_err().message().to_owned()
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(length("héllo", Some(5), Some(5), None).is_ok());
        assert!(length("日本語", None, Some(3), None).is_ok());
        assert!(length("日本語", None, Some(2), None).is_err());
        assert!(length(&vec![1, 2], None, None, Some(2)).is_ok());
        assert_eq!(
            message(length("", Some(1), None, None)),
            "must not be empty"
        );
        assert_eq!(
            message(length("a", Some(2), Some(4), None)),
            "must be between 2 and 4 characters long"
        );
        assert_eq!(
            message(length(&[1u8][..], Some(2), None, None)),
            "must be at least 2 items long"
        );
    }

    #[test]
    fn range_bounds_are_inclusive_unless_exclusive() {
        assert!(range(&0, Some(&0), Some(&150), None, None).is_ok());
        assert!(range(&150, Some(&0), Some(&150), None, None).is_ok());
        assert!(range(&-1, Some(&0), Some(&150), None, None).is_err());
        assert!(range(&151, Some(&0), Some(&150), None, None).is_err());
        assert!(range(&0.0, None, None, Some(&0.0), None).is_err());
        assert!(range(&0.1, None, None, Some(&0.0), Some(&1.0)).is_ok());
        assert!(range(&f64::NAN, Some(&0.0), None, None, None).is_err());
        let error = range(&200, Some(&0), Some(&150), None, None).unwrap_err();
        assert_eq!(error.message(), "must be between 0 and 150");
        assert_eq!(error.param("max"), Some(&serde_json::json!(150)));
        assert_eq!(
            message(range(&1, None, None, Some(&0), Some(&1))),
            "must be greater than 0 and less than 1"
        );
    }

    #[test]
    fn string_rules() {
        assert!(email("a@b.c").is_ok());
        assert_eq!(message(email("nope")), "must be a valid email address");
        assert!(contains("a@b", "@").is_ok() && does_not_contain("a@b", "@").is_err());
        assert!(must_match("x", "x", "other").is_ok());
        assert_eq!(
            message(must_match("x", "y", "password")),
            "must match `password`"
        );
        assert!(required(&Some(1)).is_ok() && required(&None::<u8>).is_err());
    }
}
