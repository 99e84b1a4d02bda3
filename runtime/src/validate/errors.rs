//! `ValidationErrors`: every failing field path and what failed there.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// One failed rule: a stable `code` (`length`, `range`, `email`, …), a
/// message for people, and the rule's parameters (`min`, `max`, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationError {
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "params_as_map"
    )]
    params: Vec<(&'static str, serde_json::Value)>,
}

fn params_as_map<S: Serializer>(
    params: &[(&'static str, serde_json::Value)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(params.len()))?;
    for (name, value) in params {
        map.serialize_entry(name, value)?;
    }
    map.end()
}

impl ValidationError {
    /// An error with `code`, whose message is the code until one is set.
    pub fn new(code: impl Into<Cow<'static, str>>) -> Self {
        let code = code.into();
        ValidationError {
            message: code.clone(),
            code,
            params: Vec::new(),
        }
    }

    /// Replaces the message.
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// Replaces the code.
    pub fn with_code(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        self.code = code.into();
        self
    }

    /// Adds a parameter of the rule, shown to clients under `params`.
    pub fn with_param(mut self, name: &'static str, value: impl Serialize) -> Self {
        if let Ok(value) = serde_json::to_value(value) {
            self.params.push((name, value));
        }
        self
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&serde_json::Value> {
        self.params.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Every failure of one value, by field path (`email`, `address.zip`,
/// `items[2].qty`; `__all__` for struct-level rules). Serialises as
/// `{"email": [{"code": "email", "message": "…"}], …}` in path order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValidationErrors {
    fields: BTreeMap<Cow<'static, str>, Vec<ValidationError>>,
}

/// The path of struct-level (`schema`) errors.
pub(super) const SCHEMA_PATH: &str = "__all__";

impl ValidationErrors {
    /// No errors. Does not allocate.
    pub const fn new() -> Self {
        ValidationErrors {
            fields: BTreeMap::new(),
        }
    }

    /// Records `error` at `path` (a field name is usually `&'static str`,
    /// which costs no allocation).
    pub fn add(&mut self, path: impl Into<Cow<'static, str>>, error: ValidationError) {
        self.fields.entry(path.into()).or_default().push(error);
    }

    /// Records every error of a nested value under `prefix`:
    /// `zip` under `address` becomes `address.zip`, `[2].qty` under
    /// `items` becomes `items[2].qty`. The nested value's own struct-level errors land
    /// on `prefix` itself.
    pub fn merge(&mut self, prefix: &str, nested: ValidationErrors) {
        for (path, errors) in nested.fields {
            let full = if path == SCHEMA_PATH {
                prefix.to_owned()
            } else if path.starts_with('[') {
                format!("{prefix}{path}")
            } else {
                format!("{prefix}.{path}")
            };
            self.fields
                .entry(Cow::Owned(full))
                .or_default()
                .extend(errors);
        }
    }

    /// Whether nothing failed.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// `Ok(())` when nothing failed, else `Err(self)`.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The errors at `path`.
    pub fn field(&self, path: &str) -> &[ValidationError] {
        self.fields.get(path).map_or(&[], Vec::as_slice)
    }

    /// Every failing path with its errors, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[ValidationError])> {
        self.fields.iter().map(|(k, v)| (k.as_ref(), v.as_slice()))
    }
}

impl Serialize for ValidationErrors {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.fields.serialize(serializer)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (path, errors) in &self.fields {
            for error in errors {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{path}: {error}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_by_path_with_params() {
        let mut errors = ValidationErrors::new();
        errors.add(
            "name",
            ValidationError::new("length")
                .with_message("too short")
                .with_param("min", 1),
        );
        let mut nested = ValidationErrors::new();
        nested.add("zip", ValidationError::new("length"));
        nested.add(SCHEMA_PATH, ValidationError::new("schema"));
        errors.merge("address", nested);
        assert_eq!(
            serde_json::to_value(&errors).unwrap(),
            serde_json::json!({
                "address": [{"code": "schema", "message": "schema"}],
                "address.zip": [{"code": "length", "message": "length"}],
                "name": [{"code": "length", "message": "too short", "params": {"min": 1}}],
            })
        );
        assert_eq!(
            errors.to_string(),
            "address: schema; address.zip: length; name: too short"
        );
    }
}
