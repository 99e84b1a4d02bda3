//! The flagship app over real TCP: every route and every status the
//! framework makes, through hyper's HTTP/1.1 client.

mod common;
#[path = "../examples/users_api/store.rs"]
mod store;
#[path = "../examples/users_api/app.rs"]
mod users_api;
use users_api as app;

use common::TestServer;
use hyper::Method;
use serde_json::json;
use users_api::Settings;

/// Settings for a test: a fresh in-memory SQLite database.
fn settings() -> Settings {
    Settings {
        database_url: "sqlite::memory:".into(),
        jwt_secret: b"the users_api tests' own secret, 32+ bytes".to_vec(),
        ..Settings::default()
    }
}

async fn server() -> TestServer {
    TestServer::start(users_api::app(&settings()).await.unwrap()).await
}

fn bearer(role: &str) -> String {
    format!("Bearer {}", settings().token("42", role).unwrap())
}

/// POST /users as an authenticated user.
async fn post_user(server: &TestServer, body: &str) -> common::Reply {
    post_as(server, "42", None, body).await
}

/// POST /users as subject `sub`, with an `Idempotency-Key` if given.
async fn post_as(server: &TestServer, sub: &str, key: Option<&str>, body: &str) -> common::Reply {
    let auth = format!("Bearer {}", settings().token(sub, "user").unwrap());
    let mut headers = vec![
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    headers.extend(key.map(|key| ("idempotency-key", key)));
    server
        .send(
            Method::POST,
            "/users",
            &headers,
            Some(body.as_bytes().to_vec()),
        )
        .await
}

async fn delete_user(server: &TestServer, path: &str) -> common::Reply {
    let auth = bearer("admin");
    server
        .send(
            Method::DELETE,
            path,
            &[("authorization", auth.as_str())],
            None,
        )
        .await
}

async fn create(server: &TestServer, name: &str, email: &str, age: i32) -> serde_json::Value {
    let body = json!({"name": name, "email": email, "age": age}).to_string();
    let reply = post_user(server, &body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.json()["data"].clone()
}

#[tokio::test]
async fn route_table_lists_the_seed_routes_in_registration_order() {
    let table = users_api::app(&settings())
        .await
        .unwrap()
        .routes()
        .to_string();
    assert_eq!(
        table,
        "GET /users -> list_users\nPOST /users -> create_user\nGET /users/<id> -> get_user\n\
         DELETE /users/<id> -> delete_user\nGET /tasks/<id> -> get_task\nGET /healthz -> healthz\n\
         GET /ready -> ready\nGET /metrics -> metrics\nGET /openapi.json -> openapi_json\n\
         GET /docs -> docs_page\n\
         GET /docs/init.js -> docs_init\nGET /docs/swagger-ui-bundle.js -> docs_bundle\n\
         GET /docs/swagger-ui.css -> docs_style\n"
    );
}

#[tokio::test]
async fn create_then_get_then_delete_a_user() {
    let server = server().await;
    let reply = post_user(
        &server,
        r#"{"name":"Alice","email":"alice@example.com","age":30}"#,
    )
    .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("location"), "/users/1");
    assert_eq!(
        reply.json(),
        json!({"success": true, "data": {"id": 1, "name": "Alice", "email": "alice@example.com", "age": 30, "welcome_task": 1}, "error": null})
    );

    let reply = server.get("/users/1").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["data"]["name"], "Alice");

    let reply = delete_user(&server, "/users/1").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["data"]["id"], 1);

    let message = server.get("/users/1").await.assert_failure(404);
    assert_eq!(message, "no user with id 1");
    delete_user(&server, "/users/1").await.assert_failure(404);
}

#[tokio::test]
async fn client_cannot_choose_the_id_or_extra_fields() {
    let server = server().await;
    let reply = post_user(
        &server,
        r#"{"id":999,"role":"admin","name":"Mallory","email":"m@example.com","age":40}"#,
    )
    .await;
    assert_eq!(reply.status, 201);
    let user = &reply.json()["data"];
    assert_eq!(user["id"], 1);
    assert!(user.get("role").is_none(), "{user}");
}

