//! The single-flight cache against moka's `future::Cache`, and what the
//! `Idempotency-Key` layer costs: on a request without a key (the common
//! path must not pay for idempotency) and on a replay (which must cost
//! less than running the handler it saves).
//!
//! `cargo bench -p portico-bench --bench idempotency`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use portico::cache::Cache;
use portico::idempotency::Idempotency;
use portico::middleware::{Middleware, Next, Request};
use portico::pool::{Pool, PoolBuilder, SqliteManager};
use portico::prelude::*;
use portico::{Body, Response, Service, http};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn cache(c: &mut Criterion) {
    let runtime = runtime();
    let ttl = Duration::from_secs(3600);
    let ours: Cache<u64, u64> = Cache::new(ttl).max_entries(100_000);
    let moka: moka::future::Cache<u64, u64> = moka::future::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(ttl)
        .build();
    runtime.block_on(async {
        ours.execute(7, || async { 7 }).await;
        moka.get_with(7, async { 7 }).await;
    });
    let mut group = c.benchmark_group("cache_hit");
    group.bench_function("portico", |b| {
        b.to_async(&runtime)
            .iter(|| async { assert!(ours.execute(7, || async { 0 }).await.1) })
    });
    group.bench_function("moka_get_with", |b| {
        b.to_async(&runtime)
            .iter(|| async { assert_eq!(moka.get_with(7, async { 0 }).await, 7) })
    });
    group.finish();

    // A miss: a key never seen, computed (trivially) and stored; both
    // caches stay at their bound, evicting as they go.
    let next = AtomicU64::new(1_000);
    let mut group = c.benchmark_group("cache_miss");
    group.bench_function("portico", |b| {
        b.to_async(&runtime).iter(|| async {
            let key = next.fetch_add(1, Ordering::Relaxed);
            assert!(!ours.execute(key, || async move { key }).await.1)
        })
    });
    group.bench_function("moka_get_with", |b| {
        b.to_async(&runtime).iter(|| async {
            let key = next.fetch_add(1, Ordering::Relaxed);
            assert_eq!(moka.get_with(key, async move { key }).await, key)
        })
    });
    group.finish();
}

#[route(POST, "/ping")]
async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Item {
    name: String,
}

/// What a replay saves: a handler that writes a row.
#[route(POST, "/items")]
async fn create_item(
    Json(item): Json<Item>,
    pool: Dep<Pool<SqliteManager>>,
) -> Result<Created<ApiResponse<i64>>, ApiError> {
    let mut conn = pool.get().await?;
    let id = conn
        .call(move |c| {
            c.execute("INSERT INTO items (name) VALUES (?1)", [item.name])?;
            Ok(c.last_insert_rowid())
        })
        .await?;
    Ok(Created::new(ApiResponse::ok(id)))
}

/// A layer that only passes the request on: the price of any one layer.
struct Pass;

impl Middleware for Pass {
    async fn call(&self, request: Request, next: Next) -> Response {
        next.run(request).await
    }
}

fn post(path: &str, key: Option<&str>) -> http::Request<Body> {
    let mut request = http::Request::post(path).header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request
        .body(Body::from(r#"{"name": "bench"}"#))
        .expect("request")
}

fn layer(c: &mut Criterion) {
    let runtime = runtime();
    let build = |app: App| runtime.block_on(app.build()).expect("builds");
    let bare = build(App::new().mount(routes![ping]));
    let pass = build(App::new().wrap(Pass).mount(routes![ping]));
    let idempotent = build(App::new().wrap(Idempotency::default()).mount(routes![ping]));
    let mut group = c.benchmark_group("idempotency_without_key");
    for (name, service) in [
        ("no_layer", &bare),
        ("pass_layer", &pass),
        ("idempotency", &idempotent),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let response = service.call(post("/ping", None)).await;
                assert_eq!(response.status(), StatusCode::NO_CONTENT);
            })
        });
    }
    group.finish();

    let pool = runtime.block_on(async {
        let pool = PoolBuilder::new()
            .max_size(1)
            .build(SqliteManager::from_url("sqlite::memory:").expect("url"))
            .await
            .expect("pool");
        pool.get()
            .await
            .expect("connection")
            .call(|c| c.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"))
            .await
            .expect("table");
        pool
    });
    let items: Service = build(
        App::new()
            .wrap(Idempotency::default())
            .provide(pool)
            .mount(routes![create_item]),
    );
    runtime.block_on(async {
        let first = items.call(post("/items", Some("replayed"))).await;
        assert_eq!(first.status(), StatusCode::CREATED);
    });
    let mut group = c.benchmark_group("idempotency_replay");
    for (name, key) in [("handler_runs", None), ("replay", Some("replayed"))] {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.to_async(&runtime).iter(|| async {
                let response = items.call(post("/items", key)).await;
                assert_eq!(response.status(), StatusCode::CREATED);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, cache, layer);
criterion_main!(benches);
