//! Route path patterns: `/users/<id>/files/<path..>`.

use std::fmt;

/// One segment of a parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A literal segment that must match exactly.
    Static(String),
    /// `<name>`: one non-empty segment.
    Param(String),
    /// `<name..>`: the rest of the path, zero or more segments; always last.
    CatchAll(String),
}

/// Why a path pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern does not start with `/`.
    #[error("path `{0}` must start with `/`")]
    NoLeadingSlash(String),
    /// `//` or a trailing `/` after a segment.
    #[error("path `{0}` has an empty segment; remove the extra `/`")]
    EmptySegment(String),
    /// A `<`, `>` that does not form `<name>` or `<name..>` as a whole segment.
    #[error(
        "path `{pattern}`: malformed parameter `{segment}`; write `<name>` or `<name..>` as a whole segment"
    )]
    MalformedParam {
        /// The whole pattern.
        pattern: String,
        /// The offending segment.
        segment: String,
    },
    /// A parameter name that is not a Rust identifier.
    #[error("path `{pattern}`: parameter name `{name}` is not an identifier")]
    BadParamName {
        /// The whole pattern.
        pattern: String,
        /// The offending name.
        name: String,
    },
    /// The same parameter name twice.
    #[error("path `{pattern}`: parameter `{name}` appears twice")]
    DuplicateParam {
        /// The whole pattern.
        pattern: String,
        /// The repeated name.
        name: String,
    },
    /// `<name..>` that is not the last segment.
    #[error("path `{pattern}`: catch-all `<{name}..>` must be the last segment")]
    CatchAllNotLast {
        /// The whole pattern.
        pattern: String,
        /// The catch-all's name.
        name: String,
    },
    /// More parameters than [`Params`](super::Params) holds.
    #[error("path `{0}` has more than {max} parameters", max = super::MAX_PARAMS)]
    TooManyParams(String),
}

/// A parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
}

impl Pattern {
    /// Parses `pattern`, checking every rule the `#[route]` macro checks at
    /// compile time (the router also accepts patterns built at run time).
    pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err(PatternError::NoLeadingSlash(pattern.to_owned()));
        };
        let mut segments = Vec::new();
        if rest.is_empty() {
            return Ok(Pattern { segments });
        }
        for raw in rest.split('/') {
            if raw.is_empty() {
                return Err(PatternError::EmptySegment(pattern.to_owned()));
            }
            if let Some(Segment::CatchAll(name)) = segments.last() {
                return Err(PatternError::CatchAllNotLast {
                    pattern: pattern.to_owned(),
                    name: name.clone(),
                });
            }
            segments.push(parse_segment(pattern, raw)?);
        }
        let mut names: Vec<&str> = Vec::new();
        for segment in &segments {
            if let Segment::Param(name) | Segment::CatchAll(name) = segment {
                if names.contains(&name.as_str()) {
                    return Err(PatternError::DuplicateParam {
                        pattern: pattern.to_owned(),
                        name: name.clone(),
                    });
                }
                names.push(name);
            }
        }
        if names.len() > super::MAX_PARAMS {
            return Err(PatternError::TooManyParams(pattern.to_owned()));
        }
        Ok(Pattern { segments })
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The parameter names, in the order their values appear in [`Params`](super::Params).
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(n) | Segment::CatchAll(n) => Some(n.as_str()),
            Segment::Static(_) => None,
        })
    }
}

fn parse_segment(pattern: &str, raw: &str) -> Result<Segment, PatternError> {
    let malformed = || PatternError::MalformedParam {
        pattern: pattern.to_owned(),
        segment: raw.to_owned(),
    };
    if !raw.contains(['<', '>']) {
        return Ok(Segment::Static(raw.to_owned()));
    }
    let inner = raw
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .ok_or_else(malformed)?;
    let (name, catch_all) = match inner.strip_suffix("..") {
        Some(name) => (name, true),
        None => (inner, false),
    };
    if name.is_empty() || name.contains(['<', '>']) {
        return Err(malformed());
    }
    if !is_identifier(name) {
        return Err(PatternError::BadParamName {
            pattern: pattern.to_owned(),
            name: name.to_owned(),
        });
    }
    Ok(if catch_all {
        Segment::CatchAll(name.to_owned())
    } else {
        Segment::Param(name.to_owned())
    })
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && name != "_"
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            match segment {
                Segment::Static(s) => write!(f, "/{s}")?,
                Segment::Param(n) => write!(f, "/<{n}>")?,
                Segment::CatchAll(n) => write!(f, "/<{n}..>")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_static_param_and_catch_all() {
        let p = Pattern::parse("/files/<user>/<path..>").unwrap();
        assert_eq!(
            p.segments(),
            [
                Segment::Static("files".into()),
                Segment::Param("user".into()),
                Segment::CatchAll("path".into())
            ]
        );
        assert_eq!(p.to_string(), "/files/<user>/<path..>");
        assert_eq!(p.param_names().collect::<Vec<_>>(), ["user", "path"]);
    }

    #[test]
    fn root_is_no_segments() {
        assert!(Pattern::parse("/").unwrap().segments().is_empty());
    }

    #[test]
    fn refuses_each_malformed_pattern() {
        use PatternError::*;
        let cases = [
            ("users", "NoLeadingSlash"),
            ("/a//b", "EmptySegment"),
            ("/a/", "EmptySegment"),
            ("/a/<id", "MalformedParam"),
            ("/a/<>", "MalformedParam"),
            ("/a/x<id>", "MalformedParam"),
            ("/a/<1id>", "BadParamName"),
            ("/a/<id>/<id>", "DuplicateParam"),
            ("/a/<p..>/b", "CatchAllNotLast"),
        ];
        for (pattern, expected) in cases {
            let err = Pattern::parse(pattern).unwrap_err();
            let kind = match err {
                NoLeadingSlash(_) => "NoLeadingSlash",
                EmptySegment(_) => "EmptySegment",
                MalformedParam { .. } => "MalformedParam",
                BadParamName { .. } => "BadParamName",
                DuplicateParam { .. } => "DuplicateParam",
                CatchAllNotLast { .. } => "CatchAllNotLast",
                TooManyParams(_) => "TooManyParams",
            };
            assert_eq!(kind, expected, "{pattern}");
        }
    }
}
