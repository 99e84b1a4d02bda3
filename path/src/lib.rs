//! The route path grammar of Portico, in one place: `#[route]` checks a
//! path with it at compile time and the router parses it at run time, so
//! a rule cannot hold in one and not in the other.
//!
//! A path starts with `/`; its segments are separated by single `/`s; a
//! segment is literal text, `<name>` (one segment) or `<name..>` (the rest
//! of the path, last segment only). Names are ASCII identifiers, each used
//! once, and a path has at most [`MAX_PARAMS`] of them.
//!
//! ```
//! use portico_path::{parse, Segment};
//!
//! let segments = parse("/files/<user>/<rest..>").unwrap();
//! assert_eq!(segments, [Segment::Static("files"), Segment::Param("user"), Segment::CatchAll("rest")]);
//! assert!(parse("/a//b").is_err());
//! ```

#![no_std]
extern crate alloc;

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The most parameters one path may have: the router keeps their spans
/// inline, without allocating.
pub const MAX_PARAMS: usize = 16;

/// One segment of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Literal text that must match exactly.
    Static(&'a str),
    /// `<name>`: one non-empty segment.
    Param(&'a str),
    /// `<name..>`: the rest of the path, zero or more segments.
    CatchAll(&'a str),
}

/// One broken rule of the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NoLeadingSlash,
    /// `//`, or a `/` at the end.
    EmptySegment,
    /// A `<` or `>` that does not make a whole `<name>` or `<name..>` segment.
    MalformedParam {
        /// The segment.
        segment: String,
    },
    /// `<>` or `<..>`.
    EmptyParam {
        /// The segment.
        segment: String,
    },
    /// A name that is not an ASCII identifier.
    BadParamName {
        /// The name.
        name: String,
    },
    /// A name used twice.
    DuplicateParam {
        /// The name.
        name: String,
    },
    /// Segments after a `<name..>`.
    CatchAllNotLast {
        /// The catch-all's name.
        name: String,
    },
    /// More than [`MAX_PARAMS`] parameters.
    TooManyParams {
        /// How many there are.
        found: usize,
    },
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::NoLeadingSlash => f.write_str("a path must start with `/`"),
            PathError::EmptySegment => {
                f.write_str("a path has no empty segments; remove the extra `/`")
            }
            PathError::MalformedParam { segment } => write!(
                f,
                "malformed parameter `{segment}`: a parameter is a whole segment written `<name>` or `<name..>`"
            ),
            PathError::EmptyParam { segment } => write!(
                f,
                "empty parameter `{segment}`: name it after its fn argument, as in `<id>`"
            ),
            PathError::BadParamName { name } => {
                write!(f, "parameter name `{name}` is not an identifier")
            }
            PathError::DuplicateParam { name } => write!(
                f,
                "parameter `<{name}>` appears twice; each parameter needs its own name"
            ),
            PathError::CatchAllNotLast { name } => {
                write!(f, "catch-all `<{name}..>` must be the last segment")
            }
            PathError::TooManyParams { found } => {
                write!(f, "{found} parameters; a path has at most {MAX_PARAMS}")
            }
        }
    }
}

/// Parses `path` into its segments, or lists every rule it breaks (a
/// compile error reports them all at once).
pub fn parse(path: &str) -> Result<Vec<Segment<'_>>, Vec<PathError>> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(alloc::vec![PathError::NoLeadingSlash]);
    };
    let mut segments = Vec::new();
    let mut errors = Vec::new();
    if rest.is_empty() {
        return Ok(segments);
    }
    if rest.split('/').any(str::is_empty) {
        errors.push(PathError::EmptySegment);
    }
    let mut catch_all: Option<&str> = None;
    let mut names: Vec<&str> = Vec::new();
    for raw in rest.split('/').filter(|s| !s.is_empty()) {
        if let Some(name) = catch_all.take() {
            errors.push(PathError::CatchAllNotLast {
                name: name.to_owned(),
            });
        }
        match segment(raw) {
            Ok(segment) => {
                if let Segment::Param(name) | Segment::CatchAll(name) = segment {
                    if names.contains(&name) {
                        errors.push(PathError::DuplicateParam {
                            name: name.to_owned(),
                        });
                    }
                    names.push(name);
                }
                if let Segment::CatchAll(name) = segment {
                    catch_all = Some(name);
                }
                segments.push(segment);
            }
            Err(error) => errors.push(error),
        }
    }
    if names.len() > MAX_PARAMS {
        errors.push(PathError::TooManyParams { found: names.len() });
    }
    if errors.is_empty() {
        Ok(segments)
    } else {
        Err(errors)
    }
}

