//! The schemas of an app's types, as the components of its document: one
//! generator for what requests read and one for what responses write
//! (serde can differ between the two), merged at the end.

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use super::refs::{PREFIX, component, reference};
use super::rules;
use crate::validate::SchemaRules;

/// The two generators and what has been constrained already.
#[derive(Debug)]
pub(crate) struct Schemas {
    request: SchemaGenerator,
    response: SchemaGenerator,
    /// Request components whose `Validate` rules are folded in (a type
    /// that several routes read is constrained once).
    constrained: HashSet<String>,
}

fn generator(settings: SchemaSettings) -> SchemaGenerator {
    settings
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator()
}

impl Default for Schemas {
    fn default() -> Self {
        Schemas {
            request: generator(SchemaSettings::draft2020_12().for_deserialize()),
            response: generator(SchemaSettings::draft2020_12().for_serialize()),
            constrained: HashSet::new(),
        }
    }
}

impl Schemas {
    pub(crate) fn request<T: JsonSchema>(&mut self) -> Value {
        self.request.subschema_for::<T>().to_value()
    }

    pub(crate) fn response<T: JsonSchema>(&mut self) -> Value {
        self.response.subschema_for::<T>().to_value()
    }

    /// Folds `describe`'s rules into `schema` (a request schema): into the
    /// component it names, once per component.
    pub(crate) fn constrain(&mut self, schema: &Value, describe: fn(&mut SchemaRules)) {
        // An inline schema is the operation's own copy: nothing to
        // constrain in the components.
        if let Some(name) = reference(schema) {
            let definitions = self.request.definitions_mut();
            rules::constrain_component(name, describe, definitions, &mut self.constrained);
        }
    }

    /// The properties of `schema` (an object, or a `$ref` to one) as query
    /// parameters, required as the object says unless `optional`.
    pub(crate) fn query_parameters(&self, schema: &Value, optional: bool) -> Vec<Value> {
        let object = match reference(schema) {
            Some(name) => self.request.definitions().get(name).cloned(),
            None => Some(schema.clone()),
        };
        let Some(object) = object else {
            return Vec::new();
        };
        let required: HashSet<&str> = object["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let Some(properties) = object["properties"].as_object() else {
            return Vec::new();
        };
        properties
            .iter()
            .map(|(name, property)| {
                let mut parameter = json!({
                    "name": name,
                    "in": "query",
                    "required": !optional && required.contains(name.as_str()),
                    "schema": property,
                });
                if let Some(description) = property.get("description") {
                    parameter["description"] = description.clone();
                }
                parameter
            })
            .collect()
    }

    /// The components: the app's types (a type that requests and
    /// responses see differently is published twice, the response's as
    /// `<Name>Response`) and the envelope's own; `responses` are the
    /// operations' responses, whose references follow the renames.
    pub(crate) fn into_components<'a>(
        mut self,
        responses: impl Iterator<Item = &'a mut Value>,
    ) -> Map<String, Value> {
        let requests = self.request.take_definitions(true);
        let mut written = self.response.take_definitions(true);
        // A rename changes the references in other response schemas,
        // which may then differ in turn: repeat until nothing moves.
        let mut renames: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let mut changed = false;
            for (name, schema) in &written {
                if renames.contains_key(name) {
                    continue;
                }
                if requests.get(name).is_some_and(|seen| seen != schema) {
                    renames.insert(name.clone(), format!("{name}Response"));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
            for schema in written.values_mut() {
                rename_refs(schema, &renames);
            }
        }
        let mut components = requests;
        for (name, schema) in written {
            let name = renames.get(&name).cloned().unwrap_or(name);
            components.entry(name).or_insert(schema);
        }
        for response in responses {
            rename_refs(response, &renames);
        }
        components.extend(envelope_components());
        components
    }
}

fn rename_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "$ref"
                    && let Some(name) = value.as_str().and_then(|r| r.strip_prefix(PREFIX))
                    && let Some(new) = renames.get(name)
                {
                    *value = Value::String(format!("{PREFIX}{new}"));
                } else {
                    rename_refs(value, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renames)),
        _ => {}
    }
}

/// The envelope's shapes, as `ApiError`, `ValidationErrors`, `Meta` and
/// `CursorMeta` serialise them.
fn envelope_components() -> Map<String, Value> {
    let failure = |fields: Value| {
        json!({
            "type": "object",
            "description": "The failure envelope: `data` is null, `error` says what failed.",
            "required": ["success", "data", "error"],
            "properties": {
                "success": {"const": false},
                "data": {"type": "null"},
                "error": {
                    "type": "object",
                    "required": ["message", "code"],
                    "properties": {
                        "message": {"type": "string"},
                        "code": {"type": "integer", "description": "the HTTP status"},
                        "fields": fields,
                    },
                },
            },
        })
    };
    let mut components = Map::new();
    components.insert(
        "Failure".into(),
        failure(json!({"type": "object", "description": "details, by field or by check"})),
    );
    components.insert(
        "ValidationFailure".into(),
        failure(json!({
            "type": "object",
            "description": "every failing field, by its path (`email`, `address.zip`, `items[2].qty`)",
            "additionalProperties": {"type": "array", "items": component("FieldError")},
        })),
    );
    components.insert(
        "FieldError".into(),
        json!({
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "the rule that failed: `length`, `email`, …"},
                "message": {"type": "string"},
                "params": {"type": "object", "description": "the rule's parameters (`min`, `max`, …)"},
            },
        }),
    );
    let count = json!({"type": "integer", "minimum": 0});
    components.insert(
        "PageMeta".into(),
        json!({
            "type": "object",
            "required": ["total", "page", "page_size", "pages"],
            "properties": {
                "total": count, "page": count, "page_size": count,
                "pages": {"type": "integer", "minimum": 0, "description": "ceil(total / page_size)"},
            },
        }),
    );
    components.insert(
        "CursorMeta".into(),
        json!({
            "type": "object",
            "required": ["limit", "next", "prev"],
            "properties": {
                "limit": count,
                "next": {"type": ["string", "null"], "description": "send as `after` for the next page"},
                "prev": {"type": ["string", "null"], "description": "send as `before` for the previous page"},
            },
        }),
    );
    components
}
