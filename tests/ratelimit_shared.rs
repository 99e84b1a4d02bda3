//! Rate limiting shared by several instances through PostgreSQL and
//! through Redis, each server started by the test: one bucket per client
//! across apps on one server, no token taken twice under concurrency, and
//! the outage policy while the server is down — local buckets (fail open)
//! or 503 (fail closed) — with recovery and no restart.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::postgres::TestPostgres;
use common::redis::TestRedis;
use portico::pool::{PoolBuilder, PostgresManager};
use portico::prelude::*;
use portico::ratelimit::{
    Checked, ClientKey, Policy, PostgresStore, RateLimit, RateLimitStore, RedisStore,
};
use portico::testing::TestClient;

#[route(GET, "/ping")]
async fn ping() -> &'static str {
    "pong"
}

/// The shared server a scenario runs against.
enum Server {
    Postgres(TestPostgres),
    Redis(TestRedis),
}

/// Either store, as one instance would connect to the server.
enum Shared {
    Postgres(PostgresStore),
    Redis(RedisStore),
}

impl RateLimitStore for Shared {
    fn check<'a>(&'a self, key: &'a ClientKey, policy: &'a Policy) -> Checked<'a> {
        match self {
            Shared::Postgres(store) => store.check(key, policy),
            Shared::Redis(store) => store.check(key, policy),
        }
    }
}

impl Server {
    /// A store of its own on the server (its own pool or connection).
    async fn store(&self) -> Shared {
        match self {
            Server::Postgres(database) => {
                let pool = PoolBuilder::new()
                    .max_size(4)
                    .acquire_timeout(Duration::from_millis(500))
                    .circuit_breaker(2, Duration::from_millis(200))
                    .build(PostgresManager::new(database.url()))
                    .await
                    .expect("connect to the test server");
                Shared::Postgres(PostgresStore::new(pool).await.expect("the table is made"))
            }
            Server::Redis(redis) => Shared::Redis(
                RedisStore::connect(&redis.url())
                    .await
                    .expect("connect to redis"),
            ),
        }
    }

    /// Kills the server at once: a crash, its buckets lost.
    fn stop(&self) {
        match self {
            Server::Postgres(database) => database.stop(),
            Server::Redis(redis) => redis.stop(),
        }
    }

    fn start_again(&self) {
        match self {
            Server::Postgres(database) => database.start_again(),
            Server::Redis(redis) => redis.start_again(),
        }
    }
}

/// An app as one instance would run it: its own store on the shared
/// server. The test client has no socket, so every request is one client
/// (`ClientKey::Unknown`).
async fn instance(server: &Server, limit: impl FnOnce(RateLimit) -> RateLimit) -> TestClient {
    let layer = limit(RateLimit::per_client(5, 0.001).store(server.store().await));
    TestClient::new(App::new().mount(routes![ping]).wrap(layer)).await
}

async fn statuses(client: &TestClient, n: usize) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(n);
    for _ in 0..n {
        statuses.push(client.get("/ping").send().await.status().as_u16());
    }
    statuses
}

async fn instances_share_each_clients_bucket(server: Server) {
    let (a, b, c) = (
        instance(&server, |l| l).await,
        instance(&server, |l| l).await,
        instance(&server, |l| l).await,
    );
    // Round robin over three instances: five in all, not five each.
    let mut allowed = 0;
    for round in 0..4 {
        for client in [&a, &b, &c] {
            match client.get("/ping").send().await.status().as_u16() {
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

async fn concurrent_checks_never_take_a_token_twice(server: Server) {
    let stores = [
        Arc::new(server.store().await),
        Arc::new(server.store().await),
    ];
    let policy = Arc::new(Policy::new("burst", 20, 0.001));
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (store, policy) = (Arc::clone(&stores[i % 2]), Arc::clone(&policy));
            tokio::spawn(async move {
                let key = ClientKey::Custom("racer".into());
                match store.check(&key, &policy) {
                    Checked::Later(later) => later.await.expect("the server answers"),
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
        "exactly the bucket's capacity across two connections, each token once"
    );
}

async fn an_outage_falls_back_to_local_buckets_or_refuses_and_recovers(server: Server) {
    let timeout = Duration::from_millis(300);
    let open = instance(&server, |l| l.store_timeout(timeout)).await;
    let closed = instance(&server, |l| l.fail_closed().store_timeout(timeout)).await;
    assert_eq!(
        statuses(&open, 2).await,
        [200, 200],
        "two of the shared five"
    );

    server.stop();
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

    server.start_again();
    // Back to the shared bucket, without restarting the apps. The stop
    // was a crash: the buckets (unlogged in PostgreSQL, in memory in
    // Redis) start full again, as new ones would, shared by both.
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

/// Each scenario against PostgreSQL and against Redis.
macro_rules! on_both {
    ($($scenario:ident),*) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Server::Postgres(super::TestPostgres::start())).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Server::Redis(super::TestRedis::start())).await;
                }
            )*
        }
    };
}

on_both!(
    instances_share_each_clients_bucket,
    concurrent_checks_never_take_a_token_twice,
    an_outage_falls_back_to_local_buckets_or_refuses_and_recovers
);
