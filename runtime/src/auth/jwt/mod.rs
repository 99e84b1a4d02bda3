//! JSON Web Tokens, HS256 only, on `hmac` + `sha2`: RFC 7515/7519 with
//! the hardening of RFC 8725 (JWT best current practices).

mod probe;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sha2::Sha256;

use super::VerifiedClaims;

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
    #[error("the {part} names `{}` twice", crate::text::untrusted(name))]
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
    #[error("the claims do not fit: {}", crate::text::untrusted(.0))]
    Claims(String),
    /// A secret shorter than the configured minimum.
    #[error("the secret is {len} bytes; at least {min} are required")]
    WeakSecret {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// A secret of so few distinct bytes (`aaaa…`) that it can be guessed.
    #[error("the secret has only {distinct} distinct bytes; use random bytes")]
    PredictableSecret {
        /// How many distinct byte values it has.
        distinct: usize,
    },
    /// No key was configured.
    #[error("no signing key is configured")]
    NoKey,
}

struct Key {
    kid: Option<String>,
    mac: HmacSha256,
    /// The encoded header `create` writes for this key: a token carrying
    /// exactly these bytes needs no header parsing.
    header: String,
}

fn encoded_header(kid: Option<&str>) -> String {
    let header = match kid {
        Some(kid) => serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
        None => serde_json::json!({"alg": "HS256", "typ": "JWT"}),
    };
    URL_SAFE_NO_PAD.encode(header.to_string())
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
    /// A digest of everything that decides whether a token is accepted:
    /// claims verified by a `Jwt` with other rules are not trusted.
    rules: Rules,
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
        let rules = Rules::of(&self);
        let mut keys = Vec::with_capacity(self.keys.len());
        for (kid, secret) in self.keys {
            if secret.len() < self.min_secret_len {
                return Err(JwtError::WeakSecret {
                    len: secret.len(),
                    min: self.min_secret_len,
                });
            }
            // Length is no strength when the bytes repeat: 32 × "a" passes
            // the length rule. Even a hex or base64 secret of random bytes
            // has far more than eight distinct values.
            let distinct = distinct_bytes(&secret);
            if self.min_secret_len > 0 && distinct < MIN_DISTINCT_BYTES {
                return Err(JwtError::PredictableSecret { distinct });
            }
            // HMAC takes keys of any length; this cannot fail.
            let mac = HmacSha256::new_from_slice(&secret).map_err(|_| JwtError::NoKey)?;
            let header = encoded_header(kid.as_deref());
            keys.push(Key { kid, mac, header });
        }
        let signing = match &self.signing_kid {
            Some(kid) => keys
                .iter()
                .position(|k| k.kid.as_deref() == Some(kid))
                .ok_or(JwtError::UnknownKey)?,
            None => 0,
        };
        Ok(Jwt {
            rules,
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

/// The fewest distinct byte values a secret may have (unless the length
/// rule is switched off with `min_secret_len(0)`).
const MIN_DISTINCT_BYTES: usize = 8;

fn distinct_bytes(secret: &[u8]) -> usize {
    let mut seen = [false; 256];
    for &b in secret {
        seen[usize::from(b)] = true;
    }
    seen.iter().filter(|&&s| s).count()
}

/// The digest of a verifier's rules: its keys, leeway, required claims,
/// issuer, audience and size cap. Two verifiers with equal digests accept
/// exactly the same tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules([u8; 16]);

impl Rules {
    fn of(builder: &JwtBuilder) -> Self {
        use sha2::Digest;
        let mut digest = sha2::Sha256::new();
        let mut field = |bytes: &[u8]| {
            digest.update((bytes.len() as u64).to_le_bytes());
            digest.update(bytes);
        };
        for (kid, secret) in &builder.keys {
            field(kid.as_deref().unwrap_or("\0no kid").as_bytes());
            field(secret);
        }
        field(builder.signing_kid.as_deref().unwrap_or("").as_bytes());
        field(&builder.leeway.as_nanos().to_le_bytes());
        field(&[u8::from(builder.require_exp)]);
        field(builder.issuer.as_deref().unwrap_or("\0none").as_bytes());
        field(builder.audience.as_deref().unwrap_or("\0none").as_bytes());
        field(&builder.max_len.to_le_bytes());
        let mut rules = [0u8; 16];
        rules.copy_from_slice(&digest.finalize()[..16]);
        Rules(rules)
    }
}

impl Jwt {
    pub(crate) fn rules(&self) -> Rules {
        self.rules
    }
}

/// Decodes strict base64url (no padding, no stray trailing bits) into
/// `stack` when it fits, else into `heap`. Decoding is `base64-simd`'s
/// (SIMD where the CPU has it): a fifth of a verification's work with a
/// scalar decoder.
fn decode<'b>(
    segment: &str,
    part: &'static str,
    stack: &'b mut [u8; 512],
    heap: &'b mut Vec<u8>,
) -> Result<&'b [u8], JwtError> {
    // At most this many bytes: the decoder panics on a shorter output.
    let most = segment.len() / 4 * 3 + 3;
    let out = if most <= stack.len() {
        &mut stack[..]
    } else {
        heap.clear();
        heap.resize(most, 0);
        &mut heap[..]
    };
    let decoded = base64_simd::URL_SAFE_NO_PAD
        .decode(segment.as_bytes(), base64_simd::Out::from_slice(out))
        .map_err(|_| JwtError::Base64(part))?;
    Ok(decoded)
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
        let claims = serde_json::to_value(claims).map_err(|e| JwtError::Claims(e.to_string()))?;
        if !claims.is_object() {
            return Err(JwtError::NotObject("claims"));
        }
        let mut token = key.header.clone();
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

    /// Verifies `token` and deserialises its claims as `T`, straight from
    /// the decoded bytes.
    pub fn verify_as<T: DeserializeOwned>(&self, token: &str) -> Result<T, JwtError> {
        self.with_claims(token, Some(now()), |payload, _| {
            serde_json::from_str(payload).map_err(|e| JwtError::Claims(e.to_string()))
        })
    }

    /// [`verify`](Self::verify) as if the time were `now` (seconds since
    /// the Unix epoch).
    pub fn verify_at(&self, token: &str, now: u64) -> Result<Map<String, Value>, JwtError> {
        self.with_claims(token, Some(now), |payload, _| as_map(payload))
    }

    /// Verifies `token` like [`verify`](Self::verify) and keeps its claims
    /// as JSON text, the form a request's extensions carry: one copy of
    /// the bytes instead of a map of owned strings.
    pub fn verify_claims(&self, token: &str) -> Result<VerifiedClaims, JwtError> {
        self.with_claims(token, Some(now()), |json, probe| {
            Ok(VerifiedClaims::new(json, probe.sub.as_deref(), self.rules))
        })
    }

    /// Checks structure, header and signature only — not `exp`, `nbf`,
    /// `iat`, `iss` or `aud` — and returns the claims.
    pub fn verify_signature(&self, token: &str) -> Result<Map<String, Value>, JwtError> {
        self.with_claims(token, None, |payload, _| as_map(payload))
    }

    /// Authenticates `token`, checks its claims at `now` (when given), and
    /// hands the decoded claims (UTF-8, checked once here) and what the
    /// probe read to `read`.
    fn with_claims<R>(
        &self,
        token: &str,
        now: Option<u64>,
        read: impl FnOnce(&str, &probe::Claims<'_>) -> Result<R, JwtError>,
    ) -> Result<R, JwtError> {
        if token.len() > self.max_len {
            return Err(JwtError::TooLarge { max: self.max_len });
        }
        let Some((header, payload, signature)) = segments(token) else {
            return Err(JwtError::Segments);
        };
        let (mut stack, mut heap) = ([0u8; 512], Vec::new());
        let unambiguous = |k: &&Key| k.kid.is_some() || self.keys.len() == 1;
        let key = match self
            .keys
            .iter()
            .filter(unambiguous)
            .find(|k| k.header == header)
        {
            Some(key) => key,
            None => self.key_for(decode(header, "header", &mut stack, &mut heap)?)?,
        };
        // 43 characters encode exactly 32 bytes, HS256's MAC.
        let mut expected = [0u8; 32];
        if signature.len() != 43
            || base64_simd::URL_SAFE_NO_PAD
                .decode(
                    signature.as_bytes(),
                    base64_simd::Out::from_slice(&mut expected),
                )
                .is_err()
        {
            return Err(JwtError::Signature);
        }
        let mut mac = key.mac.clone();
        // The MAC covers the exact bytes received, not a re-encoding.
        mac.update(&token.as_bytes()[..header.len() + 1 + payload.len()]);
        mac.verify_slice(&expected)
            .map_err(|_| JwtError::Signature)?;
        let claims = decode(payload, "claims", &mut stack, &mut heap)?;
        // JSON text is UTF-8 (RFC 8259 §8.1); anything else is no object.
        let claims = std::str::from_utf8(claims).map_err(|_| JwtError::NotObject("claims"))?;
        let probe = probe::claims(claims)?;
        if let Some(now) = now {
            self.check_claims(&probe, now)?;
        }
        read(claims, &probe)
    }

    /// The key the header asks for, after checking `alg` and `crit`.
    fn key_for(&self, header: &[u8]) -> Result<&Key, JwtError> {
        let header = probe::header(header)?;
        match header.alg {
            None => return Err(JwtError::MissingAlgorithm),
            Some(Ok(alg)) if alg == "HS256" => {}
            Some(Ok(other)) => return Err(JwtError::Algorithm(other.into_owned())),
            Some(Err(other)) => return Err(JwtError::Algorithm(other)),
        }
        if header.crit {
            return Err(JwtError::Critical);
        }
        // `jku`, `x5u` and `jwk` would point at keys chosen by the sender:
        // they are ignored, never fetched or used (RFC 8725 §3.10).
        match header.kid {
            Some(Some(kid)) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(&*kid))
                .ok_or(JwtError::UnknownKey),
            Some(None) => Err(JwtError::UnknownKey),
            None if self.keys.len() == 1 => Ok(&self.keys[0]),
            None => Err(JwtError::UnknownKey),
        }
    }

    fn check_claims(&self, claims: &probe::Claims<'_>, now: u64) -> Result<(), JwtError> {
        let now = now as f64;
        let leeway = self.leeway as f64;
        match claims.exp {
            Some(exp) if now > exp + leeway => return Err(JwtError::Expired),
            Some(_) => {}
            None if self.require_exp => return Err(JwtError::MissingExpiry),
            None => {}
        }
        if claims.nbf.is_some_and(|nbf| now + leeway < nbf) {
            return Err(JwtError::NotYetValid);
        }
        if claims.iat.is_some_and(|iat| iat > now + leeway) {
            return Err(JwtError::IssuedInFuture);
        }
        if let Some(issuer) = &self.issuer
            && claims.iss.as_ref().and_then(Value::as_str) != Some(issuer.as_str())
        {
            return Err(JwtError::Issuer);
        }
        if let Some(audience) = &self.audience {
            let ok = match &claims.aud {
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

/// `header.payload.signature`: exactly three segments. The dots are found
/// with `memchr` (vectorised): a token is a few hundred bytes, and a
/// byte-by-byte split was a visible part of verifying one.
fn segments(token: &str) -> Option<(&str, &str, &str)> {
    let mut dots = memchr::memchr_iter(b'.', token.as_bytes());
    let (first, second) = (dots.next()?, dots.next()?);
    if dots.next().is_some() {
        return None;
    }
    // Splitting at ASCII dots keeps every part on a char boundary.
    Some((
        &token[..first],
        &token[first + 1..second],
        &token[second + 1..],
    ))
}

/// The claims as a map (already known to be an object with distinct names).
fn as_map(payload: &str) -> Result<Map<String, Value>, JwtError> {
    serde_json::from_str(payload).map_err(|_| JwtError::NotObject("claims"))
}
