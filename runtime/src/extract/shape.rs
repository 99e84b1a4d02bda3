//! A request value that does not have the shape its type asks for (JSON
//! body or query string), reported as the field errors validation uses:
//! one 422 shape for the client to read, each problem at its path.

use serde::de::{DeserializeOwned, Deserializer};

use crate::validate::{ValidationError, ValidationErrors};

/// Deserializes `T` from `deserializer` again, this time following the
/// path, to say where the first error is: called only once a plain
/// deserialization failed (the success path pays nothing for paths).
/// For a query string; a JSON body's path is read from its text
/// ([`json_errors`]).
pub(crate) fn shape_errors<'de, T, D>(deserializer: D) -> ValidationErrors
where
    T: DeserializeOwned,
    D: Deserializer<'de>,
    D::Error: std::fmt::Display,
{
    match serde_path_to_error::deserialize::<_, T>(deserializer) {
        Ok(_) => ValidationErrors::new(),
        Err(err) => report(&err.path().to_string(), &err.into_inner().to_string()),
    }
}

/// The field error of a JSON body that serde_json parsed but `T` did not
/// fit (`err` a data error), at its path.
///
/// Not a second deserialization following the path, as for a query
/// string: that instantiated `T`'s whole `Deserialize` once more, per
/// body type, in every app, for an error path (a tenth of a generated
/// app's machine code). serde_json stops where the value that did not fit
/// ends, and everything before that point is well-formed JSON, so the
/// path is read from the text up to there, by code all body types share.
pub(crate) fn json_errors(json: &[u8], err: &serde_json::Error) -> ValidationErrors {
    let message = err.to_string();
    let at = byte_offset(json, err.line(), err.column());
    // These are about the object or array being read, not a value in it.
    let whole = missing_field(&message).is_some()
        || message.starts_with("duplicate field")
        || message.starts_with("invalid length");
    report(&json_path(json, at, whole), &message)
}

/// The error at `path` (as serde_path_to_error writes one: `.` for the
/// root, `items[1].qty`) for serde's `message`.
fn report(path: &str, message: &str) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let message = strip_position(message);
    // The value as a whole is reported where struct-level errors go.
    let path = if path == "." { "__all__" } else { path };
    let (path, code) = match missing_field(message) {
        Some(field) => (join(path, field), "required"),
        None if message.starts_with("unknown field") => (path.to_owned(), "unknown"),
        None => (path.to_owned(), "type"),
    };
    let message = crate::text::client_message(message);
    errors.add(path, ValidationError::new(code).with_message(message));
    errors
}

/// The byte serde_json's error position (`line` from 1, `column` the
/// bytes read on that line) points after.
fn byte_offset(json: &[u8], line: usize, column: usize) -> usize {
    let line_start = match line.checked_sub(2) {
        None => 0,
        Some(newlines) => json
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(newlines)
            .map_or(json.len(), |(i, _)| i + 1),
    };
    line_start.saturating_add(column)
}

/// The path of what is being read at byte `at` of `json`: the key or
/// index each enclosing object or array is at. With `whole`, the path of
/// the object or array the error is about: the one just closed (serde_json
/// reports a missing field or a short array after reading its end), else
/// the innermost open one (a field given twice, reported at its key).
fn json_path(json: &[u8], at: usize, whole: bool) -> String {
    // A key is kept as where its quoted text is, decoded only for the
    // path: a large body's many keys cost no allocation each.
    enum Frame {
        Object {
            key: Option<(usize, usize)>,
            expect_key: bool,
        },
        Array(usize),
    }
    let end = at.min(json.len());
    let mut stack = Vec::new();
    let mut just_closed = false;
    let mut i = 0;
    while i < end {
        just_closed = false;
        match json[i] {
            b'{' => stack.push(Frame::Object {
                key: None,
                expect_key: true,
            }),
            b'[' => stack.push(Frame::Array(0)),
            b'}' | b']' => {
                stack.pop();
                just_closed = true;
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array(index)) => *index += 1,
                Some(Frame::Object { expect_key, .. }) => *expect_key = true,
                None => {}
            },
            b'"' => {
                let close = string_end(json, i);
                if let Some(Frame::Object { key, expect_key }) = stack.last_mut()
                    && *expect_key
                {
                    *key = Some((i, close.saturating_add(1).min(json.len())));
                    *expect_key = false;
                }
                i = close;
            }
            _ => {}
        }
        i += 1;
    }
    if whole && !just_closed {
        stack.pop();
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object {
                key: Some((start, end)),
                ..
            } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&unquote(&json[*start..*end]));
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array(index) => {
                use std::fmt::Write;
                let _ = write!(path, "[{index}]");
            }
        }
    }
    if path.is_empty() {
        ".".to_owned()
    } else {
        path
    }
}

