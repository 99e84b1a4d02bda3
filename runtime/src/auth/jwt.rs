//! JSON Web Tokens, HS256 only, on `hmac` + `sha2`: RFC 7515/7519 with
//! the hardening of RFC 8725 (JWT best current practices).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused (or could not be made). The detail is for logs;
/// clients only ever see "invalid token".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// The token is longer than the configured cap; nothing was decoded.
    #[error("token is longer than {max} bytes")]
    TooLarge {
        /// The cap.
        max: usize,
    },
    /// Not three dot-separated segments.
    #[error("a token has exactly three segments")]
    Segments,
    /// A segment is not strict unpadded base64url.
    #[error("the {0} is not strict base64url")]
    Base64(&'static str),
    /// A segment is not a JSON object.
    #[error("the {0} is not a JSON object")]
    NotObject(&'static str),
    /// A JSON object names a member twice (RFC 7515 §4, RFC 7519 §4).
    #[error("the {part} names `{name}` twice")]
    Duplicate {
        /// Header or claims.
        part: &'static str,
        /// The repeated name.
        name: String,
    },
    /// The header has no `alg`.
    #[error("the header has no alg")]
    MissingAlgorithm,
    /// `alg` is not exactly `HS256` (`none` in any spelling included).
    #[error("algorithm {0:?} is not accepted; only HS256 is")]
    Algorithm(String),
    /// The header has `crit`, which this verifier supports none of.
    #[error("the header has crit, which is not supported")]
    Critical,
    /// `kid` names no configured key, or several keys and no `kid`.
    #[error("no key for this token")]
    UnknownKey,
    /// The signature is not 32 bytes or does not match.
    #[error("bad signature")]
    Signature,
    /// `exp` is missing and required.
    #[error("the token has no exp")]
    MissingExpiry,
    /// A NumericDate claim is not a JSON number.
    #[error("{0} is not a number")]
    NumericDate(&'static str),
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still ahead (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// `iss` is not the expected issuer.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` does not contain the expected audience.
    #[error("wrong audience")]
    Audience,
    /// The claims do not have the shape asked for.
    #[error("the claims do not fit: {0}")]
    Claims(String),
    /// A secret shorter than the configured minimum.
    #[error("the secret is {len} bytes; at least {min} are required")]
    WeakSecret {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// No key was configured.
    #[error("no signing key is configured")]
    NoKey,
}

struct Key {
    kid: Option<String>,
    mac: HmacSha256,
}

/// HS256 token maker and verifier. The keyed HMAC state is computed once;
/// each verification clones it.
///
/// ```
/// use portico_runtime::auth::Jwt;
/// use serde_json::json;
///
/// let jwt = Jwt::new(b"a secret of at least thirty-two bytes!!").unwrap();
/// let token = jwt.create(&json!({"sub": "42", "exp": 4_000_000_000u64})).unwrap();
/// let claims = jwt.verify(&token).unwrap();
/// assert_eq!(claims["sub"], "42");
/// assert!(jwt.verify(&format!("{token}x")).is_err());
/// ```
pub struct Jwt {
    keys: Vec<Key>,
    signing: usize,
    leeway: u64,
    require_exp: bool,
    issuer: Option<String>,
    audience: Option<String>,
    max_len: usize,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field(
                "keys",
                &self
                    .keys
                    .iter()
                    .map(|k| k.kid.as_deref())
                    .collect::<Vec<_>>(),
            )
            .field("leeway", &self.leeway)
            .field("require_exp", &self.require_exp)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Jwt`].
#[derive(Debug)]
#[must_use]
pub struct JwtBuilder {
    keys: Vec<(Option<String>, Vec<u8>)>,
    signing_kid: Option<String>,
    min_secret_len: usize,
    leeway: Duration,
    require_exp: bool,
    issuer: Option<String>,
    audience: Option<String>,
    max_len: usize,
}

impl Default for JwtBuilder {
    fn default() -> Self {
        JwtBuilder {
            keys: Vec::new(),
            signing_kid: None,
            min_secret_len: 32,
            leeway: Duration::from_secs(60),
            require_exp: true,
            issuer: None,
            audience: None,
            max_len: 8 * 1024,
        }
    }
}

impl JwtBuilder {
    /// The secret (for a single key, without `kid`).
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.keys.push((None, secret.as_ref().to_vec()));
        self
    }

    /// Adds a key selected by `kid`, for rotation. The first key added
    /// signs unless [`signing_kid`](Self::signing_kid) says otherwise.
    pub fn key(mut self, kid: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        self.keys.push((Some(kid.into()), secret.as_ref().to_vec()));
        self
    }

    /// The key that signs new tokens.
    pub fn signing_kid(mut self, kid: impl Into<String>) -> Self {
        self.signing_kid = Some(kid.into());
        self
    }

    /// Refuse secrets shorter than this. Default 32 bytes (RFC 7518 §3.2
    /// asks for a key at least as long as the hash); 0 accepts any.
    pub fn min_secret_len(mut self, bytes: usize) -> Self {
        self.min_secret_len = bytes;
        self
    }

    /// Clock skew allowed on `exp`, `nbf` and `iat`. Default 60 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Whether a token without `exp` is refused. Default: yes.
    pub fn require_exp(mut self, required: bool) -> Self {
        self.require_exp = required;
        self
    }

    /// The `iss` every token must carry.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// An audience `aud` must name (a string, or an array containing it).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The longest token looked at; longer ones are refused before any
    /// decoding. Default 8 KiB.
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// Checks the keys and precomputes their HMAC states.
    pub fn build(self) -> Result<Jwt, JwtError> {
        if self.keys.is_empty() {
            return Err(JwtError::NoKey);
        }
        let mut keys = Vec::with_capacity(self.keys.len());
        for (kid, secret) in self.keys {
            if secret.len() < self.min_secret_len {
                return Err(JwtError::WeakSecret {
                    len: secret.len(),
                    min: self.min_secret_len,
                });
            }
            // HMAC takes keys of any length; this cannot fail.
            let mac = HmacSha256::new_from_slice(&secret).map_err(|_| JwtError::NoKey)?;
            keys.push(Key { kid, mac });
        }
        let signing = match &self.signing_kid {
            Some(kid) => keys
                .iter()
                .position(|k| k.kid.as_deref() == Some(kid))
                .ok_or(JwtError::UnknownKey)?,
            None => 0,
        };
        Ok(Jwt {
            keys,
            signing,
            leeway: self.leeway.as_secs(),
            require_exp: self.require_exp,
            issuer: self.issuer,
            audience: self.audience,
            max_len: self.max_len,
        })
    }
}

/// A JSON object whose members are all distinct.
struct Unique(Map<String, Value>);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Objects;
        impl<'de> Visitor<'de> for Objects {
            type Value = Unique;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Unique, A::Error> {
                let mut map = Map::new();
                while let Some(name) = access.next_key::<String>()? {
                    let value = access.next_value::<Value>()?;
                    if map.contains_key(&name) {
                        return Err(de::Error::custom(DuplicateName(name)));
                    }
                    map.insert(name, value);
                }
                Ok(Unique(map))
            }
        }
        deserializer.deserialize_map(Objects)
    }
}

/// Carried through serde's error text to tell duplicates from bad JSON.
struct DuplicateName(String);

impl std::fmt::Display for DuplicateName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\u{0}duplicate:{}", self.0)
    }
}

fn decode_object(segment: &str, part: &'static str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Base64(part))?;
    match serde_json::from_slice::<Unique>(&bytes) {
        Ok(Unique(map)) => Ok(map),
        Err(err) => {
            let text = err.to_string();
            match text.split_once("\u{0}duplicate:") {
                Some((_, rest)) => Err(JwtError::Duplicate {
                    part,
                    name: rest
                        .rsplit_once(" at line ")
                        .map_or(rest, |(n, _)| n)
                        .to_owned(),
                }),
                None => Err(JwtError::NotObject(part)),
            }
        }
    }
}

fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(JwtError::NumericDate(name)),
        Some(_) => Err(JwtError::NumericDate(name)),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Jwt {
    /// A verifier and signer with one secret and the default checks.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Jwt, JwtError> {
        Jwt::builder().secret(secret).build()
    }

    /// A builder with the defaults: secrets of 32 bytes at least, `exp`
    /// required, 60 s leeway, tokens up to 8 KiB.
    pub fn builder() -> JwtBuilder {
        JwtBuilder::default()
    }

    /// Signs `claims` (a JSON object) with the signing key.
    pub fn create(&self, claims: &impl Serialize) -> Result<String, JwtError> {
        let key = &self.keys[self.signing];
        let header = match &key.kid {
            Some(kid) => serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
            None => serde_json::json!({"alg": "HS256", "typ": "JWT"}),
        };
        let claims = serde_json::to_value(claims).map_err(|e| JwtError::Claims(e.to_string()))?;
        if !claims.is_object() {
            return Err(JwtError::NotObject("claims"));
        }
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut mac = key.mac.clone();
        mac.update(token.as_bytes());
        let signature = mac.finalize().into_bytes();
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }

    /// Verifies `token` — structure, header, signature, then the claims —
    /// and returns the claims.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, JwtError> {
        self.verify_at(token, now())
    }

    /// Verifies `token` and deserialises its claims as `T`.
    pub fn verify_as<T: DeserializeOwned>(&self, token: &str) -> Result<T, JwtError> {
        let claims = self.verify(token)?;
        serde_json::from_value(Value::Object(claims)).map_err(|e| JwtError::Claims(e.to_string()))
    }

    /// [`verify`](Self::verify) as if the time were `now` (seconds since
    /// the Unix epoch).
    pub fn verify_at(&self, token: &str, now: u64) -> Result<Map<String, Value>, JwtError> {
        let claims = self.verify_signature(token)?;
        self.check_claims(&claims, now)?;
        Ok(claims)
    }

    /// Checks structure, header and signature only — not `exp`, `nbf`,
    /// `iat`, `iss` or `aud` — and returns the claims.
    pub fn verify_signature(&self, token: &str) -> Result<Map<String, Value>, JwtError> {
        if token.len() > self.max_len {
            return Err(JwtError::TooLarge { max: self.max_len });
        }
        let mut segments = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(JwtError::Segments);
        };
        let header_map = decode_object(header, "header")?;
        match header_map.get("alg") {
            None => return Err(JwtError::MissingAlgorithm),
            Some(Value::String(alg)) if alg == "HS256" => {}
            Some(other) => {
                return Err(JwtError::Algorithm(match other {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }));
            }
        }
        if header_map.contains_key("crit") {
            return Err(JwtError::Critical);
        }
        // `jku`, `x5u` and `jwk` would point at keys chosen by the sender:
        // they are ignored, never fetched or used (RFC 8725 §3.10).
        let key = match header_map.get("kid") {
            Some(Value::String(kid)) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid.as_str()))
                .ok_or(JwtError::UnknownKey)?,
            Some(_) => return Err(JwtError::UnknownKey),
            None if self.keys.len() == 1 => &self.keys[0],
            None => return Err(JwtError::UnknownKey),
        };
        let mut expected = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(signature, &mut expected) {
            Ok(32) => {}
            _ => return Err(JwtError::Signature),
        }
        let mut mac = key.mac.clone();
        // The MAC covers the exact bytes received, not a re-encoding.
        mac.update(&token.as_bytes()[..header.len() + 1 + payload.len()]);
        mac.verify_slice(&expected)
            .map_err(|_| JwtError::Signature)?;
        decode_object(payload, "claims")
    }

    fn check_claims(&self, claims: &Map<String, Value>, now: u64) -> Result<(), JwtError> {
        let now = now as f64;
        let leeway = self.leeway as f64;
        match numeric_date(claims, "exp")? {
            Some(exp) if now > exp + leeway => return Err(JwtError::Expired),
            Some(_) => {}
            None if self.require_exp => return Err(JwtError::MissingExpiry),
            None => {}
        }
        if numeric_date(claims, "nbf")?.is_some_and(|nbf| now + leeway < nbf) {
            return Err(JwtError::NotYetValid);
        }
        if numeric_date(claims, "iat")?.is_some_and(|iat| iat > now + leeway) {
            return Err(JwtError::IssuedInFuture);
        }
        if let Some(issuer) = &self.issuer
            && claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
        {
            return Err(JwtError::Issuer);
        }
        if let Some(audience) = &self.audience {
            let ok = match claims.get("aud") {
                Some(Value::String(aud)) => aud == audience,
                Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !ok {
                return Err(JwtError::Audience);
            }
        }
        Ok(())
    }
}
