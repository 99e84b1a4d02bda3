//! A request value that does not have the shape its type asks for (JSON
//! body or query string), reported as the field errors validation uses:
//! one 422 shape for the client to read, each problem at its path.

use serde::de::{DeserializeOwned, Deserializer};

use crate::validate::{ValidationError, ValidationErrors};

/// Deserializes `T` from `deserializer` again, this time following the
/// path, to say where the first error is: called only once a plain
/// deserialization failed (the success path pays nothing for paths).
pub(crate) fn shape_errors<'de, T, D>(deserializer: D) -> ValidationErrors
where
    T: DeserializeOwned,
    D: Deserializer<'de>,
    D::Error: std::fmt::Display,
{
    let mut errors = ValidationErrors::new();
    if let Err(err) = serde_path_to_error::deserialize::<_, T>(deserializer) {
        // The value as a whole is reported where struct-level errors go.
        let path = match err.path().to_string() {
            root if root == "." => "__all__".to_owned(),
            path => path,
        };
        let message = err.into_inner().to_string();
        let (path, code) = match missing_field(&message) {
            Some(field) => (join(&path, field), "required"),
            None if message.starts_with("unknown field") => (path, "unknown"),
            None => (path, "type"),
        };
        let message = crate::text::client_message(strip_position(&message));
        errors.add(path, ValidationError::new(code).with_message(message));
    }
    errors
}

/// `missing field `email`` → `email`.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// serde_json ends its messages with ` at line L column C`.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |i| &message[..i])
}

/// The path of `field` inside the object at `parent` (`.` is the root).
fn join(parent: &str, field: &str) -> String {
    if parent.is_empty() || parent == "__all__" {
        field.to_owned()
    } else {
        format!("{parent}.{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        qty: u32,
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Order {
        name: String,
        items: Vec<Item>,
    }

    fn errors(json: &str) -> Vec<(String, String)> {
        let mut de = serde_json::Deserializer::from_str(json);
        shape_errors::<Order, _>(&mut de)
            .iter()
            .flat_map(|(path, errors)| {
                errors
                    .iter()
                    .map(move |e| (path.to_owned(), e.code().to_owned()))
            })
            .collect()
    }

    #[test]
    fn each_problem_is_at_its_path() {
        assert_eq!(
            errors(r#"{"name": 42, "items": []}"#),
            [("name".into(), "type".into())]
        );
        assert_eq!(
            errors(r#"{"name": "a", "items": [{"qty": 1}, {"qty": -1}]}"#),
            [("items[1].qty".into(), "type".into())]
        );
        assert_eq!(
            errors(r#"{"name": "a"}"#),
            [("items".into(), "required".into())]
        );
        assert_eq!(
            errors(r#"{"name": "a", "items": [{}]}"#),
            [("items[0].qty".into(), "required".into())]
        );
    }
}
