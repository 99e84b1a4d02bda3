//! Text that came from the network, made safe to write into a log line
//! or an error message: control characters (newlines, escape sequences,
//! bidirectional overrides) escaped, length bounded, and serde's Rust
//! type names kept out of what a client reads.

use std::fmt;

/// The most characters of one untrusted string that a message carries.
const MAX_CHARS: usize = 200;

/// Shows `text` escaped and cut to a bounded length; see the module docs.
pub(crate) fn untrusted(text: &str) -> Untrusted<'_> {
    Untrusted(text)
}

/// See [`untrusted`].
pub(crate) struct Untrusted<'a>(&'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            if i == MAX_CHARS {
                return f.write_str("…");
            }
            if c.is_control() || is_invisible(c) {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Characters that change how the text around them displays without
/// showing themselves: bidirectional controls and zero-width marks.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// A deserializer's message as a client may read it: without the values
/// it quotes from the input (`invalid type: string "…"`, `unknown field
/// `…``) or the Rust names of the server's types (`expected struct
/// NewUser` reads `expected an object`), escaped and bounded.
///
/// Read by hand rather than by a regex: this is the error path of every
/// JSON body, and a regex here linked the whole regex engine into every
/// app, regex rules or none.
pub(crate) fn client_message(message: &str) -> String {
    let mut kept = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(c) = rest.chars().next() {
        if let Some((word, after)) = echoed(rest) {
            kept.push_str(word);
            rest = after;
        } else if let Some((instead, after)) = type_name(rest).filter(|_| !kept.ends_with(is_word))
        {
            kept.push_str(instead);
            rest = after;
        } else {
            kept.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    untrusted(&kept).to_string()
}

/// The words after which serde quotes a value from the input.
const ECHOING: [&str; 7] = [
    "string",
    "integer",
    "floating point",
    "character",
    "boolean",
    "unknown field",
    "unknown variant",
];

/// The words serde puts before a type's name, and what a client reads
/// instead of both.
const TYPE_KINDS: [(&str, &str); 3] = [
    ("tuple struct", "an object"),
    ("struct", "an object"),
    ("enum", "one of the allowed values"),
];

/// At the start of `text`, one of [`ECHOING`], a space and a quoted
/// value: the word, and what follows the value.
fn echoed(text: &str) -> Option<(&'static str, &str)> {
    ECHOING.into_iter().find_map(|word| {
        let value = text.strip_prefix(word)?.strip_prefix(' ')?;
        Some((word, after_quoted(value)?))
    })
}

/// What follows the quoted value `text` starts with: `"…"` with
/// backslash escapes (serde writes strings with `{:?}`) or `` `…` ``. An
/// unterminated value runs to the end: none of it is shown.
fn after_quoted(text: &str) -> Option<&str> {
    let mut chars = text.char_indices();
    match chars.next()?.1 {
        '"' => {
            let mut escaped = false;
            for (i, c) in chars {
                match c {
                    '"' if !escaped => return Some(&text[i + 1..]),
                    '\\' => escaped = !escaped,
                    _ => escaped = false,
                }
            }
            Some("")
        }
        '`' => Some(text[1..].find('`').map_or("", |end| &text[end + 2..])),
        _ => None,
    }
}

/// At the start of `text`, one of [`TYPE_KINDS`], a space and a type's
/// name: what the client reads instead, and what follows the name.
fn type_name(text: &str) -> Option<(&'static str, &str)> {
    TYPE_KINDS.into_iter().find_map(|(kind, instead)| {
        let name = text.strip_prefix(kind)?.strip_prefix(' ')?;
        if !name.starts_with(|c: char| c.is_ascii_uppercase()) {
            return None;
        }
        let end = name
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(name.len());
        Some((instead, &name[end..]))
    })
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_invisible_characters_are_escaped() {
        let shown = untrusted("x\n<fake line>\u{1b}[31m\u{202e}").to_string();
        assert_eq!(shown, "x\\u{a}<fake line>\\u{1b}[31m\\u{202e}");
        assert!(!shown.chars().any(|c| c.is_control()));
    }

    #[test]
    fn long_text_is_cut() {
        let shown = untrusted(&"a".repeat(10_000)).to_string();
        assert_eq!(shown.chars().count(), MAX_CHARS + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn type_names_leave_client_messages() {
        assert_eq!(
            client_message(
                "invalid type: string \"x\\\"y\", expected struct NewUser at line 1 column 3"
            ),
            "invalid type: string, expected an object at line 1 column 3"
        );
        assert_eq!(
            client_message("invalid type: integer `1`, expected enum Role"),
            "invalid type: integer, expected one of the allowed values"
        );
        assert_eq!(
            client_message("unknown field `a\nb`, expected `name` or `email`"),
            "unknown field, expected `name` or `email`"
        );
        assert_eq!(client_message("bad \u{1b}[31m"), "bad \\u{1b}[31m");
        assert_eq!(
            client_message("missing field `email`"),
            "missing field `email`"
        );
        assert_eq!(
            client_message("invalid type: map, expected tuple struct Point"),
            "invalid type: map, expected an object"
        );
        // Only a whole word names a type.
        assert_eq!(
            client_message("expected destruct Point"),
            "expected destruct Point"
        );
        assert_eq!(
            client_message("invalid value: character `x`, expected a digit"),
            "invalid value: character, expected a digit"
        );
        assert_eq!(
            client_message("invalid type: boolean `true`, expected u8"),
            "invalid type: boolean, expected u8"
        );
    }

    #[test]
    fn no_quoted_input_is_shown() {
        // Escaped quotes and backslashes inside the value.
        assert_eq!(
            client_message(r#"invalid type: string "a\"b\\", expected u8"#),
            "invalid type: string, expected u8"
        );
        // A value cut short shows none of itself.
        assert_eq!(
            client_message(r#"invalid type: string "secret"#),
            "invalid type: string"
        );
        assert_eq!(client_message("unknown variant `secret"), "unknown variant");
        assert_eq!(
            client_message("unknown variant `größe`, expected `a`"),
            "unknown variant, expected `a`"
        );
        // Whatever a string holds, serde writes it with `{:?}`, and none
        // of it reaches the client.
        for value in [
            "SECRET",
            "SECRET\"",
            "\\\"SECRET\\",
            "`SECRET`",
            "SECRET\n\u{202e}",
            "\"enum Role\" SECRET",
            "größe SECRET ü",
        ] {
            let message = format!("invalid type: string {value:?}, expected u8");
            let shown = client_message(&message);
            assert_eq!(shown, "invalid type: string, expected u8", "{message}");
        }
    }
}
