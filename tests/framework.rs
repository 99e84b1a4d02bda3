//! Framework behaviour beyond the flagship app: extractors, parameters,
//! responses, panics, build-time conflicts and the server's lifecycle.

mod common;

use std::time::Duration;

use common::TestServer;
use hyper::Method;
use portico::http::{HeaderMap, StatusCode};
use portico::prelude::*;
use portico::testing::TestClient;
use portico::{BuildProblem, RequestContext};
use serde_json::json;

#[route(GET, "/echo/<name>")]
async fn echo_name(name: String) -> String {
    name
}

#[route(GET, "/files/<path..>")]
async fn file(path: String) -> String {
    format!("file:{path}")
}

#[route(GET, "/flags/<on>")]
async fn flag(on: bool) -> Json<bool> {
    Json(on)
}

/// A user type parsed from a path segment.
struct Slug(String);

impl FromParam for Slug {
    type Error = &'static str;
    fn from_param(value: &str) -> Result<Self, Self::Error> {
        if !value.is_empty() && value.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            Ok(Slug(value.to_owned()))
        } else {
            Err("lower-case letters and dashes only")
        }
    }
}

#[route(GET, "/posts/<slug>")]
async fn post(slug: Slug) -> String {
    slug.0
}

/// A user extractor.
struct ApiKey(String);

impl FromRequest for ApiKey {
    type Rejection = ApiError;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, ApiError> {
        ctx.headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(|v| ApiKey(v.to_owned()))
            .ok_or_else(|| ApiError::unauthorized("missing X-Api-Key"))
    }
}

#[route(GET, "/secret")]
async fn secret(
    key: ApiKey,
    headers: HeaderMap,
    maybe: Option<ApiKey>,
) -> ApiResponse<serde_json::Value> {
    ApiResponse::ok(json!({
        "key": key.0,
        "agent": headers.get("user-agent").and_then(|v| v.to_str().ok()),
        "again": maybe.map(|k| k.0),
    }))
}

#[route(POST, "/raw")]
async fn raw_request(request: portico::http::Request<portico::Body>) -> String {
    format!("{} {}", request.method(), request.uri().path())
}

#[route(POST, "/text")]
fn text(body: String) -> (StatusCode, String) {
    (StatusCode::ACCEPTED, body.to_uppercase())
}

#[route(GET, "/panic")]
async fn panics() -> &'static str {
    panic!("handler bug")
}

#[route(GET, "/slow/<ms>")]
async fn slow(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slept {ms}")
}

#[route(GET, "/users/me")]
async fn me() -> &'static str {
    "me"
}

#[route(GET, "/users/<id>")]
async fn user(id: i64) -> String {
    format!("user {id}")
}

/// A handler named with a raw identifier, as a keyword-named one must be.
#[route(GET, "/kinds/<kind>")]
async fn r#type(kind: String) -> String {
    format!("kind {kind}")
}

/// User types named as Portico's probe traits are: `route()` names
/// those traits only as `_`, so these names stay the user's.
mod same_names {
    use portico::prelude::*;
    use portico::{RequestContext, Response};

    pub(crate) struct ParamPlan(pub String);

    impl FromParam for ParamPlan {
        type Error = &'static str;
        fn from_param(value: &str) -> Result<Self, Self::Error> {
            Ok(ParamPlan(value.to_owned()))
        }
    }

    pub(crate) struct ArgPlan(pub usize);

    impl FromRequest for ArgPlan {
        type Rejection = ApiError;

        async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, ApiError> {
            Ok(ArgPlan(ctx.headers().len()))
        }
    }

    pub(crate) struct Describer(pub String);

    impl IntoResponse for Describer {
        fn into_response(self) -> Response {
            self.0.into_response()
        }
    }

    #[route(GET, "/named/<plan>")]
    pub(crate) async fn named(plan: ParamPlan, headers: ArgPlan) -> Describer {
        Describer(format!("{} {}", plan.0, headers.0 > 0))
    }
}

fn app() -> App {
    App::new().mount(routes![
        r#type,
        same_names::named,
        echo_name,
        file,
        flag,
        post,
        secret,
        raw_request,
        text,
        panics,
        slow,
        me,
        user
    ])
}

#[tokio::test]
async fn path_parameters_are_percent_decoded() {
    let server = TestServer::start(app()).await;
    let reply = server.get("/echo/hello%20w%C3%B6rld").await;
    assert_eq!(reply.body, "hello wörld");
    assert_eq!(reply.header("content-type"), "text/plain; charset=utf-8");
    let message = server.get("/echo/%FF").await.assert_failure(400);
    assert!(
        message.contains("`name`") && message.contains("UTF-8"),
        "{message}"
    );
}

