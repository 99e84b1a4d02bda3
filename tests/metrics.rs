//! `/metrics`: exact counts and labels after known traffic, by the
//! OpenTelemetry HTTP conventions, and the runtime's own parts.

mod common;
#[path = "support/python_tools.rs"]
mod python_tools;

use std::collections::BTreeMap;
use std::time::Duration;

use portico::health::HealthChecker;
use portico::http::Method;
use portico::idempotency::Idempotency;
use portico::pool::{PoolBuilder, SqliteManager};
use portico::prelude::*;
use portico::queue::{Task, TaskError, TaskQueue, Workers};
use portico::ratelimit::RateLimit;
use portico::telemetry::Metrics;
use portico::testing::TestClient;

#[derive(Debug, Deserialize, Validate)]
struct NewUser {
    #[validate(length(min = 1))]
    name: String,
}

/// A user.
#[route(GET, "/users/<id>")]
async fn get_user(id: u32) -> ApiResponse<u32> {
    ApiResponse::ok(id)
}

/// Creates a user.
#[route(POST, "/users")]
async fn create_user(body: Json<NewUser>) -> ApiResponse<String> {
    ApiResponse::ok(body.0.name)
}

/// Always panics.
#[route(GET, "/boom")]
async fn boom() -> ApiResponse<()> {
    panic!("boom")
}

/// A status no registry lists.
#[route(GET, "/odd")]
async fn odd() -> StatusCode {
    StatusCode::from_u16(299).unwrap()
}

fn unmeasured() -> App {
    App::new().mount(routes![get_user, create_user, boom, odd])
}

fn app() -> App {
    unmeasured().metrics(Metrics::new())
}