/// The index of the quote closing the string that opens at `start`.
fn string_end(json: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < json.len() {
        match json[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    json.len()
}

/// A quoted JSON string's text.
fn unquote(quoted: &[u8]) -> String {
    match quoted
        .strip_prefix(b"\"")
        .and_then(|q| q.strip_suffix(b"\""))
    {
        Some(plain) if !plain.contains(&b'\\') => String::from_utf8_lossy(plain).into_owned(),
        _ => serde_json::from_slice(quoted).unwrap_or_default(),
    }
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
    use std::collections::BTreeMap;

    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        qty: u32,
        tag: Option<Tag>,
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    enum Tag {
        Plain,
        Sized { width: u8 },
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Order {
        name: String,
        items: Vec<Item>,
        #[serde(default)]
        totals: BTreeMap<String, u16>,
        #[serde(default)]
        pair: Option<(u8, String)>,
        #[serde(default)]
        strict: Option<Strict>,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        only: bool,
    }

    type Found = Vec<(String, String, String)>;

    fn listed(errors: ValidationErrors) -> Found {
        errors
            .iter()
            .flat_map(|(path, errors)| {
                errors
                    .iter()
                    .map(move |e| (path.to_owned(), e.code().to_owned(), e.message().to_owned()))
            })
            .collect()
    }

    /// The error read from the text, and the one a second, path-following
    /// deserialization finds.
    fn both<T: DeserializeOwned>(json: &str) -> (Found, Found) {
        let err = match serde_json::from_str::<T>(json) {
            Ok(_) => panic!("{json} fits"),
            Err(err) => err,
        };
        assert_eq!(err.classify(), serde_json::error::Category::Data, "{json}");
        let read = listed(json_errors(json.as_bytes(), &err));
        let followed = listed(shape_errors::<T, _>(
            &mut serde_json::Deserializer::from_str(json),
        ));
        (read, followed)
    }

    #[test]
    fn each_problem_is_at_its_path() {
        let path = |json| both::<Order>(json).0.remove(0);
        assert_eq!(path(r#"{"name": 42, "items": []}"#).0, "name");
        assert_eq!(
            path(r#"{"name": "a", "items": [{"qty": 1}, {"qty": -1}]}"#).0,
            "items[1].qty"
        );
        let (at, code, _) = path(r#"{"name": "a"}"#);
        assert_eq!((at.as_str(), code.as_str()), ("items", "required"));
        let (at, code, _) = path(r#"{"name": "a", "items": [{}]}"#);
        assert_eq!((at.as_str(), code.as_str()), ("items[0].qty", "required"));
    }

    /// Reading the path from the text finds what following it through a
    /// second deserialization does, error for error.
    #[test]
    fn the_path_read_from_the_text_is_the_one_deserialization_follows() {
        let orders = [
            r#"5"#,
            r#"[]"#,
            r#"{"name": 42, "items": []}"#,
            r#"{"name": "a", "items": [{"qty": 1}, {"qty": -1}]}"#,
            r#"{"name": "a"}"#,
            r#"{"items": [], "name": "a", "name": "b"}"#,
            r#"{"name": "a", "items": [{}]}"#,
            r#"{"name": "a", "items": [{"qty": 1, "tag": "Round"}]}"#,
            r#"{"name": "a", "items": [{"qty": 1, "tag": {"Sized": {"width": 300}}}]}"#,
            r#"{"name": "a", "items": [{"qty": 1, "tag": {"Sized": {}}}]}"#,
            r#"{"name": "a", "items": {"qty": 1}}"#,
            r#"{"name": "a", "items": [], "totals": {"x": 1, "y": "two"}}"#,
            r#"{"name": "a", "items": [], "totals": {"a.b": 1, "c\"d": -2}}"#,
            r#"{"name": "a", "items": [], "pair": [1]}"#,
            r#"{"name": "a", "items": [], "pair": [1, 2]}"#,
            r#"{"name": "a", "items": [], "strict": {"only": true, "extra": 1}}"#,
            r#"{"name": "a", "items": [], "strict": {}}"#,
            "{\n  \"name\": \"a\",\n  \"items\": [\n    {\"qty\": \"x\"}\n  ]\n}",
            r#"{"na\u006de": "a", "items": [{"qty": 1}, {"qty": 2, "tag": "Plain"}, {"qty": 1.5}]}"#,
            r#"{"name": "\"[{,", "items": [{"qty": 1}], "totals": {"[": 1, "]": true}}"#,
            r#"{"name": "é😀", "items": [ {"qty": 1} , { } ] }"#,
            r#"{"name": "a", "items": [{"qty": 1, "tag": {"Sized": {"width": 1, "width": 2}}}]}"#,
            r#"{"name": "a", "items": [], "strict": {"only": "yes"}}"#,
        ];
        for json in orders {
            let (read, followed) = both::<Order>(json);
            assert_eq!(read, followed, "{json}");
        }
        for json in [
            r#"{"qty": 1}"#,
            r#"[{"qty": 1}, {"qty": 2}, {"qty": "3"}]"#,
            r#"[[]]"#,
        ] {
            let (read, followed) = both::<Vec<Item>>(json);
            assert_eq!(read, followed, "{json}");
        }
    }
}
