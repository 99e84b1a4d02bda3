//! Route path patterns (`/users/<id>/files/<path..>`), parsed by the
//! grammar `#[route]` checks at compile time (`portico-path`), so the two
//! cannot drift.

use std::fmt;

pub use portico_path::{PathError, Segment};

/// Why a path pattern was refused: every rule of the grammar it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path `{pattern}`: {}", Listed(errors))]
pub struct PatternError {
    pattern: String,
    errors: Vec<PathError>,
}

impl PatternError {
    /// The refused pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Each broken rule.
    pub fn errors(&self) -> &[PathError] {
        &self.errors
    }
}

struct Listed<'a>(&'a [PathError]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// The segments of `pattern`, or every rule it breaks.
pub(crate) fn parse(pattern: &str) -> Result<Vec<Segment<'_>>, PatternError> {
    portico_path::parse(pattern).map_err(|errors| PatternError {
        pattern: pattern.to_owned(),
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_pattern_names_itself_and_each_broken_rule() {
        let error = parse("/a//<1>").unwrap_err();
        assert_eq!(error.pattern(), "/a//<1>");
        assert_eq!(error.errors().len(), 2);
        assert_eq!(
            error.to_string(),
            "path `/a//<1>`: a path has no empty segments; remove the extra `/`; parameter name `1` is not an identifier"
        );
    }
}
