//! Entity tags (RFC 9110 §8.8.3) and the `If-Match` precondition.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use http::header::IF_MATCH;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::extract::{FromRequest, RequestContext};
use crate::openapi::{Describe, Operation};
use crate::response::ApiError;

/// A strong entity tag: `"…"`, the same for the same representation on
/// every instance of an app.
///
/// A cached route's responses get one made from their body
/// ([`ETag::of_bytes`]); a write handler that checks [`IfMatch`] makes the
/// same one from the representation it is about to change — for an
/// envelope, [`ETag::of_json`] of the `ApiResponse` the read route answers
/// with — or both use a row version ([`ETag::version`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ETag(HeaderValue);

impl ETag {
    /// The tag of a body: 128 bits of its SHA-256, so that no two
    /// representations a client could hold share a tag.
    pub fn of_bytes(body: &[u8]) -> ETag {
        let digest = Sha256::digest(body);
        let text = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
        // Base64url is all `etagc`.
        ETag(HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("\"\"")))
    }

    /// The tag of the JSON body `value` serialises to: the one a cached
    /// route sends when it answers with `value`.
    pub fn of_json(value: &impl Serialize) -> ETag {
        ETag::of_bytes(&serde_json::to_vec(value).unwrap_or_default())
    }

    /// A tag from a version number the data keeps (a row version,
    /// an update counter): `"v42"`.
    pub fn version(version: u64) -> ETag {
        ETag(
            HeaderValue::try_from(format!("\"v{version}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"\"")),
        )
    }

    /// The header value, quotes included.
    pub fn as_header(&self) -> &HeaderValue {
        &self.0
    }

    pub(crate) fn into_header(self) -> HeaderValue {
        self.0
    }
}

/// Whether `list` (an `If-None-Match` or `If-Match` value: `*` or
/// entity tags separated by commas) holds `current`. Weak comparison
/// ignores a `W/` on either side; strong comparison needs both strong.
pub(crate) fn any_matches(list: &HeaderValue, current: &HeaderValue, strong: bool) -> bool {
    let Ok(list) = list.to_str() else {
        return false;
    };
    let Ok(current) = current.to_str() else {
        return false;
    };
    let (current_weak, current) = split_weak(current);
    if strong && current_weak {
        return false;
    }
    list.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        let (weak, tag) = split_weak(tag);
        !(strong && weak) && tag == current
    })
}

fn split_weak(tag: &str) -> (bool, &str) {
    match tag.strip_prefix("W/") {
        Some(tag) => (true, tag),
        None => (false, tag),
    }
}

/// The `If-Match` precondition of a write (RFC 9110 §13.1.1): the client
/// says which representation it based the change on, and the handler
/// refuses the write with 412 when the resource has changed since, so no
/// update overwrites one it never saw.
///
/// ```
/// use portico_runtime::caching::{ETag, IfMatch};
/// use portico_runtime::response::{ApiError, ApiResponse};
///
/// async fn delete(precondition: IfMatch) -> Result<ApiResponse<()>, ApiError> {
///     let current = ApiResponse::ok("the stored representation");
///     // Checked against what is stored now, in the write's transaction.
///     precondition.check(Some(&ETag::of_json(&current)))?;
///     Ok(ApiResponse::ok(()))
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct IfMatch(Option<HeaderValue>);

impl IfMatch {
    /// Whether the request carried `If-Match` (a write without it is
    /// unconditional).
    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }

    /// `Ok` when the write may go ahead: no `If-Match`, or one that holds
    /// the current representation's tag (`*` holds any existing one).
    /// `current` is `None` when the resource does not exist. Otherwise a
    /// 412 envelope.
    pub fn check(&self, current: Option<&ETag>) -> Result<(), ApiError> {
        let Some(list) = &self.0 else {
            return Ok(());
        };
        match current {
            Some(current) if any_matches(list, &current.0, true) => Ok(()),
            _ => Err(ApiError::new(
                http::StatusCode::PRECONDITION_FAILED,
                "the resource changed since the representation this request names (If-Match); read it again",
            )),
        }
    }
}

impl FromRequest for IfMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        Ok(IfMatch(ctx.headers().get(IF_MATCH).cloned()))
    }
}

impl Describe for IfMatch {
    fn describe(op: &mut Operation<'_>) {
        op.header(
            "If-Match",
            false,
            serde_json::json!({"type": "string"}),
            "act only on the representation with this `ETag`",
        );
        op.error(412, "`If-Match` does not name the current representation");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &'static str) -> HeaderValue {
        HeaderValue::from_static(text)
    }

    #[test]
    fn tags_are_stable_quoted_and_distinct() {
        let a = ETag::of_bytes(b"{\"id\":1}");
        assert_eq!(a, ETag::of_bytes(b"{\"id\":1}"));
        assert_ne!(a, ETag::of_bytes(b"{\"id\":2}"));
        let text = a.as_header().to_str().unwrap();
        assert!(
            text.starts_with('"') && text.ends_with('"') && text.len() == 24,
            "{text}"
        );
        assert_eq!(ETag::of_json(&serde_json::json!({"id": 1})), a);
        assert_eq!(ETag::version(42).as_header(), "\"v42\"");
    }

    #[test]
    fn weak_and_strong_comparison() {
        let current = value("\"abc\"");
        assert!(any_matches(&value("\"x\", \"abc\""), &current, true));
        assert!(any_matches(&value("W/\"abc\""), &current, false));
        assert!(!any_matches(&value("W/\"abc\""), &current, true));
        assert!(any_matches(&value("*"), &current, true));
        assert!(!any_matches(&value("\"abcd\""), &current, false));
        assert!(!any_matches(&value("abc"), &current, false));
    }

    #[test]
    fn if_match_refuses_a_stale_or_missing_representation() {
        let current = ETag::of_bytes(b"now");
        assert!(IfMatch(None).check(Some(&current)).is_ok());
        assert!(
            IfMatch(Some(current.0.clone()))
                .check(Some(&current))
                .is_ok()
        );
        let stale = IfMatch(Some(ETag::of_bytes(b"before").0));
        assert_eq!(stale.check(Some(&current)).unwrap_err().status(), 412);
        assert_eq!(
            IfMatch(Some(value("*"))).check(None).unwrap_err().status(),
            412
        );
        assert!(IfMatch(Some(value("*"))).check(Some(&current)).is_ok());
    }
}
