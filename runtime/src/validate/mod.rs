//! Request validation: the `Validate` trait that `#[derive(Validate)]`
//! implements, the structured errors it returns, and the rules it calls.
//!
//! A handler argument whose extractor carries a `Validate` type (`Json<T>`,
//! `Query<T>`) is validated before the handler runs; a failure is a 422
//! envelope whose `error.fields` maps each failing field path to its
//! errors. Validation allocates nothing when the value is valid.

mod email;
mod errors;
mod patch;
pub mod rules;
mod schema;

pub use errors::{ValidationError, ValidationErrors};
pub use patch::Patch;
pub use schema::{SchemaRule, SchemaRules, bound as schema_bound};

/// A value that can check its own constraints.
///
/// Derive it with `#[derive(Validate)]`, or implement it by hand:
///
/// ```
/// use portico_runtime::validate::{Validate, ValidationError, ValidationErrors};
///
/// struct Range { lo: u32, hi: u32 }
///
/// impl Validate for Range {
///     fn validate(&self) -> Result<(), ValidationErrors> {
///         let mut errors = ValidationErrors::new();
///         if self.lo > self.hi {
///             errors.add("lo", ValidationError::new("order").with_message("lo must not exceed hi"));
///         }
///         errors.into_result()
///     }
/// }
/// assert!(Range { lo: 2, hi: 1 }.validate().is_err());
/// ```
pub trait Validate {
    /// Checks every constraint and reports every failure.
    fn validate(&self) -> Result<(), ValidationErrors>;

    /// Declares the constraints for the published JSON Schema (the
    /// OpenAPI document); `#[derive(Validate)]` writes it from the same
    /// rules `validate` checks. A hand-written impl may leave it empty.
    fn describe(rules: &mut SchemaRules)
    where
        Self: Sized,
    {
        let _ = rules;
    }
}

impl<T: Validate + ?Sized> Validate for &T {
    fn validate(&self) -> Result<(), ValidationErrors> {
        (**self).validate()
    }
}

impl<T: Validate + ?Sized> Validate for Box<T> {
    fn validate(&self) -> Result<(), ValidationErrors> {
        (**self).validate()
    }
}

/// An extractor whose value is validated before the handler runs.
///
/// Implemented for `Json<T>` and `Query<T>` when `T: Validate`; implement
/// it for your own extractors to opt them in.
pub trait Validated {
    /// Validates the extracted value.
    fn validate_extracted(&self) -> Result<(), ValidationErrors>;

    /// The rules of the validated type, for the published schema
    /// ([`Validate::describe`]).
    fn rules() -> fn(&mut SchemaRules)
    where
        Self: Sized,
    {
        |_| {}
    }
}

impl<T: Validate> Validate for Option<T> {
    fn validate(&self) -> Result<(), ValidationErrors> {
        self.as_ref().map_or(Ok(()), Validate::validate)
    }
    fn describe(rules: &mut SchemaRules) {
        T::describe(rules);
    }
}

/// Items are reported as `[index]`: under a field `items`, `items[2].qty`.
impl<T: Validate> Validate for [T] {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        for (i, item) in self.iter().enumerate() {
            if let Err(nested) = item.validate() {
                errors.merge(&format!("[{i}]"), nested);
            }
        }
        errors.into_result()
    }
}

impl<T: Validate> Validate for Vec<T> {
    fn validate(&self) -> Result<(), ValidationErrors> {
        self.as_slice().validate()
    }
    fn describe(rules: &mut SchemaRules) {
        T::describe(rules);
    }
}

impl<T: Validate, const N: usize> Validate for [T; N] {
    fn validate(&self) -> Result<(), ValidationErrors> {
        self.as_slice().validate()
    }
    fn describe(rules: &mut SchemaRules) {
        T::describe(rules);
    }
}

fn validate_entries<'a, K: std::fmt::Display + 'a, V: Validate + 'a>(
    entries: impl Iterator<Item = (&'a K, &'a V)>,
) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    for (key, value) in entries {
        if let Err(nested) = value.validate() {
            errors.merge(&format!("[{key}]"), nested);
        }
    }
    errors.into_result()
}

/// Values are reported as `[key]`: under a field `prices`, `prices[eur].amount`.
impl<K: std::fmt::Display, V: Validate, S> Validate for std::collections::HashMap<K, V, S> {
    fn validate(&self) -> Result<(), ValidationErrors> {
        validate_entries(self.iter())
    }
    fn describe(rules: &mut SchemaRules) {
        V::describe(rules);
    }
}

/// Values are reported as `[key]`.
impl<K: std::fmt::Display, V: Validate> Validate for std::collections::BTreeMap<K, V> {
    fn validate(&self) -> Result<(), ValidationErrors> {
        validate_entries(self.iter())
    }
    fn describe(rules: &mut SchemaRules) {
        V::describe(rules);
    }
}
