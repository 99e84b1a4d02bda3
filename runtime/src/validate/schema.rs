//! What a type's validation rules declare, in the terms of JSON Schema:
//! `#[derive(Validate)]` writes them once, the check runs them and the
//! OpenAPI document publishes them, so the two cannot drift apart.

/// One rule, as the published schema sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SchemaRule {
    /// `length(min, max, equal)`: characters of a string, items of a
    /// collection, entries of a map.
    Length {
        /// The least length.
        min: Option<u64>,
        /// The greatest length.
        max: Option<u64>,
        /// The only length.
        equal: Option<u64>,
    },
    /// `range(…)`: the bounds as the field's type serialises them.
    Range {
        /// Inclusive lower bound.
        min: Option<serde_json::Value>,
        /// Inclusive upper bound.
        max: Option<serde_json::Value>,
        /// Exclusive lower bound.
        exclusive_min: Option<serde_json::Value>,
        /// Exclusive upper bound.
        exclusive_max: Option<serde_json::Value>,
    },
    /// A JSON Schema `format`: `email`, `uri`.
    Format(&'static str),
    /// `regex`: the pattern the value matches.
    Pattern(String),
    /// `contains`: text the value holds.
    Contains(&'static str),
    /// `does_not_contain`: text the value must not hold.
    DoesNotContain(&'static str),
    /// `required`: present and not `null`.
    Required,
    /// `nested`: the rules of the field's own type.
    Nested(fn(&mut SchemaRules)),
    /// A rule JSON Schema cannot say (a custom function, `must_match`):
    /// named, so that no reader of the schema takes it for the whole
    /// check.
    Unexpressed(String),
}

/// The rules of one type: per field (by the name clients see), and for
/// the whole value (`#[validate(schema(function = …))]`).
#[derive(Debug, Default)]
pub struct SchemaRules {
    fields: Vec<(&'static str, SchemaRule)>,
    whole: Vec<String>,
}

impl SchemaRules {
    /// Records `rule` on the field clients call `key`.
    pub fn field(&mut self, key: &'static str, rule: SchemaRule) {
        self.fields.push((key, rule));
    }

    /// Records a check of the whole value that JSON Schema cannot say.
    pub fn whole(&mut self, rule: impl Into<String>) {
        self.whole.push(rule.into());
    }

    /// The field rules, in declaration order.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &SchemaRule)> {
        self.fields.iter().map(|(key, rule)| (*key, rule))
    }

    /// The checks of the whole value.
    pub fn whole_checks(&self) -> &[String] {
        &self.whole
    }

    /// Whether nothing was declared.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.whole.is_empty()
    }
}

/// A `range` bound as the schema writes it (what the value serialises to).
pub fn bound<T: serde::Serialize + ?Sized>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}
