//! Property tests for every parser that request input reaches: whatever
//! bytes come, no panic, and a refusal that is a clear envelope with a
//! client-error status. Each property runs a bounded number of cases.

mod common;

use portico::auth::Jwt;
use portico::prelude::*;
use portico::ratelimit::RateLimit;
use portico::testing::TestClient;
use proptest::prelude::*;

const SECRET: &[u8] = b"a property-test secret, 32+ bytes long";

#[derive(Deserialize, Serialize, Validate)]
struct Filter {
    #[validate(range(min = 1, max = 100))]
    page: u32,
    #[validate(email)]
    contact: Option<String>,
    #[validate(url)]
    site: Option<String>,
}

#[route(GET, "/items/<id>/<rest..>")]
async fn item(id: i64, rest: String, filter: Query<Filter>) -> String {
    format!("{id} {rest} {}", filter.page)
}

#[route(GET, "/flag/<on>")]
async fn flag(on: bool) -> String {
    on.to_string()
}

#[route(POST, "/filters")]
async fn create(filter: Json<Filter>) -> Json<Filter> {
    filter
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The app in process (the rate limiter keys these peerless requests as
/// unknown clients; forwarding headers are tested over a socket below).
fn client(runtime: &tokio::runtime::Runtime) -> TestClient {
    runtime.block_on(TestClient::new(
        App::new()
            .wrap(RateLimit::per_client(1_000_000, 1_000_000.0))
            .mount(routes![item, flag, create]),
    ))
}

/// A response is an answer or a client error, never a server error, and
/// every refusal is the envelope.
fn assert_answered(response: &portico::testing::TestResponse) -> Result<(), TestCaseError> {
    let status = response.status().as_u16();
    prop_assert!(
        status < 500,
        "a server error for client input: {status} {}",
        response.text()
    );
    if status >= 400 {
        let body = response.json();
        prop_assert_eq!(&body["success"], &serde_json::json!(false));
        prop_assert_eq!(&body["error"]["code"], &serde_json::json!(status));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_token_text_is_refused_or_verified_without_a_panic(token in ".{0,300}") {
        let jwt = Jwt::new(SECRET).unwrap();
        let _ = jwt.verify(&token);
        let _ = jwt.verify_claims(&token);
    }

    #[test]
    fn tokens_with_tampered_bytes_are_refused(flip in 0usize..200, byte in any::<u8>()) {
        let jwt = Jwt::new(SECRET).unwrap();
        let token = jwt.create(&serde_json::json!({"sub": "1", "exp": 4_000_000_000u64})).unwrap();
        let mut bytes = token.clone().into_bytes();
        let at = flip % bytes.len();
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        if let Ok(tampered) = String::from_utf8(bytes) {
            prop_assert!(jwt.verify(&tampered).is_err(), "{tampered}");
        }
    }

    #[test]
    fn any_path_and_query_is_answered(path in "(/[a-zA-Z0-9%._~!$&'()*+,;=:@-]{0,12}){0,6}", query in "[a-zA-Z0-9%&=+._-]{0,60}") {
        let runtime = runtime();
        let client = client(&runtime);
        let uri = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        prop_assume!(uri.parse::<portico::http::Uri>().is_ok() && uri.starts_with('/'));
        let response = runtime.block_on(client.get(&uri).send());
        assert_answered(&response)?;
    }

    #[test]
    fn any_parameter_value_is_parsed_or_refused(id in ".{0,30}", on in ".{0,10}") {
        let runtime = runtime();
        let client = client(&runtime);
        let encode = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        for uri in [format!("/items/{}/x?page=1", encode(&id)), format!("/flag/{}", encode(&on))] {
            let response = runtime.block_on(client.get(&uri).send());
            assert_answered(&response)?;
        }
    }

    #[test]
    fn any_json_body_is_answered(body in ".{0,200}") {
        let runtime = runtime();
        let client = client(&runtime);
        let response = runtime.block_on(
            client.post("/filters").header("content-type", "application/json").body(body).send(),
        );
        assert_answered(&response)?;
    }

    #[test]
    fn any_email_or_url_is_validated_within_its_bounds(text in ".{0,400}") {
        let runtime = runtime();
        let client = client(&runtime);
        let body = serde_json::json!({"page": 1, "contact": text, "site": text});
        let response = runtime.block_on(client.post("/filters").json(&body).send());
        assert_answered(&response)?;
        if response.status() == 200 {
            prop_assert!(text.len() <= 254, "an address longer than SMTP allows was accepted");
        }
    }
}

/// Over a real socket, so that the peer is a trusted proxy and the
/// forwarding headers are read.
#[test]
fn any_forwarding_header_is_answered() {
    use proptest::test_runner::{Config, TestRunner};
    let runtime = runtime();
    let server = runtime.block_on(common::TestServer::start(
        App::new()
            .wrap(
                RateLimit::per_client(1_000_000, 1_000_000.0)
                    .trust_proxy("127.0.0.1".parse().unwrap()),
            )
            .mount(routes![flag]),
    ));
    let mut runner = TestRunner::new(Config {
        cases: 128,
        ..Config::default()
    });
    let headers = ("[ -~]{0,80}", "[ -~]{0,80}");
    runner
        .run(&headers, |(xff, forwarded)| {
            let reply = runtime.block_on(server.send(
                hyper::Method::GET,
                "/flag/true",
                &[("x-forwarded-for", &xff), ("forwarded", &forwarded)],
                None,
            ));
            prop_assert_eq!(reply.status, 200, "{:?}", reply.body);
            Ok(())
        })
        .unwrap();
}