fn segment(raw: &str) -> Result<Segment<'_>, PathError> {
    if !raw.contains(['<', '>']) {
        return Ok(Segment::Static(raw));
    }
    let inner = raw
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .ok_or_else(|| PathError::MalformedParam {
            segment: raw.to_owned(),
        })?;
    let (name, is_catch_all) = match inner.strip_suffix("..") {
        Some(name) => (name, true),
        None => (inner, false),
    };
    if name.is_empty() {
        return Err(PathError::EmptyParam {
            segment: raw.to_owned(),
        });
    }
    if name.contains(['<', '>']) {
        return Err(PathError::MalformedParam {
            segment: raw.to_owned(),
        });
    }
    if !is_identifier(name) {
        return Err(PathError::BadParamName {
            name: name.to_owned(),
        });
    }
    Ok(if is_catch_all {
        Segment::CatchAll(name)
    } else {
        Segment::Param(name)
    })
}

/// An ASCII Rust identifier that can name a fn argument.
fn is_identifier(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
        "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait",
        "true", "type", "unsafe", "use", "where", "while", "gen",
    ];
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && name != "_"
        && !KEYWORDS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn errors(path: &str) -> Vec<PathError> {
        parse(path).expect_err(path)
    }

    #[test]
    fn root_is_no_segments() {
        assert_eq!(parse("/"), Ok(Vec::new()));
    }

    #[test]
    fn refuses_each_broken_rule() {
        use PathError::*;
        assert_eq!(errors("users"), [NoLeadingSlash]);
        assert_eq!(errors("/a//b"), [EmptySegment]);
        assert_eq!(errors("/a/"), [EmptySegment]);
        assert_eq!(
            errors("/a/<id"),
            [MalformedParam {
                segment: "<id".into()
            }]
        );
        assert_eq!(
            errors("/a/x<id>"),
            [MalformedParam {
                segment: "x<id>".into()
            }]
        );
        assert_eq!(
            errors("/a/<>"),
            [EmptyParam {
                segment: "<>".into()
            }]
        );
        assert_eq!(errors("/a/<1id>"), [BadParamName { name: "1id".into() }]);
        assert_eq!(
            errors("/a/<type>"),
            [BadParamName {
                name: "type".into()
            }]
        );
        assert_eq!(
            errors("/a/<id>/<id>"),
            [DuplicateParam { name: "id".into() }]
        );
        assert_eq!(errors("/a/<p..>/b"), [CatchAllNotLast { name: "p".into() }]);
    }

    #[test]
    fn reports_every_mistake_at_once() {
        assert_eq!(
            errors("/a//<1>/<x>/<x>"),
            [
                PathError::EmptySegment,
                PathError::BadParamName { name: "1".into() },
                PathError::DuplicateParam { name: "x".into() }
            ]
        );
    }

    #[test]
    fn at_most_max_params() {
        let path = |n: usize| (0..n).map(|i| format!("/<p{i}>")).collect::<String>();
        assert!(parse(&path(MAX_PARAMS)).is_ok());
        assert_eq!(
            errors(&path(MAX_PARAMS + 1)),
            [PathError::TooManyParams {
                found: MAX_PARAMS + 1
            }]
        );
    }
}
