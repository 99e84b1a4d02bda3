//! Exercise 5: HS256 tokens made and verified by hand (hmac + sha2).

use portico::auth::Jwt;
use serde_json::json;

pub(crate) fn run() -> crate::Outcome {
    // The seed's tokens carry no `exp`; Portico requires one by default.
    let jwt = Jwt::builder()
        .secret("a seed secret that is 32 bytes long")
        .require_exp(false)
        .build()?;
    let token = jwt.create(&json!({"user_id": 42, "role": "admin"}))?;
    println!("Token: {}...", &token[..3]);
    let payload = jwt.verify(&token)?;
    println!("Payload: {}", serde_json::to_string(&payload)?);

    let (signing_input, _) = token.rsplit_once('.').ok_or("a token has a signature")?;
    let forged_claims = portico::auth::Jwt::builder()
        .secret("an attacker's secret, also 32 bytes")
        .require_exp(false)
        .build()?
        .create(&json!({"user_id": 1, "role": "admin"}))?;
    let (_, forged_signature) = forged_claims
        .rsplit_once('.')
        .ok_or("a token has a signature")?;
    let tampered = format!("{signing_input}.{forged_signature}");
    println!(
        "Tampered token rejected: {}",
        if jwt.verify(&tampered).is_err() {
            "True"
        } else {
            "False"
        }
    );
    Ok(())
}
