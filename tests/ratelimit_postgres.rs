//! Rate limiting shared by several instances through PostgreSQL: one
//! bucket per client across apps on one database, no token taken twice
//! under concurrency, and the outage policy while the database is down —
//! local buckets (fail open) or 503 (fail closed) — with recovery and no
//! restart.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::postgres::TestPostgres;
use portico::pool::{PoolBuilder, PostgresManager};
use portico::prelude::*;
use portico::ratelimit::{Checked, ClientKey, Policy, PostgresStore, RateLimit, RateLimitStore};
use portico::testing::TestClient;

#[route(GET, "/ping")]
async fn ping() -> &'static str {
    "pong"
}

async fn store(database: &TestPostgres) -> PostgresStore {
    let pool = PoolBuilder::new()
        .max_size(4)
        .acquire_timeout(Duration::from_millis(500))
        .circuit_breaker(2, Duration::from_millis(200))
        .build(PostgresManager::new(database.url()))
        .await
        .expect("connect to the test server");
    PostgresStore::new(pool).await.expect("the table is made")
}

/// An app as one instance would run it: its own pool on the shared
/// database. The test client has no socket, so every request is one
/// client (`ClientKey::Unknown`).
async fn instance(
    database: &TestPostgres,
    limit: impl FnOnce(RateLimit) -> RateLimit,
) -> TestClient {
    let layer = limit(RateLimit::per_client(5, 0.001).store(store(database).await));
    TestClient::new(App::new().mount(routes![ping]).wrap(layer)).await
}

async fn statuses(client: &TestClient, n: usize) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(n);
    for _ in 0..n {
        statuses.push(client.get("/ping").send().await.status().as_u16());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_one_database_share_each_clients_bucket() {
    let database = TestPostgres::start();
    let (a, b, c) = (
        instance(&database, |l| l).await,
        instance(&database, |l| l).await,
        instance(&database, |l| l).await,
    );
    // Round robin over three instances: five in all, not five each.
    let mut allowed = 0;
    for round in 0..4 {
        for client in [&a, &b, &c] {
            let response = client.get("/ping").send().await;
            match response.status().as_u16() {
                200 => allowed += 1,
                429 => assert!(round > 0, "refused too early"),
                other => panic!("unexpected {other}"),
            }
        }
    }
    assert_eq!(allowed, 5, "one bucket of five for the client");
    let refused = a.get("/ping").send().await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
    assert_eq!(refused.header("ratelimit"), Some("\"default\";r=0;t=5000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_never_take_a_token_twice() {
    let database = TestPostgres::start();
    let stores = [
        Arc::new(store(&database).await),
        Arc::new(store(&database).await),
    ];
    let policy = Arc::new(Policy::new("burst", 20, 0.001));
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (store, policy) = (Arc::clone(&stores[i % 2]), Arc::clone(&policy));
            tokio::spawn(async move {
                let key = ClientKey::Custom("racer".into());
                match store.check(&key, &policy) {
                    Checked::Later(later) => later.await.expect("the database answers"),
                    Checked::Now(decision) => decision,
                }
            })
        })
        .collect();
    let mut remaining = Vec::new();
    for task in tasks {
        let decision = task.await.unwrap();
        if decision.allowed {
            remaining.push(decision.remaining);
        }
    }
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..20).collect::<Vec<u32>>(),
        "exactly the bucket's capacity across two pools, each token once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_falls_back_to_local_buckets_or_refuses_and_recovers() {
    let database = TestPostgres::start();
    let open = instance(&database, |l| l.store_timeout(Duration::from_millis(300))).await;
    let closed = instance(&database, |l| {
        l.fail_closed().store_timeout(Duration::from_millis(300))
    })
    .await;
    assert_eq!(
        statuses(&open, 2).await,
        [200, 200],
        "two of the shared five"
    );

    database.stop();
    // Fail open: this process's own bucket of five, fresh.
    let started = Instant::now();
    assert_eq!(statuses(&open, 6).await, [200, 200, 200, 200, 200, 429]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "each check waits at most its timeout"
    );
    // Fail closed: 503 with Retry-After, the handler not run unprotected.
    let refused = closed.get("/ping").send().await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.json()["success"], false);

    database.start_again();
    // Back to the shared bucket, without restarting the apps. The
    // immediate stop was a crash: the unlogged buckets start full again
    // (a fresh bucket is a full one), shared by both instances.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = closed.get("/ping").send().await.status().as_u16();
        if status != 503 {
            assert_eq!(status, 200);
            break;
        }
        assert!(Instant::now() < deadline, "the store did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The other instance finds the store again too: its own bucket is
    // spent, so a 200 is a token from the shared one.
    loop {
        if open.get("/ping").send().await.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the open instance did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        statuses(&open, 4).await,
        [200, 200, 200, 429],
        "one shared five again: three left after one each"
    );
}
