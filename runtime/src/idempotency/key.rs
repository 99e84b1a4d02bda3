//! The `Idempotency-Key` header, and what a key is stored under: the
//! client it belongs to and the fingerprint of the request it came with.

use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

/// The request header (IETF draft-ietf-httpapi-idempotency-key-header).
pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The longest key accepted, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// Why an `Idempotency-Key` header was refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// More than one `Idempotency-Key` field.
    #[error("send one Idempotency-Key header, not several")]
    Several,
    /// A key of no characters.
    #[error("the Idempotency-Key is empty")]
    Empty,
    /// A key longer than [`MAX_KEY_LEN`].
    #[error("the Idempotency-Key is longer than {MAX_KEY_LEN} characters")]
    TooLong,
    /// A character outside printable ASCII (a control character, a byte
    /// above 0x7E), or a quote or backslash out of place.
    #[error(
        "the Idempotency-Key must be printable ASCII: a quoted string (\"…\", with \\\" and \\\\ escapes) or a bare token"
    )]
    Characters,
    /// The route requires a key and none was sent.
    #[error("this request needs an Idempotency-Key header")]
    Missing,
}

/// The key of `headers`, if any: a structured-field string (`"abc"`) or
/// the same characters bare (`abc`), the two being one key.
pub(crate) fn parse(headers: &HeaderMap) -> Result<Option<String>, KeyError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(KeyError::Several);
    }
    let bytes = value.as_bytes();
    let key = match bytes {
        [b'"', inner @ .., b'"'] => unquote(inner)?,
        _ if bytes
            .iter()
            .all(|b| (0x21..=0x7e).contains(b) && !matches!(b, b'"' | b'\\')) =>
        {
            // Only printable ASCII passed: it is UTF-8.
            String::from_utf8_lossy(bytes).into_owned()
        }
        _ => return Err(KeyError::Characters),
    };
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong);
    }
    Ok(Some(key))
}

/// The characters of an RFC 8941 string between its quotes.
fn unquote(inner: &[u8]) -> Result<String, KeyError> {
    let mut key = String::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&b) = bytes.next() {
        let c = match b {
            b'\\' => match bytes.next() {
                Some(&escaped @ (b'"' | b'\\')) => escaped,
                _ => return Err(KeyError::Characters),
            },
            b'"' => return Err(KeyError::Characters),
            0x20..=0x7e => b,
            _ => return Err(KeyError::Characters),
        };
        key.push(char::from(c));
    }
    Ok(key)
}

/// What identifies the request a key was first used with: its method, its
/// target (path and query: path parameters are parameters too, so one key
/// on `/accounts/1/pay` and `/accounts/2/pay` is two different requests)
/// and its body, hashed together.
pub(crate) fn fingerprint(method: &Method, target: &str, body: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(method.as_str().as_bytes());
    hash.update([0]);
    hash.update(target.as_bytes());
    hash.update([0]);
    hash.update(body);
    hash.finalize().into()
}

/// The `Authorization` header's value hashed: a scope for requests whose
/// credentials no layer verified, so that two callers with different
/// credentials never share keys, and the credentials are never stored.
pub(crate) fn credentials_scope(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?;
    let digest = Sha256::digest(value.as_bytes());
    Some(format!("credentials:{}", hex(&digest[..16])))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &[u8]) -> Result<Option<String>, KeyError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            IDEMPOTENCY_KEY,
            http::HeaderValue::from_bytes(value).unwrap(),
        );
        parse(&headers)
    }

    #[test]
    fn a_quoted_string_and_a_bare_token_are_one_key() {
        assert_eq!(key(b"\"8e03978e-40d5\""), Ok(Some("8e03978e-40d5".into())));
        assert_eq!(key(b"8e03978e-40d5"), Ok(Some("8e03978e-40d5".into())));
        assert_eq!(key(br#""a \"b\" \\c""#), Ok(Some(r#"a "b" \c"#.into())));
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(key(b"\"\""), Err(KeyError::Empty));
        assert_eq!(key(b"a b"), Err(KeyError::Characters));
        assert_eq!(key(b"\"a\tb\""), Err(KeyError::Characters));
        assert_eq!(key(b"\"a\\nb\""), Err(KeyError::Characters));
        assert_eq!(key(b"\"open"), Err(KeyError::Characters));
        assert_eq!(key("\"caf\u{e9}\"".as_bytes()), Err(KeyError::Characters));
        assert_eq!(key(&[b'k'; 256]), Err(KeyError::TooLong));
        assert_eq!(key(&[b'k'; 255]).map(|k| k.map(|k| k.len())), Ok(Some(255)));
        let mut headers = HeaderMap::new();
        headers.append(IDEMPOTENCY_KEY, "a".parse().unwrap());
        headers.append(IDEMPOTENCY_KEY, "b".parse().unwrap());
        assert_eq!(parse(&headers), Err(KeyError::Several));
    }

    #[test]
    fn the_fingerprint_covers_method_target_and_body() {
        let base = fingerprint(&Method::POST, "/pay", b"{}");
        assert_ne!(base, fingerprint(&Method::PATCH, "/pay", b"{}"));
        assert_ne!(base, fingerprint(&Method::POST, "/pay?x=1", b"{}"));
        assert_ne!(base, fingerprint(&Method::POST, "/pay", b"{ }"));
        assert_eq!(base, fingerprint(&Method::POST, "/pay", b"{}"));
    }
}
