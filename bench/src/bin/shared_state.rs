//! What sharing state between instances costs, on loopback servers:
//! a rate-limit check and an idempotency replay, in process against
//! PostgreSQL and Redis (`bench/shared_state.sh` starts both and runs
//! this; or set `PORTICO_BENCH_POSTGRES` and `PORTICO_BENCH_REDIS`).
//!
//! For each store: the latency of one call at a time (p50, p99 over N),
//! and the throughput of 64 concurrent callers sharing one store (what an
//! instance's requests do), each call one round trip — neither store
//! batches: every check must see the others' tokens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use portico::idempotency::{
    Begin, IdempotencyStore, MemoryStore as MemoryRecords, PostgresStore as PostgresRecords,
    RecordKey, RedisStore as RedisRecords, StoredResponse,
};
use portico::pool::{PoolBuilder, PostgresManager};
use portico::ratelimit::{
    Checked, ClientKey, MemoryStore, Policy, PostgresStore, RateLimitStore, RedisStore,
};

const CONCURRENT: usize = 64;

use portico_bench::percentile;

async fn check(store: &dyn RateLimitStore, key: &ClientKey, policy: &Policy) -> bool {
    match store.check(key, policy) {
        Checked::Now(decision) => decision.allowed,
        Checked::Later(later) => later.await.expect("the store answers").allowed,
    }
}

/// Latency of `n` calls one at a time, then `n` calls from 64 callers.
async fn measure<F, Fut>(name: &str, n: usize, call: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let at = Instant::now();
        call(i).await;
        latencies.push(at.elapsed());
    }
    latencies.sort();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|t| {
            let call = Arc::clone(&call);
            tokio::spawn(async move {
                for i in (t..n).step_by(CONCURRENT) {
                    call(i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("caller");
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "{name}: p50 {:?} p99 {:?} one at a time; {rate:.0}/s from {CONCURRENT} callers",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    );
}

async fn rate_limits(n: usize, postgres: &str, redis: &str) {
    let pool = PoolBuilder::new()
        .max_size(8)
        .build(PostgresManager::new(postgres))
        .await
        .expect("postgres");
    let stores: [(&str, Arc<dyn RateLimitStore>); 3] = [
        ("rate limit, in process", Arc::new(MemoryStore::default())),
        (
            "rate limit, PostgreSQL",
            Arc::new(PostgresStore::new(pool).await.expect("table")),
        ),
        (
            "rate limit, Redis",
            Arc::new(RedisStore::connect(redis).await.expect("redis")),
        ),
    ];
    let policy = Arc::new(Policy::new("bench", 1_000_000, 1_000_000.0));
    for (name, store) in stores {
        let policy = Arc::clone(&policy);
        measure(name, n, move |i| {
            let (store, policy) = (Arc::clone(&store), Arc::clone(&policy));
            async move {
                let key = ClientKey::Custom(format!("client-{}", i % 1000));
                assert!(check(&*store, &key, &policy).await);
            }
        })
        .await;
    }
}

async fn replays(n: usize, postgres: &str, redis: &str) {
    let pool = PoolBuilder::new()
        .max_size(8)
        .build(PostgresManager::new(postgres))
        .await
        .expect("postgres");
    let stores: [(&str, Arc<dyn IdempotencyStore>); 3] = [
        (
            "idempotency replay, in process",
            Arc::new(MemoryRecords::default()),
        ),
        (
            "idempotency replay, PostgreSQL",
            Arc::new(PostgresRecords::new(pool).await.expect("table")),
        ),
        (
            "idempotency replay, Redis",
            Arc::new(RedisRecords::connect(redis).await.expect("redis")),
        ),
    ];
    let response = StoredResponse {
        status: 201,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"success":true,"data":{"id":1},"error":null}"#.as_slice().into(),
    };
    let (lease, ttl) = (Duration::from_secs(60), Duration::from_secs(3600));
    for (name, store) in stores {
        // 100 keys answered once, then replayed.
        for k in 0..100 {
            let key = RecordKey {
                scope: "subject:bench".into(),
                key: format!("key-{k}"),
            };
            if let Begin::Started(token) = store.begin(&key, [1; 32], lease).await.expect("begin") {
                assert!(
                    store
                        .complete(&key, token, &response, ttl)
                        .await
                        .expect("complete")
                );
            }
        }
        measure(name, n, move |i| {
            let store = Arc::clone(&store);
            async move {
                let key = RecordKey {
                    scope: "subject:bench".into(),
                    key: format!("key-{}", i % 100),
                };
                let found = store.begin(&key, [1; 32], lease).await.expect("begin");
                assert!(matches!(found, Begin::Done(_)));
            }
        })
        .await;
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let postgres = std::env::var("PORTICO_BENCH_POSTGRES")
        .expect("set PORTICO_BENCH_POSTGRES to a connection string (bench/shared_state.sh does)");
    let redis = std::env::var("PORTICO_BENCH_REDIS")
        .expect("set PORTICO_BENCH_REDIS to redis://host:port/ (bench/shared_state.sh does)");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        rate_limits(n, &postgres, &redis).await;
        replays(n, &postgres, &redis).await;
    });
}
