//! The JWT attack set: every way a token can be forged, stretched or
//! bent is refused, with the reason (for logs) told apart.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use portico::auth::{Jwt, JwtError};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOW: u64 = 1_700_000_000;

fn jwt() -> Jwt {
    Jwt::new(SECRET).unwrap()
}

fn b64(text: &str) -> String {
    B64.encode(text)
}

/// Signs arbitrary header and claims text, exactly as given.
fn forge(header: &str, claims: &str, secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        B64.encode(mac.finalize().into_bytes())
    )
}

fn valid_claims() -> String {
    json!({"sub": "42", "role": "admin", "exp": NOW + 3600, "iat": NOW}).to_string()
}

fn verify(token: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
    jwt().verify_at(token, NOW)
}

#[test]
fn a_token_it_made_verifies_and_a_forged_one_does_not() {
    let token = forge(r#"{"alg":"HS256","typ":"JWT"}"#, &valid_claims(), SECRET);
    assert_eq!(verify(&token).unwrap()["sub"], "42");
    let other = forge(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &valid_claims(),
        b"another secret, also 32 bytes long",
    );
    assert_eq!(verify(&other), Err(JwtError::Signature));
}

#[test]
fn only_hs256_is_accepted() {
    for alg in [
        "none", "None", "NONE", "nOnE", "HS512", "RS256", "hs256", "HS256 ", "",
    ] {
        let token = forge(
            &format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#),
            &valid_claims(),
            SECRET,
        );
        assert_eq!(
            verify(&token),
            Err(JwtError::Algorithm(alg.into())),
            "{alg:?}"
        );
    }
    // `alg: none` with an empty signature, the classic.
    let unsigned = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&valid_claims()));
    assert_eq!(verify(&unsigned), Err(JwtError::Algorithm("none".into())));
    let missing = forge(r#"{"typ":"JWT"}"#, &valid_claims(), SECRET);
    assert_eq!(verify(&missing), Err(JwtError::MissingAlgorithm));
    let not_a_string = forge(r#"{"alg":256}"#, &valid_claims(), SECRET);
    assert!(matches!(verify(&not_a_string), Err(JwtError::Algorithm(_))));
}

#[test]
fn crit_is_refused_and_key_urls_are_ignored() {
    let crit = forge(r#"{"alg":"HS256","crit":["exp"]}"#, &valid_claims(), SECRET);
    assert_eq!(verify(&crit), Err(JwtError::Critical));
    // jku/x5u/jwk point at keys chosen by the sender: ignored, still our key.
    let jku = forge(
        r#"{"alg":"HS256","jku":"https://evil.example/keys","jwk":{"kty":"oct","k":"AAAA"}}"#,
        &valid_claims(),
        SECRET,
    );
    assert!(verify(&jku).is_ok());
    let jku_signed_with_their_key = forge(
        r#"{"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}"#,
        &valid_claims(),
        b"\0\0\0",
    );
    assert_eq!(verify(&jku_signed_with_their_key), Err(JwtError::Signature));
}

#[test]
fn tampering_with_any_part_is_caught() {
    let token = forge(r#"{"alg":"HS256","typ":"JWT"}"#, &valid_claims(), SECRET);
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let (header, _) = signing_input.split_once('.').unwrap();

    let tampered_payload = format!(
        "{header}.{}.{signature}",
        b64(&json!({"sub": "1", "role": "admin", "exp": NOW + 3600}).to_string())
    );
    assert_eq!(verify(&tampered_payload), Err(JwtError::Signature));

    let mut flipped = signature.as_bytes().to_vec();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let tampered_signature = format!("{signing_input}.{}", String::from_utf8(flipped).unwrap());
    assert_eq!(verify(&tampered_signature), Err(JwtError::Signature));

    assert_eq!(
        verify(&format!("{signing_input}.{signature}=")),
        Err(JwtError::Signature),
        "padded"
    );
    assert_eq!(
        verify(&format!("{signing_input}.{}", &signature[..40])),
        Err(JwtError::Signature),
        "truncated"
    );
    assert_eq!(
        verify(&format!("{signing_input}.")),
        Err(JwtError::Signature),
        "empty"
    );
    let long = format!("{signing_input}.{}", B64.encode([7u8; 33]));
    assert_eq!(verify(&long), Err(JwtError::Signature), "33 bytes");
    // An HS512-sized MAC: longer than the buffer HS256's fits in.
    let longer = format!("{signing_input}.{}", B64.encode([7u8; 64]));
    assert_eq!(verify(&longer), Err(JwtError::Signature), "64 bytes");
}

#[test]
fn base64_must_be_strict_and_canonical() {
    let token = forge(r#"{"alg":"HS256","typ":"JWT"}"#, &valid_claims(), SECRET);
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    // A 32-byte signature is 43 characters: the last one carries 2 unused
    // bits. Setting them gives another spelling of the same bytes.
    let last = signature.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    assert_eq!(index % 4, 0, "canonical encodings leave the low bits clear");
    let noncanonical = alphabet.chars().nth(index + 1).unwrap();
    let sig = format!("{}{noncanonical}", &signature[..signature.len() - 1]);
    assert_eq!(
        verify(&format!("{signing_input}.{sig}")),
        Err(JwtError::Signature)
    );

    let (header, payload) = signing_input.split_once('.').unwrap();
    let spaced = format!("{header} .{payload}.{signature}");
    assert_eq!(verify(&spaced), Err(JwtError::Base64("header")));
    let padded_header = format!("{header}=.{payload}.{signature}");
    assert_eq!(verify(&padded_header), Err(JwtError::Base64("header")));
    let std_alphabet = format!(
        "{}.{payload}.{signature}",
        header.replace('-', "+").replace('_', "/") + "+"
    );
    assert!(verify(&std_alphabet).is_err());
}

#[test]
fn structure_and_json_shape() {
    let token = forge(r#"{"alg":"HS256"}"#, &valid_claims(), SECRET);
    assert_eq!(
        verify(&format!("{token}.x")),
        Err(JwtError::Segments),
        "four segments"
    );
    assert_eq!(verify("a.b"), Err(JwtError::Segments));
    assert_eq!(verify(""), Err(JwtError::Segments));
    let array_header = forge(r#"["alg","HS256"]"#, &valid_claims(), SECRET);
    assert_eq!(verify(&array_header), Err(JwtError::NotObject("header")));
    let array_claims = forge(r#"{"alg":"HS256"}"#, "[1,2]", SECRET);
    assert_eq!(verify(&array_claims), Err(JwtError::NotObject("claims")));
    let dup_header = forge(r#"{"alg":"HS256","alg":"none"}"#, &valid_claims(), SECRET);
    assert_eq!(
        verify(&dup_header),
        Err(JwtError::Duplicate {
            part: "header",
            name: "alg".into()
        })
    );
    let dup_claims = forge(
        r#"{"alg":"HS256"}"#,
        &format!(r#"{{"sub":"42","exp":{},"sub":"1"}}"#, NOW + 60),
        SECRET,
    );
    assert_eq!(
        verify(&dup_claims),
        Err(JwtError::Duplicate {
            part: "claims",
            name: "sub".into()
        })
    );
    // The same name written with an escape is the same name.
    let escaped_dup = forge(
        r#"{"alg":"HS256"}"#,
        &format!(r#"{{"sub":"42","exp":{},"s\u0075b":"1"}}"#, NOW + 60),
        SECRET,
    );
    assert_eq!(
        verify(&escaped_dup),
        Err(JwtError::Duplicate {
            part: "claims",
            name: "sub".into()
        })
    );
}

#[test]
fn a_huge_token_is_refused_before_decoding() {
    let huge = format!(
        "{}.{}.{}",
        "a".repeat(50_000),
        "b".repeat(50_000),
        "c".repeat(43)
    );
    assert!(huge.len() > 100_000);
    assert_eq!(verify(&huge), Err(JwtError::TooLarge { max: 8 * 1024 }));
}

#[test]
fn time_claims_with_leeway() {
    let h = r#"{"alg":"HS256"}"#;
    let claims = |extra: Value| {
        let mut c = json!({"sub": "42"});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        forge(h, &c.to_string(), SECRET)
    };
    assert_eq!(verify(&claims(json!({}))), Err(JwtError::MissingExpiry));
    assert_eq!(
        verify(&claims(json!({"exp": NOW - 61}))),
        Err(JwtError::Expired)
    );
    assert!(
        verify(&claims(json!({"exp": NOW - 59}))).is_ok(),
        "within the 60 s leeway"
    );
    assert_eq!(
        verify(&claims(json!({"exp": NOW + 60, "nbf": NOW + 61}))),
        Err(JwtError::NotYetValid)
    );
    assert!(verify(&claims(json!({"exp": NOW + 60, "nbf": NOW + 59}))).is_ok());
    assert_eq!(
        verify(&claims(json!({"exp": NOW + 600, "iat": NOW + 61}))),
        Err(JwtError::IssuedInFuture)
    );
    assert_eq!(
        verify(&claims(json!({"exp": (NOW + 60).to_string()}))),
        Err(JwtError::NumericDate("exp"))
    );
    assert_eq!(
        verify(&claims(json!({"exp": NOW + 60, "nbf": "soon"}))),
        Err(JwtError::NumericDate("nbf"))
    );
    assert!(
        verify(&claims(json!({"exp": (NOW + 60) as f64 + 0.5}))).is_ok(),
        "NumericDate may be fractional"
    );

    let strict = Jwt::builder()
        .secret(SECRET)
        .leeway(std::time::Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(
        strict.verify_at(&claims(json!({"exp": NOW - 1})), NOW),
        Err(JwtError::Expired)
    );
}

#[test]
fn issuer_and_audience() {
    let jwt = Jwt::builder()
        .secret(SECRET)
        .issuer("portico")
        .audience("api")
        .build()
        .unwrap();
    let h = r#"{"alg":"HS256"}"#;
    let with = |extra: Value| {
        let mut c = json!({"exp": NOW + 60});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        jwt.verify_at(&forge(h, &c.to_string(), SECRET), NOW)
    };
    assert!(with(json!({"iss": "portico", "aud": "api"})).is_ok());
    assert!(with(json!({"iss": "portico", "aud": ["web", "api"]})).is_ok());
    assert_eq!(
        with(json!({"iss": "other", "aud": "api"})),
        Err(JwtError::Issuer)
    );
    assert_eq!(with(json!({"aud": "api"})), Err(JwtError::Issuer));
    assert_eq!(
        with(json!({"iss": "portico", "aud": "web"})),
        Err(JwtError::Audience)
    );
    assert_eq!(
        with(json!({"iss": "portico", "aud": ["web"]})),
        Err(JwtError::Audience)
    );
    assert_eq!(with(json!({"iss": "portico"})), Err(JwtError::Audience));
}

#[test]
fn keys_rotate_by_kid_and_weak_secrets_are_refused() {
    let old = b"old secret old secret old secret";
    let new = b"new secret new secret new secret";
    let jwt = Jwt::builder()
        .key("2024", old)
        .key("2025", new)
        .signing_kid("2025")
        .build()
        .unwrap();
    let token = jwt.create(&json!({"sub": "7", "exp": NOW + 60})).unwrap();
    let header: Value =
        serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["kid"], "2025");
    assert!(jwt.verify_at(&token, NOW).is_ok());
    let by_old = forge(
        r#"{"alg":"HS256","kid":"2024"}"#,
        &format!(r#"{{"exp":{}}}"#, NOW + 60),
        old,
    );
    assert!(
        jwt.verify_at(&by_old, NOW).is_ok(),
        "tokens of the previous key still verify"
    );
    let unknown = forge(
        r#"{"alg":"HS256","kid":"1999"}"#,
        &format!(r#"{{"exp":{}}}"#, NOW + 60),
        old,
    );
    assert_eq!(jwt.verify_at(&unknown, NOW), Err(JwtError::UnknownKey));
    let no_kid = forge(
        r#"{"alg":"HS256"}"#,
        &format!(r#"{{"exp":{}}}"#, NOW + 60),
        new,
    );
    assert_eq!(
        jwt.verify_at(&no_kid, NOW),
        Err(JwtError::UnknownKey),
        "ambiguous with two keys"
    );

    assert_eq!(
        Jwt::new(b"too short").unwrap_err(),
        JwtError::WeakSecret { len: 9, min: 32 }
    );
    assert!(
        Jwt::builder()
            .secret(b"short")
            .min_secret_len(0)
            .build()
            .is_ok()
    );
}

/// RFC 7515 Appendix A.1: the HS256 example, including its CRLF-laden
/// header, verifies at the signature layer (its exp is in 2011).
#[test]
fn rfc7515_appendix_a1_example_verifies() {
    let k =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    let key = B64.decode(k).unwrap();
    let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
                 .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
                 .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let jwt = Jwt::new(&key).unwrap();
    let claims = jwt.verify_signature(token).unwrap();
    assert_eq!(claims["iss"], "joe");
    assert_eq!(claims["http://example.com/is_root"], true);
    assert_eq!(jwt.verify(token), Err(JwtError::Expired));
}

#[test]
fn verified_claims_keep_the_json_and_the_subject() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Claims {
        sub: String,
        exp: u64,
    }
    let exp = 4_000_000_000u64;
    let token = |claims: String| forge(r#"{"alg":"HS256"}"#, &claims, SECRET);
    let plain = jwt()
        .verify_claims(&token(format!(r#"{{"sub":"42","exp":{exp}}}"#)))
        .unwrap();
    assert_eq!(plain.subject(), Some("42"));
    assert_eq!(plain.json(), format!(r#"{{"sub":"42","exp":{exp}}}"#));
    assert_eq!(
        plain.deserialize::<Claims>().unwrap(),
        Claims {
            sub: "42".into(),
            exp
        }
    );
    // An escaped subject is unescaped; one that is not a string is none.
    let escaped = jwt()
        .verify_claims(&token(format!(r#"{{"sub":"4\u0032","exp":{exp}}}"#)))
        .unwrap();
    assert_eq!(escaped.subject(), Some("42"));
    let numeric = jwt()
        .verify_claims(&token(format!(r#"{{"sub":42,"exp":{exp}}}"#)))
        .unwrap();
    assert_eq!(numeric.subject(), None);
    // Verified like `verify`: an expired token is refused.
    assert!(matches!(
        jwt().verify_claims(&token(r#"{"sub":"42","exp":1}"#.into())),
        Err(JwtError::Expired)
    ));
}

#[test]
fn a_secret_of_few_distinct_bytes_is_refused_however_long() {
    assert_eq!(
        Jwt::new("a".repeat(32)).unwrap_err(),
        JwtError::PredictableSecret { distinct: 1 }
    );
    assert_eq!(
        Jwt::new("abab".repeat(16)).unwrap_err(),
        JwtError::PredictableSecret { distinct: 2 }
    );
    assert!(Jwt::new("0123456789abcdef0123456789abcdef").is_ok());
}