/// One sample: its name, labels and value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a Prometheus or OpenMetrics text, read by hand: the
/// grammar is small (`name{label="value",…} number`), and the values are
/// unescaped as the format says. (`the_python_parsers_read_both_formats`
/// checks the text with the reference parsers.)
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
    {
        let (name, rest) = match line.find(['{', ' ']) {
            Some(at) => line.split_at(at),
            None => panic!("a sample line without a value: {line:?}"),
        };
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices();
            let mut key = String::new();
            let end;
            loop {
                let (at, c) = chars.next().expect("labels end with }");
                match c {
                    '}' => {
                        end = at + 1;
                        break;
                    }
                    ',' => {}
                    '=' => {
                        assert_eq!(chars.next().map(|(_, c)| c), Some('"'));
                        let mut value = String::new();
                        loop {
                            let (_, c) = chars.next().expect("a label value ends with \"");
                            match c {
                                '\\' => match chars.next().map(|(_, c)| c) {
                                    Some('n') => value.push('\n'),
                                    Some(escaped) => value.push(escaped),
                                    None => panic!("a dangling escape"),
                                },
                                '"' => break,
                                c => value.push(c),
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    c => key.push(c),
                }
            }
            rest = &body[end..];
        }
        let value = rest.trim().split(' ').next().unwrap_or_default();
        let value = match value {
            "+Inf" => f64::INFINITY,
            value => value
                .parse()
                .unwrap_or_else(|_| panic!("a number: {line:?}")),
        };
        out.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    out
}

/// The value of the one sample named `name` whose labels include `want`.
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|sample| {
            sample.name == name
                && want
                    .iter()
                    .all(|(k, v)| sample.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {want:?} matches {found:#?}");
    found.first().map(|sample| sample.value)
}

async fn scrape(client: &TestClient) -> Vec<Sample> {
    let response = client.get("/metrics").send().await;
    assert_eq!(response.status(), 200, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    samples(response.text())
}

const DURATION_COUNT: &str = "http_server_request_duration_seconds_count";

#[tokio::test]
async fn requests_are_counted_by_route_template_method_and_status() {
    let client = TestClient::new(app()).await;
    for id in 1..=3 {
        assert_eq!(
            client.get(&format!("/users/{id}")).send().await.status(),
            200
        );
    }
    assert_eq!(client.head("/users/7").send().await.status(), 200);
    let invalid = client
        .post("/users")
        .json(&serde_json::json!({"name": ""}))
        .send()
        .await;
    assert_eq!(invalid.status(), 422);
    let valid = client
        .post("/users")
        .json(&serde_json::json!({"name": "ada"}))
        .send()
        .await;
    assert_eq!(valid.status(), 200);
    let samples = scrape(&client).await;
    let routed = |method, route, status| {
        value(
            &samples,
            DURATION_COUNT,
            &[
                ("http_request_method", method),
                ("http_route", route),
                ("http_response_status_code", status),
                ("url_scheme", "http"),
            ],
        )
    };
    assert_eq!(routed("GET", "/users/<id>", "200"), Some(3.0));
    assert_eq!(routed("HEAD", "/users/<id>", "200"), Some(1.0));
    assert_eq!(routed("POST", "/users", "422"), Some(1.0));
    assert_eq!(routed("POST", "/users", "200"), Some(1.0));
    assert_eq!(
        routed("GET", "/users/<id>", "404"),
        None,
        "no series for what never happened"
    );
    // Every sample of a family carries the same labels; none names a raw path.
    assert!(samples.iter().all(|sample| {
        !sample
            .labels
            .values()
            .any(|value| value.starts_with("/users/") && value != "/users/<id>")
    }));
    // The buckets are cumulative, `+Inf` equal to the count.
    let inf = value(
        &samples,
        "http_server_request_duration_seconds_bucket",
        &[
            ("http_route", "/users/<id>"),
            ("http_request_method", "GET"),
            ("le", "+Inf"),
        ],
    );
    assert_eq!(inf, Some(3.0));
}

#[tokio::test]
async fn unmatched_paths_collapse_into_one_series_per_method_and_status() {
    let client = TestClient::new(app()).await;
    let before = scrape(&client).await.len();
    for i in 0..20 {
        let path = format!("/scan/{i}/wp-admin.php?x={i}");
        assert_eq!(client.get(&path).send().await.status(), 404);
    }
    let after = scrape(&client).await;
    let unmatched: Vec<&Sample> = after
        .iter()
        .filter(|sample| sample.name == DURATION_COUNT && !sample.labels.contains_key("http_route"))
        .collect();
    // The first scrape itself is the one routed request in between.
    assert_eq!(unmatched.len(), 1, "{unmatched:#?}");
    assert_eq!(unmatched[0].value, 20.0);
    assert_eq!(unmatched[0].labels["http_response_status_code"], "404");
    assert_eq!(unmatched[0].labels["http_request_method"], "GET");
    assert!(
        after
            .iter()
            .all(|sample| sample.labels.values().all(|v| !v.contains("scan"))),
        "no label holds a path the client chose"
    );
    // 20 random paths added one label set (× its 20 bucket/sum/count
    // lines in the three histograms), plus the routed scrape's own.
    let per_series = after.len() - before;
    assert!(
        per_series < 2 * 60,
        "{per_series} new samples for 20 random paths"
    );

    let other = client
        .request(Method::from_bytes(b"BREW").unwrap(), "/users/1")
        .send()
        .await;
    assert_eq!(other.status(), 405);
    let samples = scrape(&client).await;
    assert_eq!(
        value(
            &samples,
            DURATION_COUNT,
            &[("http_request_method", "_OTHER")]
        ),
        Some(1.0),
        "a method outside RFC 9110 is _OTHER"
    );
}

#[tokio::test]
async fn a_5xx_carries_its_error_type_and_a_panic_is_counted() {
    let client = TestClient::new(app()).await;
    assert_eq!(client.get("/boom").send().await.status(), 500);
    assert_eq!(client.get("/odd").send().await.status(), 299);
    let samples = scrape(&client).await;
    assert_eq!(
        value(
            &samples,
            DURATION_COUNT,
            &[
                ("http_route", "/boom"),
                ("http_response_status_code", "500"),
                ("error_type", "500")
            ],
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "portico_server_panics_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            DURATION_COUNT,
            &[("http_route", "/odd"), ("http_response_status_code", "299")]
        ),
        Some(1.0),
        "an unregistered status code still gets its own series"
    );
    let errors: Vec<&Sample> = samples
        .iter()
        .filter(|sample| sample.name == DURATION_COUNT && sample.labels.contains_key("error_type"))
        .collect();
    assert_eq!(errors.len(), 1, "only the 5xx carries error_type");
}

#[tokio::test]
async fn body_sizes_and_active_requests_are_counted() {
    let client = TestClient::new(app()).await;
    let body = r#"{"name":"grace"}"#;
    let response = client
        .post("/users")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let sent = response.bytes().len();
    let samples = scrape(&client).await;
    let labels = [("http_route", "/users"), ("http_request_method", "POST")];
    assert_eq!(
        value(&samples, "http_server_request_body_size_bytes_sum", &labels),
        Some(body.len() as f64)
    );
    assert_eq!(
        value(
            &samples,
            "http_server_response_body_size_bytes_sum",
            &labels
        ),
        Some(sent as f64)
    );
    // The scrape itself is the one request in flight.
    assert_eq!(
        value(
            &samples,
            "http_server_active_requests",
            &[("http_request_method", "GET")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "http_server_active_requests",
            &[("http_request_method", "POST")]
        ),
        Some(0.0)
    );
}

/// Never answers: its request stays in flight until dropped.
#[route(PUT, "/stuck")]
async fn stuck() -> StatusCode {
    std::future::pending().await
}

/// `http_server_active_requests` for `method`, scraped through `service`.
async fn in_flight(service: &portico::Service, method: &str) -> Option<f64> {
    let scrape = portico::http::Request::get("/metrics")
        .body(portico::Body::empty())
        .unwrap();
    let response = service.call(scrape).await;
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    value(
        &samples(&text),
        "http_server_active_requests",
        &[("http_request_method", method)],
    )
}

#[tokio::test]
async fn a_request_in_flight_is_active_until_answered_or_cancelled() {
    let service = app().mount(routes![stuck]).build().await.unwrap();
    let put = || {
        let request = portico::http::Request::put("/stuck")
            .body(portico::Body::empty())
            .unwrap();
        Box::pin(service.call(request))
    };
    let (mut first, mut second) = (put(), put());
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(second.as_mut().poll(&mut cx).is_pending());
    assert_eq!(in_flight(&service, "PUT").await, Some(2.0));
    // A client that hangs up cancels its request: no longer in flight,
    // and not counted as answered.
    drop(first);
    assert_eq!(in_flight(&service, "PUT").await, Some(1.0));
    drop(second);
    assert_eq!(in_flight(&service, "PUT").await, Some(0.0));
    // Answered requests leave the count too (the scrapes themselves).
    assert_eq!(in_flight(&service, "GET").await, Some(1.0));
}

#[tokio::test]
async fn a_global_layer_refusal_is_counted_under_the_route_and_the_policy() {
    let app = app().wrap(RateLimit::per_client(2, 0.001));
    let client = TestClient::new(app).await;
    let statuses: Vec<u16> = futures_statuses(&client, "/users/1", 4).await;
    assert_eq!(statuses, [200, 200, 429, 429]);
    // `/metrics` is exempt: scraping does not spend the budget.
    let samples = scrape(&client).await;
    let samples_again = scrape(&client).await;
    assert_eq!(
        value(
            &samples,
            DURATION_COUNT,
            &[
                ("http_route", "/users/<id>"),
                ("http_response_status_code", "429")
            ]
        ),
        Some(2.0)
    );
    let decided = |decision| {
        value(
            &samples_again,
            "portico_ratelimit_requests_total",
            &[("policy", "default"), ("decision", decision)],
        )
    };
    assert_eq!(decided("allowed"), Some(2.0));
    assert_eq!(decided("limited"), Some(2.0));
}

async fn futures_statuses(client: &TestClient, path: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(client.get(path).send().await.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn the_scrape_token_is_required_when_set() {
    let app = App::new().mount(routes![get_user]).metrics(
        Metrics::new()
            .path("/internal/metrics")
            .token("scrape-token-123"),
    );
    let client = TestClient::new(app).await;
    let refused = client.get("/internal/metrics").send().await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    assert_eq!(refused.json()["success"], false);
    let wrong = client
        .get("/internal/metrics")
        .header("authorization", "Bearer scrape-token-124")
        .send()
        .await;
    assert_eq!(wrong.status(), 401);
    let ok = client
        .get("/internal/metrics")
        .header("authorization", "Bearer scrape-token-123")
        .send()
        .await;
    assert_eq!(ok.status(), 200);
    assert!(ok.text().contains("http_server_request_duration_seconds"));
    assert_eq!(client.get("/metrics").send().await.status(), 404);
}

#[tokio::test]
async fn open_metrics_is_served_when_the_scraper_asks_for_it() {
    let client = TestClient::new(app()).await;
    let response = client
        .get("/metrics")
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;q=0.1",
        )
        .send()
        .await;
    assert_eq!(
        response.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = response.text();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE portico_server_panics counter\n"));
    assert!(text.contains("# UNIT http_server_request_duration_seconds seconds\n"));
    let classic = client.get("/metrics").send().await;
    assert!(!classic.text().contains("# EOF"));
    assert!(
        classic
            .text()
            .contains("# TYPE portico_server_panics_total counter\n")
    );
}

#[tokio::test]
async fn an_app_without_metrics_serves_none() {
    let client = TestClient::new(App::new().mount(routes![get_user])).await;
    assert_eq!(client.get("/metrics").send().await.status(), 404);
}

#[derive(Debug, Serialize, Deserialize)]
struct Flaky(u32);

impl Task for Flaky {
    const NAME: &'static str = "flaky";
    type Deps = ();
    type Output = ();

    async fn run(self, (): ()) -> Result<(), TaskError> {
        if self.0 == 0 {
            Err(TaskError::permanent("refused"))
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn pools_queues_health_and_idempotency_report_their_figures() {
    let dir = std::env::temp_dir().join(format!("portico-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pool = PoolBuilder::new()
        .max_size(1)
        .acquire_timeout(Duration::from_millis(50))
        .build(SqliteManager::file(dir.join("m.db")))
        .await
        .unwrap();
    let queue = TaskQueue::memory();
    let held = pool.get().await.unwrap();
    assert!(pool.get().await.is_err(), "the only connection is out");
    drop(held);
    queue.enqueue(Flaky(1)).await.unwrap();
    queue.enqueue(Flaky(0)).await.unwrap();
    let checker = HealthChecker::new()
        .register_pool("db", pool.clone())
        .register("cache", false, || async { Err::<(), _>("down") });
    let app = unmeasured()
        .health(checker)
        .workers(Workers::new(&queue).task::<Flaky>())
        .wrap(Idempotency::new())
        .metrics(Metrics::new().pool("main", &pool).queue("jobs", &queue));
    let client = TestClient::new(app).await;
    tokio::time::timeout(Duration::from_secs(10), queue.wait_idle())
        .await
        .expect("the tasks run")
        .unwrap();
    for _ in 0..2 {
        let response = client
            .post("/users")
            .header("idempotency-key", "k-1")
            .json(&serde_json::json!({"name": "ada"}))
            .send()
            .await;
        assert_eq!(response.status(), 200);
    }
    let samples = scrape(&client).await;
    let pool_value = |name: &str| value(&samples, name, &[("pool", "main")]);
    assert_eq!(pool_value("portico_pool_acquire_timeouts_total"), Some(1.0));
    assert_eq!(
        pool_value("portico_pool_connections_created_total"),
        Some(1.0)
    );
    // The test's own, and the health check's ping that the scrape ran.
    assert_eq!(
        pool_value("portico_pool_acquire_duration_seconds_count"),
        Some(2.0)
    );
    assert_eq!(
        value(
            &samples,
            "portico_pool_breaker_state",
            &[("pool", "main"), ("state", "closed")]
        ),
        Some(1.0)
    );
    let queue_value = |name: &str, labels: &[(&str, &str)]| {
        let mut all = vec![("queue", "jobs")];
        all.extend_from_slice(labels);
        value(&samples, name, &all)
    };
    assert_eq!(
        queue_value("portico_queue_runs_total", &[("outcome", "done")]),
        Some(1.0)
    );
    assert_eq!(
        queue_value("portico_queue_runs_total", &[("outcome", "failed")]),
        Some(1.0)
    );
    assert_eq!(
        queue_value("portico_queue_tasks", &[("state", "done")]),
        Some(1.0)
    );
    assert_eq!(
        queue_value("portico_queue_tasks", &[("state", "failed")]),
        Some(1.0)
    );
    assert_eq!(
        queue_value("portico_queue_run_duration_seconds_count", &[]),
        Some(2.0)
    );
    assert_eq!(queue_value("portico_queue_up", &[]), Some(1.0));
    assert_eq!(
        value(&samples, "portico_health_check_up", &[("check", "db")]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "portico_health_check_up", &[("check", "cache")]),
        Some(0.0)
    );
    let idempotency = |outcome| {
        value(
            &samples,
            "portico_idempotency_requests_total",
            &[("outcome", outcome)],
        )
    };
    assert_eq!(idempotency("started"), Some(1.0));
    assert_eq!(idempotency("replayed"), Some(1.0));
    assert_eq!(idempotency("mismatch"), Some(0.0));
}

#[tokio::test]
async fn the_server_counts_its_connections() {
    let server = common::TestServer::start(app()).await;
    for _ in 0..3 {
        assert_eq!(server.get("/users/1").await.status, 200);
    }
    let scraped = server.get("/metrics").await;
    let samples = samples(std::str::from_utf8(&scraped.body).unwrap());
    let accepted = value(&samples, "portico_server_connections_accepted_total", &[]).unwrap();
    let open = value(&samples, "portico_server_connections_open", &[]).unwrap();
    assert!(accepted >= 1.0, "{accepted}");
    assert!(
        (1.0..=accepted).contains(&open),
        "the scrape's own connection is open: {open}"
    );
    server.stop().await.unwrap();
}

/// Reads both formats with the Prometheus project's own Python parsers
/// (`prometheus_client.parser` for the text format, the strict
/// `prometheus_client.openmetrics.parser` for OpenMetrics) and prints
/// every family's type and every sample.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families as classic
from prometheus_client.openmetrics.parser import text_string_to_metric_families as open_metrics
def read(parse, path):
    families = {}
    for family in parse(open(path).read()):
        families[family.name] = {
            "type": family.type,
            "samples": [[s.name, s.labels, s.value] for s in family.samples],
        }
    return families
print(json.dumps({"classic": read(classic, sys.argv[1]), "open": read(open_metrics, sys.argv[2])}))
"#;

#[tokio::test]
async fn the_python_parsers_read_both_formats() {
    let client = TestClient::new(app().wrap(RateLimit::per_client(100, 100.0))).await;
    for path in ["/users/1", "/users/2", "/nowhere", "/boom", "/odd"] {
        client.get(path).send().await;
    }
    let classic = client.get("/metrics").send().await;
    let open = client
        .get("/metrics")
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (classic_file, open_file) = (dir.join("metrics.prom"), dir.join("metrics.om"));
    std::fs::write(&classic_file, classic.bytes()).unwrap();
    std::fs::write(&open_file, open.bytes()).unwrap();
    let mut python = tokio::process::Command::new(python_tools::tool("python3"));
    python
        .arg("-c")
        .arg(PARSE)
        .arg(&classic_file)
        .arg(&open_file);
    let out = python_tools::run(python, Duration::from_secs(30)).await;
    assert!(
        out.status.success(),
        "the parsers refused the scrape (with no module named prometheus_client, install the \
         PyPI tools: python3 -m venv target/python-tools && target/python-tools/bin/pip install \
         -r .ci/python-tools.txt):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for format in ["classic", "open"] {
        let families = &parsed[format];
        let kind = |name: &str| families[name]["type"].as_str().map(str::to_owned);
        assert_eq!(
            kind("http_server_request_duration_seconds").as_deref(),
            Some("histogram")
        );
        assert_eq!(
            kind("http_server_active_requests").as_deref(),
            Some("gauge")
        );
        assert_eq!(kind("portico_server_panics").as_deref(), Some("counter"));
        assert_eq!(
            kind("portico_ratelimit_requests").as_deref(),
            Some("counter")
        );
    }
    // The reference parser and the one these tests use read the same
    // samples from the text format.
    let mut theirs: Vec<(String, BTreeMap<String, String>, f64)> = parsed["classic"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|family| family["samples"].as_array().unwrap().clone())
        .map(|sample| {
            let labels = serde_json::from_value(sample[1].clone()).unwrap();
            (
                sample[0].as_str().unwrap().to_owned(),
                labels,
                sample[2].as_f64().unwrap(),
            )
        })
        .collect();
    let mut ours: Vec<(String, BTreeMap<String, String>, f64)> = samples(classic.text())
        .into_iter()
        .map(|sample| (sample.name, sample.labels, sample.value))
        .collect();
    let order =
        |a: &(String, BTreeMap<String, String>, f64),
         b: &(String, BTreeMap<String, String>, f64)| { (&a.0, &a.1).cmp(&(&b.0, &b.1)) };
    theirs.sort_by(order);
    ours.sort_by(order);
    assert_eq!(theirs, ours);
    assert!(
        ours.iter()
            .any(|(name, labels, value)| name == DURATION_COUNT
                && labels.get("http_route").map(String::as_str) == Some("/users/<id>")
                && *value == 2.0)
    );
}
