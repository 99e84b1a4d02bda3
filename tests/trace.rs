//! W3C Trace Context: a request's `traceparent` continues the caller's
//! trace — in its log lines, its request id, its access log line, and the
//! tasks it enqueues, whose runs continue it again — and a malformed one
//! starts a new trace. A test file of its own: it installs the process's
//! log subscriber.

#[path = "support/captured_log.rs"]
mod captured_log;

use std::time::Duration;

use captured_log::Captured;
use portico::idempotency::Idempotency;
use portico::middleware::{AccessLog, RequestId};
use portico::pool::{PoolBuilder, SqliteManager};
use portico::prelude::*;
use portico::queue::{Task, TaskError, TaskQueue, Workers};
use portico::testing::TestClient;

#[derive(Debug, Serialize, Deserialize)]
struct Welcome(String);

impl Task for Welcome {
    const NAME: &'static str = "welcome";
    type Deps = ();
    type Output = ();

    async fn run(self, (): ()) -> Result<(), TaskError> {
        tracing::info!(user = %self.0, "welcome mail sent");
        Ok(())
    }
}

/// Enqueues a welcome and answers with the `traceparent` it would send on
/// (the current trace's).
#[route(POST, "/signup/<name>")]
async fn signup(name: String, queue: Dep<TaskQueue>) -> Result<String, ApiError> {
    let trace = portico::trace::current().expect("RequestId makes the request's trace current");
    tracing::info!("signing up");
    queue
        .enqueue(Welcome(name))
        .await
        .map_err(|_| ApiError::unavailable("queue"))?;
    Ok(trace.traceparent().to_str().unwrap_or_default().to_owned())
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn a_traceparent_is_continued_in_logs_request_id_and_enqueued_tasks() {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(captured.clone())
        .init();
    let dir = std::env::temp_dir().join(format!("portico-trace-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("tasks.db");
    // A task table made before tasks kept their trace: the queue adds the
    // column it needs.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE portico_tasks (
                id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
                queue TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
                priority INTEGER NOT NULL DEFAULT 0, timeout_ms INTEGER NOT NULL,
                unique_key TEXT, result TEXT, error TEXT, created_at INTEGER NOT NULL,
                run_at INTEGER NOT NULL, lease_until INTEGER, started_at INTEGER,
                finished_at INTEGER)",
        )
        .unwrap();
    let pool = PoolBuilder::new()
        .build(SqliteManager::file(&db))
        .await
        .unwrap();
    let queue = TaskQueue::sqlite(pool)
        .await
        .expect("the old table is upgraded");
    let app = App::new()
        .wrap(RequestId::default())
        .wrap(AccessLog)
        .wrap(Idempotency::default())
        .provide(queue.clone())
        .workers(
            Workers::new(&queue)
                .task::<Welcome>()
                .poll(Duration::from_millis(20)),
        )
        .mount(routes![signup]);
    let client = TestClient::new(app).await;

    let response = client
        .post("/signup/ada")
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .header("tracestate", "congo=t61rcWkgMzE")
        .header("idempotency-key", "\"signup-ada\"")
        .send()
        .await;
    assert_eq!(response.status(), 200, "{}", response.text());
    // With no X-Request-Id, the request id is the trace id.
    assert_eq!(response.header("x-request-id"), Some(TRACE_ID));
    // What the handler would send on: the same trace, its own span.
    let sent_on = response.text().to_owned();
    let parts: Vec<&str> = sent_on.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent_on}");
    assert_eq!(parts[1], TRACE_ID);
    assert_ne!(parts[2], CALLER_SPAN);
    let request_span = parts[2].to_owned();

    let malformed = client
        .post("/signup/bob")
        .header("traceparent", format!("00-{TRACE_ID}-0000000000000000-01"))
        .send()
        .await;
    assert_eq!(malformed.status(), 200);
    let new_trace = malformed.header("x-request-id").unwrap().to_owned();
    assert_ne!(
        new_trace, TRACE_ID,
        "a malformed traceparent starts a new trace"
    );
    assert_eq!(new_trace.len(), 32);

    tokio::time::timeout(Duration::from_secs(10), queue.wait_idle())
        .await
        .expect("the tasks run")
        .unwrap();
    let line = |needle: &str| captured.line(needle);
    let signing = line("signing up");
    for wanted in [
        format!("trace_id={TRACE_ID}"),
        format!("parent_id={CALLER_SPAN}"),
        format!("span_id={request_span}"),
        "/signup/<name>".to_owned(),
    ] {
        assert!(signing.contains(&wanted), "{wanted} in {signing}");
    }
    let access = line("portico::access");
    assert!(access.contains(&format!("trace_id={TRACE_ID}")), "{access}");
    // The task's run continues the request's trace, under its span.
    let mailed = line("user=ada");
    assert!(mailed.contains(&format!("trace_id={TRACE_ID}")), "{mailed}");
    assert!(
        mailed.contains(&format!("parent_id={request_span}")),
        "{mailed}"
    );
    let other = line("user=bob");
    assert!(other.contains(&format!("trace_id={new_trace}")), "{other}");
}