#[tokio::test]
async fn a_handler_named_with_a_raw_identifier_is_routed() {
    let server = TestServer::start(app()).await;
    assert_eq!(server.get("/kinds/book").await.body, "kind book");
    // Named without its `r#`, as the OpenAPI operation and the route
    // table show it.
    assert_eq!(routes![r#type][0].name(), "type");
}

#[tokio::test]
async fn user_types_may_share_a_name_with_portico_s_probes() {
    let server = TestServer::start(app()).await;
    assert_eq!(server.get("/named/book").await.body, "book true");
}

#[tokio::test]
async fn catch_all_takes_the_rest_of_the_path() {
    let server = TestServer::start(app()).await;
    assert_eq!(server.get("/files/a/b/c.txt").await.body, "file:a/b/c.txt");
    assert_eq!(server.get("/files").await.body, "file:");
}

#[tokio::test]
async fn static_segments_win_over_parameters() {
    let server = TestServer::start(app()).await;
    assert_eq!(server.get("/users/me").await.body, "me");
    assert_eq!(server.get("/users/7").await.body, "user 7");
}

#[tokio::test]
async fn bool_and_user_parameter_types() {
    let server = TestServer::start(app()).await;
    assert_eq!(server.get("/flags/true").await.json(), json!(true));
    let message = server.get("/flags/yes").await.assert_failure(400);
    assert!(
        message.contains("`on`") && message.contains("bool"),
        "{message}"
    );
    assert_eq!(server.get("/posts/hello-world").await.body, "hello-world");
    let message = server.get("/posts/Hello").await.assert_failure(400);
    assert!(
        message.ends_with("lower-case letters and dashes only"),
        "{message}"
    );
}

#[tokio::test]
async fn user_extractors_headers_and_optional_extractors() {
    let server = TestServer::start(app()).await;
    let message = server.get("/secret").await.assert_failure(401);
    assert_eq!(message, "missing X-Api-Key");
    let reply = server
        .send(
            Method::GET,
            "/secret",
            &[("x-api-key", "k1"), ("user-agent", "tests")],
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["data"],
        json!({"key": "k1", "agent": "tests", "again": "k1"})
    );
}

#[tokio::test]
async fn whole_request_text_body_and_sync_handlers() {
    let server = TestServer::start(app()).await;
    let reply = server
        .send(Method::POST, "/raw", &[], Some(b"x".to_vec()))
        .await;
    assert_eq!(reply.body, "POST /raw");
    let reply = server
        .send(Method::POST, "/text", &[], Some(b"shout".to_vec()))
        .await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.body, "SHOUT");
    server
        .send(Method::POST, "/text", &[], Some(vec![0xff, 0xfe]))
        .await
        .assert_failure(400);
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_server_keeps_serving() {
    let server = TestServer::start(app()).await;
    let message = server.get("/panic").await.assert_failure(500);
    assert_eq!(message, "internal server error", "no internals leak");
    assert_eq!(server.get("/users/1").await.body, "user 1");
    // Again on a connection the client keeps alive.
    let response = common::raw(
        server.addr,
        b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET /users/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    assert!(
        response.contains("HTTP/1.1 200") && response.ends_with("user 2"),
        "{response}"
    );
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let server = TestServer::start(app()).await;
    let response = common::raw(
        server.addr,
        b"GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /users/2 HTTP/1.1\r\nHost: x\r\n\r\nGET /users/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(response.matches("HTTP/1.1 200 OK").count(), 3, "{response}");
    assert!(response.ends_with("user 3"));
}

#[test]
fn routes_that_cannot_be_told_apart_fail_the_build_naming_both() {
    #[route(GET, "/items/<id>")]
    async fn item_by_id(id: i64) -> String {
        id.to_string()
    }
    #[route(GET, "/items/<name>")]
    async fn item_by_name(name: String) -> String {
        name
    }
    #[route(DELETE, "/items/<name>")]
    async fn delete_item(name: String) -> String {
        name
    }
    let err = App::new()
        .mount(routes![item_by_id, delete_item, item_by_name])
        .verify()
        .expect_err("conflict");
    match err.problems() {
        [BuildProblem::Conflict { first, second }] => {
            assert_eq!(first, "GET /items/<id> -> item_by_id");
            assert_eq!(second, "GET /items/<name> -> item_by_name");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("item_by_id") && err.to_string().contains("item_by_name"));
}

#[tokio::test]
async fn test_client_needs_no_socket() {
    let client = TestClient::new(app().body_limit(8)).await;
    let response = client.get("/users/5").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "user 5");
    let response = client
        .post("/text")
        .body("more than eight bytes")
        .send()
        .await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json()["error"]["message"],
        "request body is larger than the limit of 8 bytes"
    );
}

#[tokio::test]
async fn handlers_stay_callable_functions() {
    assert_eq!(user(3).await, "user 3");
    assert_eq!(text("a".into()), (StatusCode::ACCEPTED, "A".to_owned()));
}