/// Users `user0` … `user{n-1}`, ids 1 to n.
async fn create_users(server: &TestServer, n: i32) {
    for i in 0..n {
        create(
            server,
            &format!("user{i}"),
            &format!("u{i}@example.com"),
            20 + i,
        )
        .await;
    }
}

#[tokio::test]
async fn list_is_paginated_with_meta() {
    let server = server().await;
    create_users(&server, 5).await;
    let reply = server.get("/users?page=2&page_size=2").await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(
        body["meta"],
        json!({"total": 5, "page": 2, "page_size": 2, "pages": 3})
    );
    let names: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(names, [json!("user2"), json!("user3")]);
    assert!(
        body.get("error").is_none(),
        "paginated envelopes carry meta, not error: {body}"
    );

    let last = server.get("/users?page=3&page_size=2").await.json();
    assert_eq!(last["data"].as_array().unwrap().len(), 1);
    let beyond = server.get("/users?page=9&page_size=2").await.json();
    assert_eq!(beyond["data"], json!([]));
}

/// The ids of the users on one page.
fn page_ids(page: &serde_json::Value) -> Vec<i64> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect()
}

/// The ids of every user, following `meta.next` from `first`, checking
/// that each page's `Link` header says what its `meta` says.
async fn walk(server: &TestServer, first: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut path = first.to_owned();
    for _ in 0..100 {
        let reply = server.get(&path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.json());
        let body = reply.json();
        assert!(body.get("error").is_none() && body["meta"].get("total").is_none());
        ids.extend(page_ids(&body));
        let Some(next) = body["meta"]["next"].as_str() else {
            return ids;
        };
        let link = reply.header("link");
        let target = link
            .split(", ")
            .find(|l| l.ends_with("rel=\"next\""))
            .and_then(|l| l.strip_prefix('<'))
            .and_then(|l| l.split_once('>'))
            .map(|(target, _)| target.to_owned())
            .expect("a next link");
        assert!(target.ends_with(&format!("after={next}")), "{target}");
        path = target;
    }
    panic!("more than 100 pages")
}

