//! Text an attacker controls never reaches a log line raw: a token whose
//! header repeats a member named with a newline and an escape sequence is
//! refused, and the warning about it is one escaped line. A test file of
//! its own: it installs the process's log subscriber.

#[path = "support/captured_log.rs"]
mod captured_log;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use captured_log::Captured;
use portico::auth::Jwt;
use portico::prelude::*;
use portico::testing::TestClient;

const SECRET: &[u8] = b"a secret of at least thirty-two bytes!";

#[route(GET, "/me")]
async fn me(claims: Claims<serde_json::Value>) -> String {
    claims.0["sub"].to_string()
}

#[tokio::test]
async fn a_hostile_member_name_is_logged_escaped() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(writer)
        .init();

    let name = "x\n2026-01-01T00:00:00Z  INFO forged: admin logged in\u{1b}[31m";
    let header = format!(
        r#"{{"alg":"HS256",{0}:1,{0}:2}}"#,
        serde_json::to_string(name).unwrap()
    );
    let token = format!(
        "{}.{}.{}",
        B64.encode(header),
        B64.encode(r#"{"sub":"1","exp":4000000000}"#),
        B64.encode([0u8; 32])
    );
    let app = App::new()
        .provide(Jwt::new(SECRET).unwrap())
        .mount(routes![me]);
    let client = TestClient::new(app).await;
    let response = client
        .get("/me")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    assert_eq!(response.status(), 401);

    let log = captured.text();
    assert!(log.contains("names"), "the refusal is logged: {log}");
    assert!(!log.contains('\u{1b}'), "no raw escape sequence: {log:?}");
    assert!(
        !log.lines()
            .any(|line| line.contains("forged: admin") && !line.contains("bearer token refused")),
        "no forged line: {log}"
    );
    assert_eq!(log.lines().count(), 1, "one line: {log}");
}
