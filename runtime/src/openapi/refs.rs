//! `$ref`s into the document's components: made, and read back.

use serde_json::{Value, json};

/// Where components live in the document.
pub(super) const PREFIX: &str = "#/components/schemas/";

/// `{"$ref": "#/components/schemas/<name>"}`.
pub(super) fn component(name: &str) -> Value {
    json!({"$ref": format!("{PREFIX}{name}")})
}

/// The component `schema` names, if it is a `$ref` to one.
pub(super) fn reference(schema: &Value) -> Option<&str> {
    schema.get("$ref")?.as_str()?.strip_prefix(PREFIX)
}
