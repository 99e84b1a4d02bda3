//! The Idempotency-Key layer over real HTTP: replays, conflicts, scopes,
//! what is and is not stored, bad keys, a store that is down, leases, and
//! answers recorded in the handler's own SQLite and PostgreSQL transaction.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::postgres::TestPostgres;
use common::{Reply, TestServer};
use hyper::Method;
use portico::idempotency::{Idempotency, Idempotent, PostgresStore, SqliteStore};
use portico::pool::{Pool, PoolBuilder, PostgresManager, SqliteManager};
use portico::prelude::*;
use portico::ratelimit::RateLimit;
use portico::{Jwt, Response};

/// How many times the handlers ran (shared with the test).
#[derive(Default, Clone)]
struct Runs(Arc<AtomicUsize>);

#[derive(Deserialize, Validate)]
struct Charge {
    #[validate(range(min = 1, max = 1_000_000))]
    amount: u32,
    /// How long the "payment processor" takes.
    #[serde(default)]
    delay_ms: u64,
    /// Fail with this status instead of charging.
    #[serde(default)]
    fail: Option<u16>,
}

#[route(POST, "/charges")]
async fn charge(
    Json(c): Json<Charge>,
    runs: Dep<Runs>,
) -> Result<Created<ApiResponse<serde_json::Value>>, ApiError> {
    let n = runs.0.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(c.delay_ms)).await;
    if let Some(status) = c.fail {
        return Err(ApiError::new(
            StatusCode::from_u16(status).unwrap(),
            "processor down",
        ));
    }
    Ok(Created::at(
        format!("/charges/{n}"),
        ApiResponse::ok(serde_json::json!({"charged": c.amount, "tx": n})),
    ))
}

#[route(GET, "/charges")]
async fn list(runs: Dep<Runs>) -> String {
    runs.0.load(Ordering::SeqCst).to_string()
}

async fn server(layer: Idempotency) -> (TestServer, Runs) {
    let runs = Runs::default();
    let app = App::new()
        .wrap(RateLimit::per_client(10_000, 10_000.0))
        .wrap(layer)
        .provide(runs.clone())
        .mount(routes![charge, list]);
    (TestServer::start(app).await, runs)
}

async fn post(server: &TestServer, key: Option<&str>, body: &str, extra: &[(&str, &str)]) -> Reply {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    headers.extend_from_slice(extra);
    server
        .send(
            Method::POST,
            "/charges",
            &headers,
            Some(body.as_bytes().to_vec()),
        )
        .await
}

