//! `Validate` rules into JSON Schema keywords: `length` → `minLength` /
//! `minItems` / `minProperties` as the field's type says, `range` →
//! `minimum`…, `email` → `format`, `regex` → `pattern`, `required` → the
//! object's `required`, `nested` → the field type's own component. What
//! JSON Schema cannot say is named in `x-portico-rules` and the
//! description.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::refs::reference;
use crate::validate::{SchemaRule, SchemaRules};

/// Folds the rules `describe` declares into the component `name`, once:
/// a type that several routes or fields reach is constrained the first
/// time only.
pub(super) fn constrain_component(
    name: &str,
    describe: fn(&mut SchemaRules),
    definitions: &mut Map<String, Value>,
    constrained: &mut HashSet<String>,
) {
    let mut declared = SchemaRules::default();
    describe(&mut declared);
    if declared.is_empty() || !constrained.insert(name.to_owned()) {
        return;
    }
    if let Some(mut target) = definitions.remove(name) {
        apply(&declared, &mut target, definitions, constrained);
        definitions.insert(name.to_owned(), target);
    }
}

/// Folds `rules` into `schema`, an object schema; `nested` rules reach
/// the components in `definitions` (each constrained once).
pub(super) fn apply(
    rules: &SchemaRules,
    schema: &mut Value,
    definitions: &mut Map<String, Value>,
    constrained: &mut HashSet<String>,
) {
    for (key, rule) in rules.fields() {
        if let SchemaRule::Required = rule {
            require(schema, key);
        }
        let Some(property) = schema.get_mut("properties").and_then(|p| p.get_mut(key)) else {
            continue;
        };
        apply_rule(rule, property, definitions, constrained);
    }
    for check in rules.whole_checks() {
        unexpressed(schema, check);
    }
}

fn apply_rule(
    rule: &SchemaRule,
    property: &mut Value,
    definitions: &mut Map<String, Value>,
    constrained: &mut HashSet<String>,
) {
    match rule {
        SchemaRule::Length { min, max, equal } => {
            let (min, max) = (equal.or(*min), equal.or(*max));
            let (at_least, at_most) = if has_type(property, "array") {
                ("minItems", "maxItems")
            } else if has_type(property, "object") {
                ("minProperties", "maxProperties")
            } else {
                ("minLength", "maxLength")
            };
            if let Some(min) = min {
                property[at_least] = json!(min);
            }
            if let Some(max) = max {
                property[at_most] = json!(max);
            }
        }
        SchemaRule::Range {
            min,
            max,
            exclusive_min,
            exclusive_max,
        } => {
            let bounds = [
                ("minimum", min),
                ("maximum", max),
                ("exclusiveMinimum", exclusive_min),
                ("exclusiveMaximum", exclusive_max),
            ];
            for (keyword, bound) in bounds {
                match bound {
                    Some(bound @ Value::Number(_)) => property[keyword] = bound.clone(),
                    Some(other) => unexpressed(property, &format!("{keyword}: {other}")),
                    None => {}
                }
            }
        }
        SchemaRule::Format(format) => property["format"] = json!(format),
        SchemaRule::Pattern(pattern) => add_pattern(property, pattern),
        SchemaRule::Contains(text) => add_pattern(property, &regex::escape(text)),
        SchemaRule::DoesNotContain(text) => {
            all_of(property, json!({"not": {"pattern": regex::escape(text)}}));
        }
        SchemaRule::Required => not_null(property),
        SchemaRule::Nested(describe) => {
            if let Some(name) = find_reference(property) {
                let name = name.to_owned();
                constrain_component(&name, *describe, definitions, constrained);
            }
        }
        SchemaRule::Unexpressed(check) => unexpressed(property, check),
    }
}

/// Whether the schema's `type` is or includes `ty`.
fn has_type(schema: &Value, ty: &str) -> bool {
    match &schema["type"] {
        Value::String(t) => t == ty,
        Value::Array(types) => types.iter().any(|t| t == ty),
        _ => false,
    }
}

/// A second pattern goes into `allOf`: a schema has one `pattern`.
fn add_pattern(property: &mut Value, pattern: &str) {
    let said = |schema: &Value| schema.get("pattern").and_then(Value::as_str) == Some(pattern);
    // `#[derive(JsonSchema)]` reads `#[validate(regex(path = …))]` too.
    if said(property)
        || property["allOf"]
            .as_array()
            .is_some_and(|all| all.iter().any(said))
    {
        return;
    }
    if property.get("pattern").is_some() {
        all_of(property, json!({"pattern": pattern}));
    } else {
        property["pattern"] = json!(pattern);
    }
}

fn all_of(property: &mut Value, schema: Value) {
    match property.get_mut("allOf").and_then(Value::as_array_mut) {
        Some(all) => all.push(schema),
        None => property["allOf"] = json!([schema]),
    }
}

fn require(object: &mut Value, key: &str) {
    match object.get_mut("required").and_then(Value::as_array_mut) {
        Some(required) if required.iter().any(|k| k == key) => {}
        Some(required) => required.push(json!(key)),
        None => object["required"] = json!([key]),
    }
}

/// `required` on an `Option`: `null` is refused too.
fn not_null(property: &mut Value) {
    if let Some(types) = property.get_mut("type").and_then(Value::as_array_mut) {
        types.retain(|t| t != "null");
    }
    if let Some(any) = property.get_mut("anyOf").and_then(Value::as_array_mut) {
        any.retain(|branch| branch != &json!({"type": "null"}));
    }
    if property.get("default") == Some(&Value::Null)
        && let Some(map) = property.as_object_mut()
    {
        map.remove("default");
    }
}

/// The component a property's schema reaches: itself, its items, its
/// map values or one branch of a nullable `anyOf`.
fn find_reference(schema: &Value) -> Option<&str> {
    reference(schema)
        .or_else(|| schema.get("items").and_then(find_reference))
        .or_else(|| schema.get("additionalProperties").and_then(find_reference))
        .or_else(|| {
            schema["anyOf"]
                .as_array()
                .and_then(|branches| branches.iter().find_map(find_reference))
        })
}

/// Names a check the schema cannot say, in `x-portico-rules` and in the
/// description.
fn unexpressed(schema: &mut Value, check: &str) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    let listed = map.entry("x-portico-rules").or_insert_with(|| json!([]));
    if let Some(listed) = listed.as_array_mut() {
        listed.push(json!(check));
    }
    let note = format!("Also checked by the server: {check}.");
    let description = match map.get("description").and_then(Value::as_str) {
        Some(text) => format!("{text}\n\n{note}"),
        None => note,
    };
    map.insert("description".into(), Value::String(description));
}