#[tokio::test]
async fn list_pages_by_cursor_forwards_and_back() {
    let server = server().await;
    create_users(&server, 7).await;
    assert_eq!(walk(&server, "/users?limit=3").await, [1, 2, 3, 4, 5, 6, 7]);
    // Default limit 20: one page, no next.
    let all = server.get("/users").await.json();
    assert_eq!(
        all["meta"],
        json!({"limit": 20, "next": null, "prev": null})
    );

    // Back from the last page by `meta.prev`.
    let first = server.get("/users?limit=3").await.json();
    let second = server
        .get(&format!(
            "/users?limit=3&after={}",
            first["meta"]["next"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(page_ids(&second), [4, 5, 6]);
    let back = server
        .get(&format!(
            "/users?limit=3&before={}",
            second["meta"]["prev"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(page_ids(&back), [1, 2, 3]);
    assert_eq!(
        back["meta"]["prev"],
        json!(null),
        "nothing before the first user"
    );

    // A user deleted under a cursor does not break the walk.
    let next = second["meta"]["next"].as_str().unwrap().to_owned();
    assert_eq!(delete_user(&server, "/users/6").await.status, 200);
    let rest = server
        .get(&format!("/users?limit=3&after={next}"))
        .await
        .json();
    assert_eq!(page_ids(&rest), [7]);
    assert_eq!(server.get("/users?page=1").await.json()["meta"]["total"], 6);
}

#[tokio::test]
async fn a_cursor_the_api_did_not_give_is_400() {
    let server = server().await;
    create_users(&server, 3).await;
    let next = server.get("/users?limit=1").await.json()["meta"]["next"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut forged = next.clone().into_bytes();
    let last = forged.len() - 3;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for (query, field) in [
        (format!("after={forged}"), "after"),
        (format!("before={next}"), "before"),
        ("after=1".to_owned(), "after"),
        ("after=%27%3B%20DROP%20TABLE%20users".to_owned(), "after"),
        (format!("after={next}&before={next}"), "before"),
    ] {
        let reply = server.get(&format!("/users?{query}")).await;
        reply.assert_failure(400);
        assert!(
            reply.json()["error"]["fields"][field][0]["code"].is_string(),
            "{query}: {}",
            reply.json()
        );
    }
    // Another app (another key) does not take this one's cursors.
    let other = TestServer::start(
        users_api::app(&Settings {
            jwt_secret: b"another deployment's secret, 32+ bytes".to_vec(),
            ..settings()
        })
        .await
        .unwrap(),
    )
    .await;
    other
        .get(&format!("/users?after={next}"))
        .await
        .assert_failure(400);
    for query in ["limit=0", "limit=101", "limit=x"] {
        let reply = server.get(&format!("/users?{query}")).await;
        reply.assert_failure(422);
        assert!(
            reply.json()["error"]["fields"]["limit"].is_array(),
            "{query}"
        );
    }
}

#[tokio::test]
async fn numbered_pages_stop_at_the_configured_depth() {
    let server = server().await;
    assert_eq!(server.get("/users?page=501&page_size=20").await.status, 200);
    let reply = server.get("/users?page=502&page_size=20").await;
    reply.assert_failure(422);
    assert_eq!(
        reply.json()["error"]["fields"]["page"][0]["code"],
        "too_deep"
    );
}

#[tokio::test]
async fn bad_paging_is_422_naming_the_parameter() {
    let server = server().await;
    for (query, field, code) in [
        ("page=0", "page", "range"),
        ("page_size=0", "page_size", "range"),
        ("page_size=101", "page_size", "range"),
        ("page=abc", "page", "type"),
        ("page=-1", "page", "type"),
    ] {
        let reply = server.get(&format!("/users?{query}")).await;
        reply.assert_failure(422);
        assert_eq!(
            reply.json()["error"]["fields"][field][0]["code"],
            code,
            "{query}: {}",
            reply.json()
        );
    }
    assert_eq!(server.get("/users?page_size=100").await.status, 200);
}

#[tokio::test]
async fn invalid_user_is_422_listing_every_field() {
    let server = server().await;
    let reply = post_user(&server, r#"{"name":"  ","email":"not-an-email","age":-1}"#).await;
    assert_eq!(reply.assert_failure(422), "validation failed");
    let fields = &reply.json()["error"]["fields"];
    assert_eq!(fields["name"][0]["code"], "blank", "{fields}");
    assert_eq!(fields["email"][0]["code"], "email", "{fields}");
    assert_eq!(
        fields["age"][0],
        json!({"code": "range", "message": "must be between 0 and 150", "params": {"min": 0, "max": 150}})
    );
    let long_name = "é".repeat(101);
    let body = json!({"name": long_name, "email": "a@b.co", "age": 150});
    let reply = post_user(&server, &body.to_string()).await;
    reply.assert_failure(422);
    assert_eq!(reply.json()["error"]["fields"]["name"][0]["code"], "length");
    let body = json!({"name": "é".repeat(100), "email": "a@b.co", "age": 0});
    let ok = post_user(&server, &body.to_string()).await;
    assert_eq!(
        ok.status, 201,
        "100 characters (200 bytes) is within the limit"
    );
    let list = server.get("/users?page=1").await.json();
    assert_eq!(list["meta"]["total"], 1, "only the valid user is stored");
}

#[tokio::test]
async fn bad_path_parameter_is_400_naming_it() {
    let server = server().await;
    let message = server.get("/users/abc").await.assert_failure(400);
    assert!(
        message.contains("`id`") && message.contains("abc"),
        "{message}"
    );
    let message = server
        .get("/users/99999999999999999999")
        .await
        .assert_failure(400);
    assert!(message.contains("`id`"), "{message}");
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_is_405_with_allow() {
    let server = server().await;
    let message = server.get("/nope").await.assert_failure(404);
    assert_eq!(message, "no route for GET /nope");
    server.get("/users/1/extra").await.assert_failure(404);

    let reply = server.send(Method::PUT, "/users", &[], None).await;
    reply.assert_failure(405);
    assert_eq!(reply.header("allow"), "GET, HEAD, POST, OPTIONS");
    let reply = server.send(Method::PATCH, "/users/1", &[], None).await;
    reply.assert_failure(405);
    assert_eq!(reply.header("allow"), "GET, HEAD, DELETE, OPTIONS");
}

#[tokio::test]
async fn head_is_get_without_body_and_options_lists_methods() {
    let server = server().await;
    create(&server, "Alice", "alice@example.com", 30).await;
    let get = server.get("/users/1").await;
    let head = server.send(Method::HEAD, "/users/1", &[], None).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), get.body.len().to_string());
    assert_eq!(head.header("content-type"), "application/json");

    let options = server.send(Method::OPTIONS, "/users/1", &[], None).await;
    assert_eq!(options.status, 204);
    assert_eq!(options.header("allow"), "GET, HEAD, DELETE, OPTIONS");
    assert!(options.body.is_empty());
    server
        .send(Method::OPTIONS, "/nope", &[], None)
        .await
        .assert_failure(404);
}

#[tokio::test]
async fn json_body_needs_a_json_content_type() {
    let server = server().await;
    let body = Some(br#"{"name":"A","email":"a@example.com","age":1}"#.to_vec());
    let auth = bearer("user");
    let auth = ("authorization", auth.as_str());
    let message = server
        .send(Method::POST, "/users", &[auth], body.clone())
        .await
        .assert_failure(415);
    assert!(message.contains("found none"), "{message}");
    let headers = [auth, ("content-type", "text/plain")];
    let message = server
        .send(Method::POST, "/users", &headers, body.clone())
        .await
        .assert_failure(415);
    assert!(message.contains("text/plain"), "{message}");
    let headers = [auth, ("content-type", "application/json; charset=utf-8")];
    let reply = server.send(Method::POST, "/users", &headers, body).await;
    assert_eq!(reply.status, 201);
}

#[tokio::test]
async fn malformed_json_is_400_with_line_and_column() {
    let server = server().await;
    let message = post_user(&server, "{\n  \"name\": \"A\",\n  \"email\" \"x\"\n}")
        .await
        .assert_failure(400);
    assert_eq!(message, "malformed JSON at line 3, column 11: expected `:`");
    let message = post_user(&server, "").await.assert_failure(400);
    assert!(message.contains("EOF"), "{message}");
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_422() {
    let server = server().await;
    let message = post_user(
        &server,
        r#"{"name":"A","email":"a@example.com","age":"old"}"#,
    )
    .await
    .assert_failure(422);
    assert_eq!(message, "the JSON body does not have the expected shape");
    let reply = post_user(
        &server,
        r#"{"name":"A","email":"a@example.com","age":"old"}"#,
    )
    .await;
    let age = &reply.json()["error"]["fields"]["age"][0];
    assert_eq!(age["code"], "type", "{age}");
    assert!(
        age["message"].as_str().unwrap().contains("invalid type"),
        "{age}"
    );
    let reply = post_user(&server, r#"{"name":"A"}"#).await;
    reply.assert_failure(422);
    assert_eq!(
        reply.json()["error"]["fields"]["email"][0]["code"],
        "required"
    );
    // The server's type names stay on the server; the input is not echoed.
    let reply = post_user(&server, r#""Robert'); DROP TABLE users;--""#).await;
    reply.assert_failure(422);
    let message = reply.json()["error"]["fields"].to_string();
    assert!(
        message.contains("expected an object")
            && !message.contains("NewUser")
            && !message.contains("DROP"),
        "neither a type name nor the input: {message}"
    );
}

#[tokio::test]
async fn body_over_the_limit_is_413_with_or_without_content_length() {
    let server = server().await;
    let big = format!(
        r#"{{"name":"{}","email":"a@example.com","age":1}}"#,
        "x".repeat(16 * 1024 + 1)
    );
    let message = post_user(&server, &big).await.assert_failure(413);
    assert_eq!(
        message,
        "request body is larger than the limit of 16384 bytes"
    );

    // Chunked: no Content-Length to refuse early, so the limit must cut the stream.
    let mut request = format!(
        "POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        bearer("user")
    )
    .into_bytes();
    for chunk in big.as_bytes().chunks(64 * 1024) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = common::raw(server.addr, &request, std::time::Duration::from_secs(2)).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
}

#[tokio::test]
async fn healthz_is_alive() {
    let server = server().await;
    let reply = server.get("/healthz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({"success": true, "data": {"status": "alive"}, "error": null})
    );
    assert_eq!(reply.header("cache-control"), "no-store");
}

#[tokio::test]
async fn ready_lists_the_database_check() {
    let server = server().await;
    let reply = server.get("/ready").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("cache-control"), "no-store");
    let report = &reply.json()["data"];
    assert_eq!(report["status"], "healthy");
    assert_eq!(report["components"][0]["name"], "db");
    assert_eq!(report["components"][0]["status"], "healthy");
    assert!(report["components"][0]["latency_ms"].is_number());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_app_runs_on_postgres() {
    let postgres = common::postgres::TestPostgres::start();
    let settings = Settings {
        database_url: format!("postgres://portico@127.0.0.1:{}/postgres", postgres.port),
        ..settings()
    };
    let server = TestServer::start(users_api::app(&settings).await.unwrap()).await;
    let created = create(&server, "Pat", "pat@example.com", 41).await;
    assert_eq!(created["id"], 1);
    assert_eq!(
        server.get("/users/1").await.json()["data"]["email"],
        "pat@example.com"
    );
    create(&server, "Sam", "sam@example.com", 42).await;
    create(&server, "Kim", "kim@example.com", 43).await;
    assert_eq!(walk(&server, "/users?limit=2").await, [1, 2, 3]);
    assert_eq!(server.get("/users?page=1").await.json()["meta"]["total"], 3);
    assert_eq!(delete_user(&server, "/users/1").await.status, 200);
    assert_eq!(server.get("/users?page=1").await.json()["meta"]["total"], 2);
    server.get("/users/1").await.assert_failure(404);
    assert_eq!(
        server.get("/ready").await.json()["data"]["status"],
        "healthy"
    );

    postgres.stop();
    let reply = server.get("/users/1").await;
    assert_eq!(
        reply.assert_failure(503),
        "the database is unavailable; retry later"
    );
    let ready = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let reply = server.get("/ready").await;
            if reply.status == 503 {
                return reply;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("readiness fails while the database is down");
    assert_eq!(
        ready.json()["error"]["fields"]["components"][0]["status"],
        "unhealthy"
    );
}

#[tokio::test]
async fn creating_needs_a_token_and_deleting_needs_admin() {
    let server = server().await;
    let body = r#"{"name":"Alice","email":"alice@example.com","age":30}"#;
    let reply = server.post_json("/users", body).await;
    assert_eq!(reply.assert_failure(401), "authentication required");
    assert_eq!(reply.header("www-authenticate"), "Bearer");
    // The token is checked before the body: no validation details for
    // anonymous clients.
    let reply = server.post_json("/users", "{}").await;
    assert_eq!(reply.assert_failure(401), "authentication required");
    create(&server, "Alice", "alice@example.com", 30).await;

    let user = bearer("user");
    let reply = server
        .send(
            Method::DELETE,
            "/users/1",
            &[("authorization", user.as_str())],
            None,
        )
        .await;
    assert_eq!(reply.assert_failure(403), "the `admin` role is required");
    assert_eq!(delete_user(&server, "/users/1").await.status, 200);
}

#[tokio::test]
async fn every_route_but_health_is_rate_limited_per_client() {
    let settings = Settings {
        rate_capacity: 3,
        rate_refill_per_sec: 0.01,
        ..settings()
    };
    let server = TestServer::start(users_api::app(&settings).await.unwrap()).await;
    for _ in 0..3 {
        assert_eq!(server.get("/users").await.status, 200);
    }
    let limited = server.get("/users/1").await;
    limited.assert_failure(429);
    assert!(limited.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(server.get("/healthz").await.status, 200);
    // An authenticated client has its own bucket.
    let reply = post_user(&server, r#"{"name":"A","email":"a@example.com","age":1}"#).await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("ratelimit"), r#""default";r=2;t=100"#);
}

#[tokio::test]
async fn metrics_are_exempt_from_the_rate_limit_and_count_its_refusals() {
    let settings = Settings {
        rate_capacity: 2,
        rate_refill_per_sec: 0.01,
        ..settings()
    };
    let server = TestServer::start(users_api::app(&settings).await.unwrap()).await;
    for _ in 0..2 {
        assert_eq!(server.get("/users").await.status, 200);
    }
    server.get("/users").await.assert_failure(429);
    for _ in 0..5 {
        assert_eq!(server.get("/metrics").await.status, 200, "never limited");
    }
    let scraped = server.get("/metrics").await;
    let text = std::str::from_utf8(&scraped.body).unwrap();
    for line in [
        "http_server_request_duration_seconds_count{http_request_method=\"GET\",url_scheme=\"http\",http_route=\"/users\",http_response_status_code=\"200\"} 2",
        "http_server_request_duration_seconds_count{http_request_method=\"GET\",url_scheme=\"http\",http_route=\"/users\",http_response_status_code=\"429\"} 1",
        "portico_ratelimit_requests_total{policy=\"default\",decision=\"limited\"} 1",
        "portico_queue_up{queue=\"default\"} 1.0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    let created = text
        .lines()
        .find_map(|l| l.strip_prefix("portico_pool_connections_created_total{pool=\"db\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(
        created.is_some_and(|n| n >= 1),
        "the pool is reported:\n{text}"
    );
}

#[tokio::test]
async fn metrics_ask_for_the_token_when_one_is_set() {
    let settings = Settings {
        metrics_token: Some("the scrape token, 16+".into()),
        ..settings()
    };
    let server = TestServer::start(users_api::app(&settings).await.unwrap()).await;
    server.get("/metrics").await.assert_failure(401);
    let scraped = server
        .send(
            Method::GET,
            "/metrics",
            &[("authorization", "Bearer the scrape token, 16+")],
            None,
        )
        .await;
    assert_eq!(scraped.status, 200);
}

#[tokio::test]
async fn a_short_secret_is_refused() {
    let settings = Settings {
        jwt_secret: b"short".to_vec(),
        ..settings()
    };
    let err = users_api::app(&settings).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "setting PORTICO_JWT_SECRET: the secret is 5 bytes; at least 32 are required"
    );
}

#[tokio::test]
async fn names_of_only_nul_or_zero_width_characters_are_blank() {
    let server = server().await;
    for name in ["\u{0}\u{0}", "\u{200b}\u{200d}", " \u{feff}\t"] {
        let body = json!({"name": name, "email": "a@b.co", "age": 1});
        let reply = post_user(&server, &body.to_string()).await;
        reply.assert_failure(422);
        assert_eq!(reply.json()["error"]["fields"]["name"][0]["code"], "blank");
    }
}

#[tokio::test]
async fn every_response_forbids_content_type_sniffing() {
    let server = server().await;
    for reply in [
        server.get("/users").await,
        server.get("/nowhere").await,
        server.get("/users/not-a-number").await,
        post_user(&server, "{").await,
    ] {
        assert_eq!(reply.header("x-content-type-options"), "nosniff");
    }
}

#[tokio::test]
async fn an_address_longer_than_smtp_allows_is_refused() {
    let server = server().await;
    let email = format!("{}@example.com", "a".repeat(300));
    let body = json!({"name": "Ann", "email": email, "age": 1});
    let reply = post_user(&server, &body.to_string()).await;
    reply.assert_failure(422);
    assert_eq!(reply.json()["error"]["fields"]["email"][0]["code"], "email");
}

/// POST /users as subject `sub` with an `Idempotency-Key`.
async fn post_keyed(server: &TestServer, sub: &str, key: &str, body: &str) -> common::Reply {
    post_as(server, sub, Some(key), body).await
}

async fn user_count(server: &TestServer) -> u64 {
    server.get("/users?page=1").await.json()["meta"]["total"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_concurrent_creates_with_one_key_make_one_user() {
    let server = std::sync::Arc::new(server().await);
    let body = r#"{"name": "Once", "email": "once@example.com", "age": 30}"#;
    let posts: Vec<_> = (0..30)
        .map(|_| {
            let server = std::sync::Arc::clone(&server);
            tokio::spawn(async move { post_keyed(&server, "42", "\"signup-1\"", body).await })
        })
        .collect();
    let mut first: Option<bytes::Bytes> = None;
    for post in posts {
        let reply = post.await.unwrap();
        match reply.status.as_u16() {
            201 => assert_eq!(first.get_or_insert_with(|| reply.body.clone()), &reply.body),
            409 => {
                reply.assert_failure(409);
                assert!(reply.headers.contains_key("retry-after"));
            }
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
    assert_eq!(user_count(&server).await, 1, "exactly one user");
    let created: serde_json::Value = serde_json::from_slice(first.as_ref().unwrap()).unwrap();
    let task = created["data"]["welcome_task"].as_i64().unwrap();
    assert_eq!(
        server.get(&format!("/tasks/{}", task + 1)).await.status,
        404,
        "exactly one welcome task"
    );

    let replay = post_keyed(&server, "42", "signup-1", body).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), "true");
    assert_eq!(Some(&replay.body), first.as_ref());
    assert_eq!(replay.header("location"), "/users/1");

    let other_body = r#"{"name": "Twice", "email": "twice@example.com", "age": 31}"#;
    post_keyed(&server, "42", "signup-1", other_body)
        .await
        .assert_failure(422);
    // Another client's identical key is another key.
    let theirs = post_keyed(&server, "7", "signup-1", body).await;
    assert_eq!(theirs.status, 201);
    assert!(theirs.headers.get("idempotent-replayed").is_none());
    assert_eq!(user_count(&server).await, 2);
}

#[tokio::test]
async fn a_refused_create_leaves_the_key_free() {
    let server = server().await;
    let invalid = r#"{"name": "", "email": "nope", "age": 300}"#;
    post_keyed(&server, "42", "k", invalid)
        .await
        .assert_failure(422);
    let valid = r#"{"name": "Fixed", "email": "fixed@example.com", "age": 30}"#;
    assert_eq!(post_keyed(&server, "42", "k", valid).await.status, 201);
    assert_eq!(user_count(&server).await, 1);
}

/// GET /tasks/<id>, as `auth` if given.
async fn get_task(
    server: &TestServer,
    id: &serde_json::Value,
    auth: Option<&str>,
) -> common::Reply {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    server
        .send(Method::GET, &format!("/tasks/{id}"), &headers, None)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_user_gets_a_welcome_task_that_runs() {
    let server = server().await;
    let user = create(&server, "Wanda", "wanda@example.com", 30).await;
    let task = &user["welcome_task"];
    assert!(task.as_i64().is_some(), "{user}");
    let auth = bearer("user");
    let mut record = serde_json::Value::Null;
    for _ in 0..200 {
        record = get_task(&server, task, Some(&auth)).await.json()["data"].clone();
        if record["status"] == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(record["status"], "done", "{record}");
    assert_eq!(record["name"], "welcome_email");
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["result"]["sent"], true);
    assert_eq!(record["payload"]["to"], "wanda@example.com");
    // Anonymous callers see the record, not the payload.
    let anonymous = get_task(&server, task, None).await.json()["data"].clone();
    assert_eq!(anonymous["status"], "done");
    assert_eq!(anonymous["payload"], serde_json::Value::Null);
    let missing = get_task(&server, &json!(999_999), None).await;
    assert!(missing.assert_failure(404).contains("999999"));
    let ready = server.get("/ready").await.json();
    assert!(ready.to_string().contains("queue"), "{ready}");
}

#[tokio::test]
async fn a_user_revalidates_by_etag_and_a_delete_needs_the_current_one() {
    let server = server().await;
    create(&server, "Ann", "ann@example.com", 33).await;
    let first = server.get("/users/1").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("cache-control"), "private, no-cache");
    let etag = first.header("etag").to_owned();
    let held = server
        .send(Method::GET, "/users/1", &[("if-none-match", &etag)], None)
        .await;
    assert_eq!(held.status, 304);
    assert!(held.body.is_empty());
    for path in ["/users", "/users?page=1", "/users/99", "/healthz"] {
        assert_eq!(
            server.get(path).await.header("cache-control"),
            "no-store",
            "{path}"
        );
    }

    let admin = bearer("admin");
    let delete = |if_match: &str| {
        let headers = [
            ("authorization", admin.clone()),
            ("if-match", if_match.to_owned()),
        ];
        let server = &server;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            server
                .send(Method::DELETE, "/users/1", &headers, None)
                .await
        }
    };
    delete("\"an-older-one\"").await.assert_failure(412);
    assert_eq!(server.get("/users/1").await.status, 200, "still there");
    assert_eq!(delete(&etag).await.status, 200);
    // The kept answer went with it: no stale 200 for a minute.
    server.get("/users/1").await.assert_failure(404);
    delete(&etag).await.assert_failure(412);
}
