//! Text that came from the network, made safe to write into a log line
//! or an error message: control characters (newlines, escape sequences,
//! bidirectional overrides) escaped, length bounded, and serde's Rust
//! type names kept out of what a client reads.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

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
pub(crate) fn client_message(message: &str) -> String {
    static ECHOED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(string|integer|floating point|character|boolean|unknown field|unknown variant) ("(?:[^"\\]|\\.)*"|`[^`]*`)"#)
            .expect("a valid pattern")
    });
    static TYPE_NAME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\b(tuple struct|struct|enum) [A-Z][A-Za-z0-9_]*").expect("a valid pattern")
    });
    let without_input = ECHOED.replace_all(message, "$1");
    let without_types = TYPE_NAME.replace_all(&without_input, |caps: &regex::Captures<'_>| {
        if &caps[1] == "enum" {
            "one of the allowed values"
        } else {
            "an object"
        }
    });
    untrusted(&without_types).to_string()
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
    }
}
