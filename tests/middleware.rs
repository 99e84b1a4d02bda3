//! The middleware onion and the built-in layers, through the real server
//! or the test client.

#[path = "support/captured_log.rs"]
mod captured_log;
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use captured_log::Captured;
use common::TestServer;
use hyper::Method;
use portico::middleware::{
    AccessLog, BodyLimit, CatchPanic, Cors, Middleware, Next, Request, RequestId, Timeout,
    XRequestId, from_fn,
};
use portico::prelude::*;
use portico::testing::TestClient;
use portico::{Body, Response};

type Log = Arc<Mutex<Vec<String>>>;

fn recorder(log: &Log, name: &'static str) -> impl Middleware {
    let log = Arc::clone(log);
    from_fn(move |request: Request, next: Next| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push(format!("{name} in"));
            let response = next.run(request).await;
            log.lock()
                .unwrap()
                .push(format!("{name} out {}", response.status().as_u16()));
            response
        }
    })
}

#[derive(Clone)]
struct CurrentTenant(&'static str);

#[route(GET, "/api/users")]
async fn list_users(tenant: Extension<CurrentTenant>, headers: portico::http::HeaderMap) -> String {
    format!(
        "users of {} (x-added: {:?})",
        tenant.0.0,
        headers.get("x-added")
    )
}

#[route(GET, "/open")]
async fn open() -> &'static str {
    "open"
}

#[route(GET, "/slow")]
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "late"
}

#[route(POST, "/upload")]
async fn upload(body: bytes::Bytes) -> String {
    body.len().to_string()
}

#[route(GET, "/id")]
async fn id(request_id: Extension<XRequestId>) -> String {
    request_id.0.0.to_str().unwrap_or("").to_owned()
}

/// Adds a request header and a response header; hands a value to handlers.
struct Tenant;

impl Middleware for Tenant {
    async fn call(&self, mut request: Request, next: Next) -> Response {
        request
            .headers_mut()
            .insert("x-added", "yes".parse().unwrap());
        request.extensions_mut().insert(CurrentTenant("acme"));
        let mut response = next.run(request).await;
        response
            .headers_mut()
            .insert("x-tenant", "acme".parse().unwrap());
        response
    }
}

#[tokio::test]
async fn layers_run_in_order_in_and_in_reverse_out() {
    let log: Log = Arc::default();
    let app = App::new()
        .wrap(recorder(&log, "logging"))
        .wrap(recorder(&log, "auth"))
        .wrap(recorder(&log, "timing"))
        .wrap(Tenant)
        .mount(routes![list_users]);
    let client = TestClient::new(app).await;
    let response = client.get("/api/users").send().await;
    assert_eq!(response.text(), r#"users of acme (x-added: Some("yes"))"#);
    assert_eq!(response.header("x-tenant"), Some("acme"));
    assert_eq!(
        *log.lock().unwrap(),
        [
            "logging in",
            "auth in",
            "timing in",
            "timing out 200",
            "auth out 200",
            "logging out 200"
        ]
    );
    // Global layers see requests that match no route too.
    log.lock().unwrap().clear();
    assert_eq!(client.get("/nope").send().await.status(), 404);
    assert_eq!(log.lock().unwrap().len(), 6);
}

#[tokio::test]
async fn a_layer_can_answer_without_calling_the_handler() {
    let called = Arc::new(Mutex::new(0));
    let gate = from_fn(|request: Request, next: Next| async move {
        if request.headers().contains_key("x-let-me-in") {
            next.run(request).await
        } else {
            ApiError::unauthorized("no entry").into_response()
        }
    });
    let counter = Arc::clone(&called);
    let count = from_fn(move |request: Request, next: Next| {
        let counter = Arc::clone(&counter);
        async move {
            *counter.lock().unwrap() += 1;
            next.run(request).await
        }
    });
    let app = App::new().wrap(gate).wrap(count).mount(routes![open]);
    let client = TestClient::new(app).await;
    let response = client.get("/open").send().await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.json()["error"]["message"], "no entry");
    assert_eq!(*called.lock().unwrap(), 0, "nothing inside ran");
    assert_eq!(
        client
            .get("/open")
            .header("x-let-me-in", "1")
            .send()
            .await
            .text(),
        "open"
    );
    assert_eq!(*called.lock().unwrap(), 1);
}

#[tokio::test]
async fn prefix_layers_wrap_only_their_routes_and_run_after_routing() {
    let log: Log = Arc::default();
    let app = App::new()
        .wrap_prefix("/api", recorder(&log, "api"))
        .wrap_prefix("/api", Tenant)
        .mount(routes![list_users, open]);
    let client = TestClient::new(app).await;
    assert_eq!(client.get("/open").send().await.text(), "open");
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(client.get("/api/nope").send().await.status(), 404);
    assert!(log.lock().unwrap().is_empty(), "no route, no route layer");
    assert!(
        client
            .get("/api/users")
            .send()
            .await
            .text()
            .starts_with("users of acme")
    );
    assert_eq!(*log.lock().unwrap(), ["api in", "api out 200"]);
}

