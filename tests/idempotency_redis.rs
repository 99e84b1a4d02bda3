//! Idempotency records in Redis, against a server the test starts: two
//! instances share a key (a retry on the other replays, thirty concurrent
//! duplicates over both run once), a reused key with another body is a
//! 422, a lapsed lease is taken over under a greater token that the stale
//! attempt cannot overwrite, and while Redis is down a keyed request is
//! refused with a 503 and never run unprotected — until Redis is back.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::redis::TestRedis;
use portico::idempotency::{
    Begin, Idempotency, IdempotencyStore, RecordKey, RedisStore, StoredResponse,
};
use portico::prelude::*;
use portico::testing::TestClient;

/// How many times the handler ran, over every instance.
#[derive(Default, Clone)]
struct Runs(Arc<AtomicUsize>);

#[derive(Deserialize, Validate)]
struct Charge {
    #[validate(range(min = 1, max = 1_000))]
    amount: u32,
    #[serde(default)]
    delay_ms: u64,
}

#[route(POST, "/charges")]
async fn charge(Json(c): Json<Charge>, runs: Dep<Runs>) -> Created<ApiResponse<serde_json::Value>> {
    let n = runs.0.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(c.delay_ms)).await;
    Created::at(
        format!("/charges/{n}"),
        ApiResponse::ok(serde_json::json!({"charged": c.amount, "tx": n})),
    )
}

async fn instance(redis: &TestRedis, runs: &Runs) -> TestClient {
    let store = RedisStore::connect(&redis.url())
        .await
        .expect("connect to redis");
    let app = App::new()
        .wrap(Idempotency::default().store(store))
        .provide(runs.clone())
        .mount(routes![charge]);
    TestClient::new(app).await
}

async fn pay(client: &TestClient, key: &str, body: &str) -> portico::testing::TestResponse {
    client
        .post("/charges")
        .header("content-type", "application/json")
        .header("idempotency-key", format!("\"{key}\""))
        .body(body.to_owned())
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_keys_through_redis() {
    let redis = TestRedis::start();
    let runs = Runs::default();
    let (a, b) = (instance(&redis, &runs).await, instance(&redis, &runs).await);

    let first = pay(&a, "pay-1", r#"{"amount": 5}"#).await;
    assert_eq!(first.status(), 201);
    let replay = pay(&b, "pay-1", r#"{"amount": 5}"#).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.header("location"), first.header("location"));
    assert_eq!(replay.bytes(), first.bytes());
    assert_eq!(runs.0.load(Ordering::SeqCst), 1);

    let other = pay(&b, "pay-1", r#"{"amount": 6}"#).await;
    assert_eq!(other.status(), 422, "the key was used with another body");

    // Thirty duplicates at once over both instances: one run.
    let (a, b) = (Arc::new(a), Arc::new(b));
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let client = Arc::clone(if i % 2 == 0 { &a } else { &b });
            tokio::spawn(async move {
                pay(&client, "pay-30", r#"{"amount": 7, "delay_ms": 300}"#).await
            })
        })
        .collect();
    let mut created = Vec::new();
    for task in tasks {
        let response = task.await.unwrap();
        match response.status().as_u16() {
            201 => created.push(response.bytes().clone()),
            409 => assert!(response.header("retry-after").is_some()),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(runs.0.load(Ordering::SeqCst), 2, "the duplicates ran once");
    assert!(created.iter().all(|body| *body == created[0]));
}

#[tokio::test]
async fn a_lapsed_lease_is_taken_over_and_the_stale_attempt_cannot_finish() {
    let redis = TestRedis::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let key = RecordKey {
        scope: "subject:42".into(),
        key: "k".into(),
    };
    let fingerprint = [7u8; 32];
    let Begin::Started(stale) = store
        .begin(&key, fingerprint, Duration::from_millis(100))
        .await
        .unwrap()
    else {
        panic!("a new key starts");
    };
    assert!(matches!(
        store
            .begin(&key, fingerprint, Duration::from_secs(5))
            .await
            .unwrap(),
        Begin::Running { .. }
    ));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let Begin::Started(fresh) = store
        .begin(&key, fingerprint, Duration::from_secs(5))
        .await
        .unwrap()
    else {
        panic!("a lapsed lease is taken over");
    };
    assert!(fresh > stale, "a later attempt holds a greater token");
    let response = StoredResponse {
        status: 201,
        headers: vec![("content-type".into(), "application/json".into())],
        body: "{}".into(),
    };
    let ttl = Duration::from_secs(60);
    assert!(
        !store.renew(&key, stale, ttl).await.unwrap(),
        "the stale attempt lost the key"
    );
    assert!(!store.complete(&key, stale, &response, ttl).await.unwrap());
    store.release(&key, stale).await.unwrap();
    assert!(store.complete(&key, fresh, &response, ttl).await.unwrap());
    let Begin::Done(stored) = store.begin(&key, fingerprint, ttl).await.unwrap() else {
        panic!("the fresh attempt's answer is kept");
    };
    assert_eq!(stored, response);
    assert_eq!(
        store.begin(&key, [8u8; 32], ttl).await.unwrap(),
        Begin::Mismatch
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_keyed_requests_are_refused_and_never_run() {
    let redis = TestRedis::start();
    let runs = Runs::default();
    let client = instance(&redis, &runs).await;
    assert_eq!(
        pay(&client, "before", r#"{"amount": 1}"#).await.status(),
        201
    );

    redis.stop();
    let refused = pay(&client, "during", r#"{"amount": 1}"#).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(runs.0.load(Ordering::SeqCst), 1, "never run unprotected");

    redis.start_again();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = pay(&client, "after", r#"{"amount": 1}"#).await.status();
        if status == 201 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "the store did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(runs.0.load(Ordering::SeqCst), 2);
}
