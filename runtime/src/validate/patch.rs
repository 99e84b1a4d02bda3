//! `Patch<T>`: a field of a partial update that tells "not sent", "sent
//! as `null`" and "sent with a value" apart.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{SchemaRules, Validate, ValidationErrors};

/// A field of a PATCH body (RFC 7396 merge-patch semantics): absent
/// leaves the stored value as it is, `null` clears it, a value replaces
/// it. `Option<T>` cannot say this, since serde reads an absent field and
/// a `null` alike as `None`.
///
/// Give the field (or the struct) `#[serde(default)]`, so that an absent
/// field is [`Patch::Absent`]; `#[derive(Validate)]` refuses a `Patch`
/// field without it at compile time. Rules on the field apply to a sent
/// value only; `required` asks for a value (neither absent nor `null`).
///
/// ```
/// use portico_runtime::validate::{Patch, Validate};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct UserPatch {
///     #[serde(default)]
///     nickname: Patch<String>,
///     #[serde(default)]
///     age: Patch<u8>,
/// }
///
/// let patch: UserPatch = serde_json::from_str(r#"{"nickname": null}"#).unwrap();
/// assert_eq!(patch.nickname, Patch::Null);
/// assert_eq!(patch.age, Patch::Absent);
///
/// let mut stored = Some("zed".to_owned());
/// patch.nickname.apply_to(&mut stored);
/// assert_eq!(stored, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Patch<T> {
    /// The field was not sent: leave the stored value alone.
    #[default]
    Absent,
    /// The field was sent as `null`: clear the stored value.
    Null,
    /// The field was sent with a value: store it.
    Value(T),
}

impl<T> Patch<T> {
    /// Whether the field was left out.
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }

    /// The value sent, if one was.
    pub fn value(&self) -> Option<&T> {
        match self {
            Patch::Value(value) => Some(value),
            Patch::Absent | Patch::Null => None,
        }
    }

    /// What the stored `current` value becomes.
    pub fn applied(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Absent => current,
            Patch::Null => None,
            Patch::Value(value) => Some(value),
        }
    }

    /// Applies the change to a stored value in place.
    pub fn apply_to(self, stored: &mut Option<T>) {
        *stored = self.applied(stored.take());
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(deserializer)?.map_or(Patch::Null, Patch::Value))
    }
}

/// An absent field serialises as `null`; skip it with
/// `#[serde(skip_serializing_if = "Patch::is_absent")]`.
impl<T: Serialize> Serialize for Patch<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

impl<T: Validate> Validate for Patch<T> {
    fn validate(&self) -> Result<(), ValidationErrors> {
        self.value().map_or(Ok(()), Validate::validate)
    }
    fn describe(rules: &mut SchemaRules) {
        T::describe(rules);
    }
}

/// Whether a field holds a value, for the `required` rule.
#[doc(hidden)]
pub trait Presence {
    /// `true` when the field holds a value.
    fn is_present(&self) -> bool;
}

impl<T> Presence for Option<T> {
    fn is_present(&self) -> bool {
        self.is_some()
    }
}

impl<T> Presence for Patch<T> {
    fn is_present(&self) -> bool {
        self.value().is_some()
    }
}

/// Published as `T` or `null`; absent when the field is `#[serde(default)]`.
impl<T: schemars::JsonSchema> schemars::JsonSchema for Patch<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        <Option<T> as schemars::JsonSchema>::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Option<T> as schemars::JsonSchema>::json_schema(generator)
    }
}
