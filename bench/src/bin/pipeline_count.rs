//! The load test's scenarios (b) `/json`, (c) `/users/<id>` and (e) the
//! same behind request id + JWT + rate limit + access log, answered in
//! process a fixed number of times: instructions per request under
//! callgrind without the network, hyper or the scheduler (whose wake-ups
//! make the load test's own counts move by about 2 %).
//!
//! `valgrind --tool=callgrind target/release/pipeline_count b 20000`, the
//! same with 10000, and difference the totals to cancel start-up.
//!
//! `p` and `i` measure the `Idempotency-Key` layer on a request without a
//! key: `POST` through a layer that only passes the request on, and
//! through the idempotency layer; their difference is what the layer's
//! common path adds.
//!
//! With `PIPELINE_METRICS=1` the app keeps its HTTP server metrics
//! (`App::metrics`): the difference to a run without is what counting a
//! request costs.
//!
//! With `PIPELINE_LOG=1` a `tracing` subscriber at INFO formats every
//! event (into a sink), as a server that logs does: (e) then pays for its
//! access-log line and its request span.

use std::sync::Arc;

use portico::auth::Jwt;
use portico::idempotency::Idempotency;
use portico::middleware::{AccessLog, Middleware, Next, Request, RequestId};
use portico::prelude::*;
use portico::ratelimit::RateLimit;
use portico::telemetry::Metrics;
use portico::{Body, Response, http};

const SECRET: &[u8] = b"load-test secret of at least 32 bytes";

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Serialize)]
struct UserId {
    id: u64,
}

#[route(GET, "/json")]
async fn json() -> Json<Message> {
    Json(Message {
        message: "Hello, World!",
    })
}

#[route(GET, "/users/<id>")]
async fn user(id: u64) -> Json<UserId> {
    Json(UserId { id })
}

#[derive(Deserialize)]
struct Subject {
    #[allow(dead_code)]
    sub: String,
}

#[route(GET, "/secure/users/<id>")]
async fn secure_user(id: u64, _claims: Claims<Subject>) -> Json<UserId> {
    Json(UserId { id })
}

#[route(POST, "/pass/ping")]
async fn pass_ping() -> StatusCode {
    StatusCode::OK
}

#[route(POST, "/idem/ping")]
async fn idem_ping() -> StatusCode {
    StatusCode::OK
}

/// A layer that only passes the request on.
struct Pass;

impl Middleware for Pass {
    async fn call(&self, request: Request, next: Next) -> Response {
        next.run(request).await
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (path, secure, post) = match args.next().as_deref() {
        Some("b") => ("/json", false, false),
        Some("c") => ("/users/42", false, false),
        Some("e") => ("/secure/users/42", true, false),
        Some("p") => ("/pass/ping", false, true),
        Some("i") => ("/idem/ping", false, true),
        _ => {
            eprintln!("usage: pipeline_count b|c|e|p|i N");
            std::process::exit(2);
        }
    };
    let n: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    if std::env::var_os("PIPELINE_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
            .init();
    }
    let jwt = Jwt::new(SECRET).expect("secret");
    let token = format!(
        "Bearer {}",
        jwt.create(&serde_json::json!({"sub": "42", "role": "user", "exp": 4_000_000_000u64}))
            .expect("token")
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let measured = std::env::var_os("PIPELINE_METRICS").is_some();
    runtime.block_on(async {
        let mut app = App::new();
        if measured {
            app = app.metrics(Metrics::new());
        }
        let service = app
            .wrap_prefix("/secure", RequestId::default())
            .wrap_prefix("/secure", AccessLog)
            .wrap_prefix(
                "/secure",
                RateLimit::per_client(1_000_000_000, 1_000_000_000.0)
                    .authenticate_with(Arc::new(Jwt::new(SECRET).expect("secret"))),
            )
            .wrap_prefix("/pass", Pass)
            .wrap_prefix("/idem", Idempotency::default())
            .provide(jwt)
            .mount(routes![json, user, secure_user, pass_ping, idem_ping])
            .build()
            .await
            .expect("app");
        for _ in 0..n {
            let method = if post {
                http::Method::POST
            } else {
                http::Method::GET
            };
            let mut request = http::Request::builder()
                .method(method)
                .uri(path)
                .header("host", "localhost");
            if secure {
                request = request.header("authorization", &token);
            }
            let response = service
                .call(request.body(Body::empty()).expect("request"))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    });
}