#[tokio::test]
async fn request_ids_are_kept_when_well_formed_and_made_otherwise() {
    let client = TestClient::new(App::new().wrap(RequestId::default()).mount(routes![id])).await;
    let kept = client
        .get("/id")
        .header("x-request-id", "abc-123.X:y_z")
        .send()
        .await;
    assert_eq!(kept.text(), "abc-123.X:y_z");
    assert_eq!(kept.header("x-request-id"), Some("abc-123.X:y_z"));
    for bad in ["", "has space", &"x".repeat(129), "semi;colon"] {
        let made = client.get("/id").header("x-request-id", bad).send().await;
        assert_eq!(made.text().len(), 32, "{bad:?} is replaced");
        assert_eq!(made.header("x-request-id"), Some(made.text()));
    }
    let a = client.get("/id").send().await.text().to_owned();
    let b = client.get("/id").send().await.text().to_owned();
    assert_ne!(a, b);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
}

#[tokio::test]
async fn the_access_log_has_method_path_status_latency_and_request_id() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let client = TestClient::new(
        App::new()
            .wrap(RequestId::default())
            .wrap(AccessLog)
            .mount(routes![open]),
    )
    .await;
    client
        .get("/open")
        .header("x-request-id", "req-1")
        .send()
        .await;
    client
        .get("/missing")
        .header("x-request-id", "req-2")
        .send()
        .await;
    let text = captured.text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("portico::access"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, (path, status, id)) in lines
        .iter()
        .zip([("/open", 200, "req-1"), ("/missing", 404, "req-2")])
    {
        assert!(line.contains("method=GET"), "{line}");
        assert!(line.contains(&format!("path={path}")), "{line}");
        assert!(line.contains(&format!("status={status}")), "{line}");
        assert!(
            line.contains(&format!("request_id=\"{id}\""))
                || line.contains(&format!("request_id={id}")),
            "{line}"
        );
        assert!(line.contains("latency_us="), "{line}");
    }
}

#[tokio::test]
async fn a_panicking_layer_inside_catch_panic_is_a_500() {
    let bomb = from_fn(|_request: Request, _next: Next| async move {
        if true {
            panic!("layer bug");
        }
        Response::new(Body::empty())
    });
    let client = TestClient::new(App::new().wrap(CatchPanic).wrap(bomb).mount(routes![open])).await;
    let response = client.get("/open").send().await;
    assert_eq!(response.status(), 500);
    assert_eq!(response.json()["error"]["message"], "internal server error");
}

#[tokio::test]
async fn a_slow_request_times_out_with_504() {
    let client = TestClient::new(
        App::new()
            .wrap(Timeout(Duration::from_millis(100)))
            .mount(routes![slow, open]),
    )
    .await;
    let started = std::time::Instant::now();
    let response = client.get("/slow").send().await;
    assert_eq!(response.status(), 504);
    assert_eq!(response.json()["error"]["code"], 504);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(client.get("/open").send().await.status(), 200);
}

#[tokio::test]
async fn a_body_limit_layer_refuses_early_and_while_reading() {
    let server = TestServer::start(
        App::new()
            .wrap_prefix("/upload", BodyLimit(10))
            .mount(routes![upload]),
    )
    .await;
    assert_eq!(
        server
            .send(Method::POST, "/upload", &[], Some(b"0123456789".to_vec()))
            .await
            .body,
        "10"
    );
    server
        .send(Method::POST, "/upload", &[], Some(vec![b'x'; 11]))
        .await
        .assert_failure(413);
    let chunked = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n";
    let response = common::raw(server.addr, chunked, Duration::from_secs(2)).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
}

#[tokio::test]
async fn cors_allows_only_what_is_listed() {
    let cors = Cors::new()
        .allow_origin("https://app.example.com")
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(["content-type", "authorization"])
        .max_age(Duration::from_secs(600));
    let client = TestClient::new(App::new().wrap(cors).mount(routes![open, upload])).await;

    let preflight = client
        .options("/upload")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "Content-Type")
        .send()
        .await;
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET, POST")
    );
    assert_eq!(preflight.header("access-control-max-age"), Some("600"));
    assert_eq!(preflight.header("vary"), Some("origin"));

    for (origin, method, headers) in [
        ("https://evil.example.com", "POST", "content-type"),
        ("https://app.example.com", "DELETE", "content-type"),
        ("https://app.example.com", "POST", "x-custom"),
    ] {
        let refused = client
            .options("/upload")
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
            .await;
        assert_eq!(refused.status(), 403, "{origin} {method} {headers}");
        assert_eq!(refused.header("access-control-allow-origin"), None);
    }

    let allowed = client
        .get("/open")
        .header("origin", "https://app.example.com")
        .send()
        .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let other = client
        .get("/open")
        .header("origin", "https://evil.example.com")
        .send()
        .await;
    assert_eq!(other.status(), 200);
    assert_eq!(
        other.header("access-control-allow-origin"),
        None,
        "deny by default"
    );
    let same_origin = client.get("/open").send().await;
    assert_eq!(same_origin.header("vary"), None);
}
