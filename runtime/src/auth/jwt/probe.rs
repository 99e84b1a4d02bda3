//! One pass over a token's header or claims: are the member names
//! distinct, and what do the members verification needs say — read in
//! place from the decoded bytes, without building a map.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::JwtError;

/// Member names seen so far. Names without escapes are borrowed from the
/// decoded bytes; the first sixteen of those need no allocation.
struct Seen<'a> {
    fixed: [&'a str; 16],
    len: usize,
    spill: Vec<String>,
}

impl<'a> Seen<'a> {
    fn new() -> Self {
        Seen {
            fixed: [""; 16],
            len: 0,
            spill: Vec::new(),
        }
    }

    /// Records `name`; false when it was seen before.
    // The `Cow` itself is the point: whether the name borrows the input
    // decides where it can be kept.
    #[allow(clippy::ptr_arg)]
    fn insert(&mut self, name: &Cow<'a, str>) -> bool {
        let text: &str = name;
        if self.fixed[..self.len].contains(&text) || self.spill.iter().any(|s| s == text) {
            return false;
        }
        match name {
            Cow::Borrowed(borrowed) if self.len < self.fixed.len() => {
                self.fixed[self.len] = borrowed;
                self.len += 1;
            }
            _ => self.spill.push(text.to_owned()),
        }
        true
    }
}

/// Errors travel through serde as messages with a marker.
const DUPLICATE: &str = "\u{0}duplicate:";
const NUMERIC: &str = "\u{0}numeric:";

fn classify(err: &serde_json::Error, part: &'static str) -> JwtError {
    let text = err.to_string();
    let marked = |marker: &str| {
        text.split_once(marker).map(|(_, rest)| {
            rest.rsplit_once(" at line ")
                .map_or(rest, |(name, _)| name)
                .to_owned()
        })
    };
    if let Some(name) = marked(DUPLICATE) {
        return JwtError::Duplicate { part, name };
    }
    if let Some(name) = marked(NUMERIC) {
        return match name.as_str() {
            "exp" => JwtError::NumericDate("exp"),
            "nbf" => JwtError::NumericDate("nbf"),
            _ => JwtError::NumericDate("iat"),
        };
    }
    JwtError::NotObject(part)
}

/// A JSON number (a NumericDate may be fractional).
struct Numeric(f64);

impl<'de> Deserialize<'de> for Numeric {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Number;
        impl Visitor<'_> for Number {
            type Value = Numeric;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Numeric, E> {
                Ok(Numeric(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Numeric, E> {
                Ok(Numeric(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Numeric, E> {
                Ok(Numeric(v))
            }
        }
        deserializer.deserialize_any(Number)
    }
}

/// What verification reads from the header.
#[derive(Default)]
pub(super) struct Header<'a> {
    /// `Some(Ok(alg))` for a string, `Some(Err(json))` for anything else.
    pub(super) alg: Option<Result<Cow<'a, str>, String>>,
    /// `Some(None)` when present but not a string.
    pub(super) kid: Option<Option<Cow<'a, str>>>,
    pub(super) crit: bool,
}

/// What verification reads from the claims, and the subject.
#[derive(Default)]
pub(super) struct Claims<'a> {
    /// `sub`, when it is a string.
    pub(super) sub: Option<Cow<'a, str>>,
    pub(super) exp: Option<f64>,
    pub(super) nbf: Option<f64>,
    pub(super) iat: Option<f64>,
    pub(super) iss: Option<Value>,
    pub(super) aud: Option<Value>,
}

/// A string, borrowed when it has no escapes; anything else as JSON text.
struct StrOrOther<'a>(Result<Cow<'a, str>, String>);

impl<'de> Deserialize<'de> for StrOrOther<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `Value` keeps the non-string case simple; strings stay borrowed.
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = StrOrOther<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StrOrOther(Ok(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOrOther(Ok(Cow::Owned(v.to_owned()))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(StrOrOther(Err(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(StrOrOther(Err(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(StrOrOther(Err(v.to_string())))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(StrOrOther(Err(v.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StrOrOther(Err("null".into())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StrOrOther(Err("[…]".into())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StrOrOther(Err("{…}".into())))
            }
        }
        deserializer.deserialize_any(Any)
    }
}

/// The next member name, borrowed when it has no escapes (serde's own
/// `Cow<str>` always copies into a `String`). JSON names are strings, so
/// the other case cannot come from a parsed object.
fn next_name<'de, A: MapAccess<'de>>(access: &mut A) -> Result<Option<Cow<'de, str>>, A::Error> {
    match access.next_key::<StrOrOther<'de>>()? {
        Some(StrOrOther(Ok(name))) => Ok(Some(name)),
        Some(StrOrOther(Err(other))) => Err(de::Error::custom(format_args!(
            "member name {other} is not a string"
        ))),
        None => Ok(None),
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Header<'de>, A::Error> {
        let mut seen = Seen::new();
        let mut header = Header::default();
        while let Some(name) = next_name(&mut access)? {
            if !seen.insert(&name) {
                return Err(de::Error::custom(format_args!("{DUPLICATE}{name}")));
            }
            match &*name {
                "alg" => header.alg = Some(access.next_value::<StrOrOther<'de>>()?.0),
                "kid" => header.kid = Some(access.next_value::<StrOrOther<'de>>()?.0.ok()),
                "crit" => {
                    access.next_value::<IgnoredAny>()?;
                    header.crit = true;
                }
                _ => {
                    access.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(header)
    }
}

struct ClaimsVisitor;

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = Claims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Claims<'de>, A::Error> {
        let mut seen = Seen::new();
        let mut claims = Claims::default();
        while let Some(name) = next_name(&mut access)? {
            if !seen.insert(&name) {
                return Err(de::Error::custom(format_args!("{DUPLICATE}{name}")));
            }
            let numeric = |access: &mut A, which: &str| {
                access
                    .next_value::<Numeric>()
                    .map(|n| Some(n.0))
                    .map_err(|_| de::Error::custom(format_args!("{NUMERIC}{which}")))
            };
            match &*name {
                "exp" => claims.exp = numeric(&mut access, "exp")?,
                "nbf" => claims.nbf = numeric(&mut access, "nbf")?,
                "iat" => claims.iat = numeric(&mut access, "iat")?,
                "sub" => claims.sub = access.next_value::<StrOrOther<'de>>()?.0.ok(),
                "iss" => claims.iss = Some(access.next_value()?),
                "aud" => claims.aud = Some(access.next_value()?),
                _ => {
                    access.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(claims)
    }
}

pub(super) fn header(bytes: &[u8]) -> Result<Header<'_>, JwtError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let header = deserializer
        .deserialize_map(HeaderVisitor)
        .map_err(|e| classify(&e, "header"))?;
    deserializer
        .end()
        .map_err(|_| JwtError::NotObject("header"))?;
    Ok(header)
}

/// The registered claims of `json` (checked UTF-8 once, by the caller:
/// read from a `str`, no string inside is checked again).
pub(super) fn claims(json: &str) -> Result<Claims<'_>, JwtError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let claims = deserializer
        .deserialize_map(ClaimsVisitor)
        .map_err(|e| classify(&e, "claims"))?;
    deserializer
        .end()
        .map_err(|_| JwtError::NotObject("claims"))?;
    Ok(claims)
}