fn runs(runs: &Runs) -> usize {
    runs.0.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_retry_gets_the_first_answer_back_and_runs_nothing() {
    let (server, count) = server(Idempotency::default()).await;
    let first = post(&server, Some("\"order-1\""), r#"{"amount": 100}"#, &[]).await;
    assert_eq!(first.status, 201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    // The bare token is the same key as the quoted string.
    let again = post(&server, Some("order-1"), r#"{"amount": 100}"#, &[]).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), "true");
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("content-type"), "application/json");
    assert_eq!(runs(&count), 1);

    // Without a key, or with another, it runs each time; GET is not its business.
    post(&server, None, r#"{"amount": 100}"#, &[]).await;
    post(&server, None, r#"{"amount": 100}"#, &[]).await;
    post(&server, Some("order-2"), r#"{"amount": 100}"#, &[]).await;
    assert_eq!(runs(&count), 4);
    let listed = server
        .send(Method::GET, "/charges", &[("idempotency-key", "x")], None)
        .await;
    assert_eq!(listed.body, "4");
}

#[tokio::test]
async fn the_same_key_with_another_request_is_a_422() {
    let (server, count) = server(Idempotency::default()).await;
    post(&server, Some("k"), r#"{"amount": 100}"#, &[]).await;
    let other = post(&server, Some("k"), r#"{"amount": 999}"#, &[]).await;
    let message = other.assert_failure(422);
    assert!(message.contains("different request"), "{message}");
    assert_eq!(runs(&count), 1);
}

/// A keyed request that no route takes is answered as such (405, 404),
/// its key neither read nor spent: it could change nothing.
#[tokio::test]
async fn a_keyed_request_no_route_takes_gets_its_405_and_spends_no_key() {
    let (server, count) = server(Idempotency::default()).await;
    post(&server, Some("k"), r#"{"amount": 100}"#, &[]).await;
    let json = [
        ("content-type", "application/json"),
        ("idempotency-key", "k"),
    ];
    let patch = server
        .send(
            Method::PATCH,
            "/charges",
            &json,
            Some(br#"{"amount": 5}"#.to_vec()),
        )
        .await;
    assert_eq!(patch.status, 405, "{:?}", patch.body);
    assert_eq!(patch.header("allow"), "GET, HEAD, POST, OPTIONS");
    let nowhere = server
        .send(
            Method::POST,
            "/nowhere",
            &json,
            Some(br#"{"amount": 5}"#.to_vec()),
        )
        .await;
    nowhere.assert_failure(404);
    let fresh = [
        ("content-type", "application/json"),
        ("idempotency-key", "fresh"),
    ];
    server
        .send(Method::PATCH, "/charges", &fresh, Some(b"{}".to_vec()))
        .await;
    let first = post(&server, Some("fresh"), r#"{"amount": 7}"#, &[]).await;
    assert_eq!(first.status, 201, "the key was not spent on the 405");
    assert!(first.headers.get("idempotent-replayed").is_none());
    assert_eq!(runs(&count), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_concurrent_duplicates_run_once() {
    let (server, count) = server(Idempotency::default()).await;
    let server = Arc::new(server);
    let requests: Vec<_> = (0..30)
        .map(|_| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                post(
                    &server,
                    Some("pay-30"),
                    r#"{"amount": 5, "delay_ms": 300}"#,
                    &[],
                )
                .await
            })
        })
        .collect();
    let mut created = Vec::new();
    for request in requests {
        let reply = request.await.unwrap();
        match reply.status.as_u16() {
            201 => created.push(reply.body.clone()),
            409 => {
                reply.assert_failure(409);
                assert!(reply.header("retry-after").parse::<u64>().unwrap() >= 1);
            }
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
    assert_eq!(runs(&count), 1, "the handler ran once");
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|body| *body == created[0]),
        "every 201 is the first answer"
    );
    let replay = post(
        &server,
        Some("pay-30"),
        r#"{"amount": 5, "delay_ms": 300}"#,
        &[],
    )
    .await;
    assert_eq!(replay.body, created[0]);
}

#[tokio::test]
async fn one_clients_key_is_not_anothers() {
    let secret = b"a secret of thirty-two bytes ok!";
    let jwt = Arc::new(Jwt::new(secret).unwrap());
    let token = |sub: &str| {
        format!(
            "Bearer {}",
            jwt.create(&serde_json::json!({"sub": sub, "exp": 4_000_000_000u64}))
                .unwrap()
        )
    };
    let (server, count) = server(Idempotency::default().authenticate_with(Arc::clone(&jwt))).await;
    let body = r#"{"amount": 7}"#;
    let alice = post(
        &server,
        Some("k"),
        body,
        &[("authorization", &token("alice"))],
    )
    .await;
    let bob = post(
        &server,
        Some("k"),
        body,
        &[("authorization", &token("bob"))],
    )
    .await;
    assert_eq!(alice.status, 201);
    assert_eq!(bob.status, 201);
    assert!(
        bob.headers.get("idempotent-replayed").is_none(),
        "bob never sees alice's answer"
    );
    assert_ne!(alice.body, bob.body);
    // Credentials nobody verified still keep callers apart, by their hash.
    let one = post(
        &server,
        Some("k"),
        body,
        &[("authorization", "Basic b25lOjE=")],
    )
    .await;
    let two = post(
        &server,
        Some("k"),
        body,
        &[("authorization", "Basic dHdvOjI=")],
    )
    .await;
    assert!(one.headers.get("idempotent-replayed").is_none());
    assert!(two.headers.get("idempotent-replayed").is_none());
    assert_eq!(runs(&count), 4);
    // Alice again, with a fresh token for the same subject: her answer.
    let alice_again = post(
        &server,
        Some("k"),
        body,
        &[("authorization", &token("alice"))],
    )
    .await;
    assert_eq!(alice_again.header("idempotent-replayed"), "true");
    assert_eq!(alice_again.body, alice.body);
}

#[tokio::test]
async fn refused_requests_and_server_errors_free_the_key() {
    let (server, count) = server(Idempotency::default()).await;
    // Validation failed before the handler: not stored, the fixed request runs.
    post(&server, Some("k1"), r#"{"amount": 0}"#, &[])
        .await
        .assert_failure(422);
    post(&server, Some("k1"), "{not json", &[])
        .await
        .assert_failure(400);
    assert_eq!(
        post(&server, Some("k1"), r#"{"amount": 3}"#, &[])
            .await
            .status,
        201
    );
    assert_eq!(runs(&count), 1);

    // A 503 from the handler: the retry runs again.
    post(&server, Some("k2"), r#"{"amount": 3, "fail": 503}"#, &[])
        .await
        .assert_failure(503);
    post(&server, Some("k2"), r#"{"amount": 3, "fail": 503}"#, &[])
        .await
        .assert_failure(503);
    assert_eq!(runs(&count), 3);
    // A 4xx from the handler is its answer, stored.
    post(&server, Some("k3"), r#"{"amount": 3, "fail": 402}"#, &[])
        .await
        .assert_failure(402);
    let replay = post(&server, Some("k3"), r#"{"amount": 3, "fail": 402}"#, &[]).await;
    replay.assert_failure(402);
    assert_eq!(replay.header("idempotent-replayed"), "true");
    assert_eq!(runs(&count), 4);
}

#[tokio::test]
async fn server_errors_are_kept_when_asked() {
    let (server, count) = server(Idempotency::default().keep_server_errors(true)).await;
    post(&server, Some("k"), r#"{"amount": 3, "fail": 500}"#, &[])
        .await
        .assert_failure(500);
    let replay = post(&server, Some("k"), r#"{"amount": 3, "fail": 500}"#, &[]).await;
    replay.assert_failure(500);
    assert_eq!(replay.header("idempotent-replayed"), "true");
    assert_eq!(runs(&count), 1);
}

#[tokio::test]
async fn bad_keys_are_400s_in_the_envelope() {
    let (server, count) = server(Idempotency::default().require("/charges")).await;
    let body = r#"{"amount": 1}"#;
    let long = "k".repeat(256);
    assert!(
        post(&server, Some(&long), body, &[])
            .await
            .assert_failure(400)
            .contains("255")
    );
    post(&server, Some("\"\""), body, &[])
        .await
        .assert_failure(400);
    post(&server, Some("two words"), body, &[])
        .await
        .assert_failure(400);
    assert!(
        post(&server, None, body, &[])
            .await
            .assert_failure(400)
            .contains("needs an Idempotency-Key")
    );
    // Bytes a client library would not send, over a raw socket: a byte
    // above ASCII reaches the layer (a control character hyper refuses
    // itself, also with a 400).
    for bad in [&b"\"caf\xe9\""[..], &b"\"a\x01b\""[..]] {
        let mut raw = b"POST /charges HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIdempotency-Key: ".to_vec();
        raw.extend_from_slice(bad);
        raw.extend_from_slice(
            format!(
                "\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        let answer = common::raw(server.addr, &raw, Duration::from_secs(2)).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        if bad.contains(&0xe9) {
            assert!(answer.contains("printable ASCII"), "{answer}");
        }
    }
    let twice = format!(
        "POST /charges HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIdempotency-Key: a\r\nIdempotency-Key: b\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = common::raw(server.addr, twice.as_bytes(), Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(runs(&count), 0);
}

#[tokio::test]
async fn a_body_too_large_to_fingerprint_is_a_413() {
    let runs = Runs::default();
    let app = App::new()
        .body_limit(1024)
        .wrap(Idempotency::default())
        .provide(runs.clone())
        .mount(routes![charge]);
    let server = TestServer::start(app).await;
    let big = format!(r#"{{"amount": 1, "pad": "{}"}}"#, "x".repeat(2000));
    post(&server, Some("k"), &big, &[])
        .await
        .assert_failure(413);
    assert_eq!(runs.0.load(Ordering::SeqCst), 0);
}

async fn sqlite_pool(dir: &std::path::Path) -> Pool<SqliteManager> {
    PoolBuilder::new()
        .max_size(4)
        .build(SqliteManager::file(dir.join("idem.db")))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_store_that_is_down_refuses_with_503_and_runs_nothing() {
    let dir = tempdir("down");
    let pool = sqlite_pool(&dir).await;
    let store = SqliteStore::new(pool.clone()).await.unwrap();
    let (server, count) = server(Idempotency::default().store(store)).await;
    assert_eq!(
        post(&server, Some("k"), r#"{"amount": 1}"#, &[])
            .await
            .status,
        201
    );
    pool.close(Duration::from_secs(1)).await;
    let refused = post(&server, Some("k2"), r#"{"amount": 1}"#, &[]).await;
    refused.assert_failure(503);
    assert_eq!(refused.header("retry-after"), "1");
    assert_eq!(runs(&count), 1, "never run unprotected");
    // Without a key the layer is not involved.
    assert_eq!(
        post(&server, None, r#"{"amount": 1}"#, &[]).await.status,
        201
    );
}

#[tokio::test]
async fn a_slow_request_keeps_its_key_past_its_lease() {
    let lease = Duration::from_millis(300);
    let (server, count) = server(Idempotency::default().lease(lease)).await;
    let server = Arc::new(server);
    let slow = tokio::spawn({
        let server = Arc::clone(&server);
        async move {
            post(
                &server,
                Some("slow"),
                r#"{"amount": 1, "delay_ms": 1200}"#,
                &[],
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    let duplicate = post(
        &server,
        Some("slow"),
        r#"{"amount": 1, "delay_ms": 1200}"#,
        &[],
    )
    .await;
    duplicate.assert_failure(409);
    let first = slow.await.unwrap();
    assert_eq!(first.status, 201);
    assert_eq!(runs(&count), 1);
}

#[tokio::test]
async fn a_client_that_goes_away_still_gets_the_answer_on_retry() {
    let (server, count) = server(Idempotency::default()).await;
    let body = r#"{"amount": 1, "delay_ms": 300}"#;
    let gone = tokio::time::timeout(
        Duration::from_millis(50),
        post(&server, Some("left"), body, &[]),
    )
    .await;
    assert!(gone.is_err(), "the client gave up");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let retry = post(&server, Some("left"), body, &[]).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.header("idempotent-replayed"), "true");
    assert_eq!(runs(&count), 1);
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("portico-idem-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---- answers recorded in the handler's own transaction ----

#[derive(Deserialize)]
struct Payment {
    amount: i64,
    /// Fails after recording, before commit: the transaction rolls back.
    #[serde(default)]
    fail_before_commit: bool,
}

#[route(POST, "/payments")]
async fn pay(
    Json(p): Json<Payment>,
    key: Option<Idempotent>,
    pool: Dep<Pool<SqliteManager>>,
) -> Result<Response, ApiError> {
    let mut conn = pool.get().await?;
    let response = conn
        .call(move |c| {
            let tx = c.transaction()?;
            tx.execute("INSERT INTO payments (amount) VALUES (?1)", [p.amount])?;
            let id = tx.last_insert_rowid();
            let answer = Created::at(
                format!("/payments/{id}"),
                ApiResponse::ok(serde_json::json!({"id": id, "amount": p.amount})),
            );
            let response = match &key {
                Some(key) => key.record_sqlite(&tx, answer)?.into_response(),
                None => answer.into_response(),
            };
            if p.fail_before_commit {
                return Err(rusqlite::Error::InvalidQuery);
            }
            tx.commit()?;
            Ok(response)
        })
        .await?;
    Ok(response)
}

fn payments(dir: &std::path::Path) -> i64 {
    rusqlite::Connection::open(dir.join("idem.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_sqlite_handler_records_its_answer_in_its_own_transaction() {
    let dir = tempdir("tx");
    let pool = sqlite_pool(&dir).await;
    pool.get()
        .await
        .unwrap()
        .call(|c| c.execute_batch("CREATE TABLE payments (id INTEGER PRIMARY KEY, amount INTEGER)"))
        .await
        .unwrap();
    let store = SqliteStore::new(pool.clone()).await.unwrap();
    let app = App::new()
        .wrap(Idempotency::default().store(store))
        .provide(pool)
        .mount(routes![pay]);
    let server = TestServer::start(app).await;
    let send = async |key: &'static str, body: &'static str| {
        server
            .send(
                Method::POST,
                "/payments",
                &[
                    ("content-type", "application/json"),
                    ("idempotency-key", key),
                ],
                Some(body.as_bytes().to_vec()),
            )
            .await
    };
    // Recorded, then the transaction failed: neither the payment nor the
    // record exists, and the retry runs.
    send("p1", r#"{"amount": 5, "fail_before_commit": true}"#)
        .await
        .assert_failure(500);
    assert_eq!(payments(&dir), 0);
    let first = send("p1", r#"{"amount": 5}"#).await;
    assert_eq!(first.status, 201);
    let replay = send("p1", r#"{"amount": 5}"#).await;
    assert_eq!(replay.header("idempotent-replayed"), "true");
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.header("location"), first.header("location"));
    assert_eq!(payments(&dir), 1);
}

// ---- PostgreSQL: two instances, one database ----

#[route(POST, "/transfers")]
async fn transfer(
    Json(p): Json<Payment>,
    key: Option<Idempotent>,
    pool: Dep<Pool<PostgresManager>>,
) -> Result<Response, ApiError> {
    let mut conn = pool.get().await?;
    let tx = conn.transaction().await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id: i64 = tx
        .query_one(
            "INSERT INTO transfers (amount) VALUES ($1) RETURNING id",
            &[&p.amount],
        )
        .await?
        .get(0);
    let answer = Created::at(
        format!("/transfers/{id}"),
        ApiResponse::ok(serde_json::json!({"id": id, "amount": p.amount})),
    );
    let response = match &key {
        Some(key) => key.record_postgres(&tx, answer).await?.into_response(),
        None => answer.into_response(),
    };
    if p.fail_before_commit {
        return Err(ApiError::internal("failed before commit"));
    }
    tx.commit().await?;
    Ok(response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_run_a_key_once() {
    let database = TestPostgres::start();
    let pool = || async {
        PoolBuilder::new()
            .max_size(16)
            .acquire_timeout(Duration::from_secs(5))
            .build(PostgresManager::new(database.url()))
            .await
            .unwrap()
    };
    let setup = pool().await;
    setup
        .get()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE transfers (id BIGSERIAL PRIMARY KEY, amount BIGINT NOT NULL)")
        .await
        .unwrap();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let pool = pool().await;
        let store = PostgresStore::new(pool.clone()).await.unwrap();
        let app = App::new()
            .wrap(Idempotency::default().store(store))
            .provide(pool)
            .mount(routes![transfer]);
        instances.push(Arc::new(TestServer::start(app).await));
    }
    let send = |server: Arc<TestServer>, key: &'static str, body: &'static str| async move {
        server
            .send(
                Method::POST,
                "/transfers",
                &[
                    ("content-type", "application/json"),
                    ("idempotency-key", key),
                ],
                Some(body.as_bytes().to_vec()),
            )
            .await
    };
    let count = async || -> i64 {
        setup
            .get()
            .await
            .unwrap()
            .query_one("SELECT COUNT(*) FROM transfers", &[])
            .await
            .unwrap()
            .get(0)
    };

    let requests: Vec<_> = (0..30)
        .map(|i| {
            tokio::spawn(send(
                Arc::clone(&instances[i % 2]),
                "t1",
                r#"{"amount": 9}"#,
            ))
        })
        .collect();
    let mut first = None;
    for request in requests {
        let reply = request.await.unwrap();
        match reply.status.as_u16() {
            201 => assert_eq!(first.get_or_insert_with(|| reply.body.clone()), &reply.body),
            409 => assert!(reply.headers.contains_key("retry-after")),
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
    assert_eq!(count().await, 1, "one transfer across both instances");
    let replay = send(Arc::clone(&instances[1]), "t1", r#"{"amount": 9}"#).await;
    assert_eq!(replay.header("idempotent-replayed"), "true");

    // Recorded, then rolled back: nothing happened, the retry runs.
    send(
        Arc::clone(&instances[0]),
        "t2",
        r#"{"amount": 1, "fail_before_commit": true}"#,
    )
    .await
    .assert_failure(500);
    assert_eq!(count().await, 1);
    let retried = send(Arc::clone(&instances[1]), "t2", r#"{"amount": 1}"#).await;
    assert_eq!(retried.status, 201);
    assert!(retried.headers.get("idempotent-replayed").is_none());
    assert_eq!(count().await, 2);
}

#[tokio::test]
async fn anonymous_clients_are_told_apart_by_the_rate_limiters_client_key() {
    let runs = Runs::default();
    let app = App::new()
        // Behind a trusted proxy, the client is the forwarded address.
        .wrap(RateLimit::per_client(10_000, 10_000.0).trust_proxy("127.0.0.1".parse().unwrap()))
        .wrap(Idempotency::default())
        .provide(runs.clone())
        .mount(routes![charge]);
    let server = TestServer::start(app).await;
    let body = r#"{"amount": 1}"#;
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    let one = post(&server, Some("k"), body, &from("203.0.113.1")).await;
    let two = post(&server, Some("k"), body, &from("203.0.113.2")).await;
    let again = post(&server, Some("k"), body, &from("203.0.113.1")).await;
    assert!(
        two.headers.get("idempotent-replayed").is_none(),
        "another client, another key"
    );
    assert_eq!(again.header("idempotent-replayed"), "true");
    assert_eq!(again.body, one.body);
    assert_eq!(runs.0.load(Ordering::SeqCst), 2);
}
