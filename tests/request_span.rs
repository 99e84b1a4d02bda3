//! Every log line of a request carries its request id and route: a
//! handler's own `tracing` events, those of a keyed request run in a task
//! of its own, and the access log. A test file of its own: it installs
//! the process's log subscriber.

#[path = "support/captured_log.rs"]
mod captured_log;

use captured_log::Captured;
use portico::idempotency::Idempotency;
use portico::middleware::{AccessLog, RequestId};
use portico::prelude::*;
use portico::testing::TestClient;

#[route(GET, "/orders/<id>")]
async fn order(id: u32) -> Result<String, ApiError> {
    tracing::error!(order = id, "the order store failed");
    Err(ApiError::internal("internal server error"))
}

#[route(POST, "/payments")]
async fn pay() -> String {
    tracing::warn!("charging the card");
    "paid".to_owned()
}

#[route(GET, "/admin/stats")]
async fn stats() -> &'static str {
    tracing::info!("stats read");
    "{}"
}

#[tokio::test]
async fn a_handlers_log_lines_carry_the_request_id_and_route() {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(captured.clone())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .init();
    let app = App::new()
        .wrap(RequestId::default())
        .wrap(AccessLog)
        .wrap(Idempotency::default())
        .mount(routes![order, pay]);
    let client = TestClient::new(app).await;

    let response = client
        .get("/orders/7")
        .header("x-request-id", "req-7f3a")
        .send()
        .await;
    assert_eq!(response.status(), 500);
    let keyed = client
        .post("/payments")
        .header("x-request-id", "req-pay-1")
        .header("idempotency-key", "\"k-1\"")
        .send()
        .await;
    assert_eq!(keyed.status(), 200);
    // A made id is in the lines too.
    let made = client.get("/orders/8").send().await;
    let made_id = made
        .header("x-request-id")
        .expect("an id was made")
        .to_owned();

    // As a route layer, after routing.
    let scoped = TestClient::new(
        App::new()
            .wrap_prefix("/admin", RequestId::default())
            .mount(routes![stats]),
    )
    .await;
    let read = scoped
        .get("/admin/stats")
        .header("x-request-id", "req-adm")
        .send()
        .await;
    assert_eq!(read.status(), 200);

    let line = |needle: &str| captured.line(needle);
    let failed = line("order=7");
    assert!(failed.contains("req-7f3a"), "{failed}");
    assert!(
        failed.contains("/orders/<id>"),
        "the route template: {failed}"
    );
    let charging = line("charging the card");
    assert!(charging.contains("req-pay-1"), "{charging}");
    assert!(charging.contains("/payments"), "{charging}");
    let other = line("order=8");
    assert!(
        other.contains(&made_id) && !other.contains("req-7f3a"),
        "{other}"
    );
    let scoped = line("stats read");
    assert!(
        scoped.contains("req-adm") && scoped.contains("/admin/stats"),
        "{scoped}"
    );
    let access = line("status=500");
    assert!(access.contains("req-7f3a"), "{access}");
    // The span carries the answer's status once it is known (its close
    // line shows the fields it ended with).
    let closed = line("http.response.status_code=500");
    assert!(closed.contains("req-7f3a"), "{closed}");
}
