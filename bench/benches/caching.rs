//! What a route's caching costs and saves, through the whole pipeline in
//! process (`Service::call`): the same handler — 20 users read from a
//! SQLite file through the pool and serialised, as the flagship lists them
//! — without a policy, with a policy (headers and a SHA-256 `ETag`), kept
//! server-side (a hit), a server-side miss (a new query string each time,
//! the cache at its bound), and a hit answered 304; then what a miss adds
//! to a cheap handler.
//!
//! `cargo bench -p portico-bench --bench caching`

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use portico::pool::{Pool, PoolBuilder, SqliteManager, rusqlite};
use portico::prelude::*;
use portico::{Body, Service, http};

#[derive(Serialize)]
struct User {
    id: i64,
    name: String,
    email: String,
    age: i32,
}

async fn twenty(pool: &Pool<SqliteManager>) -> ApiResponse<Vec<User>> {
    let mut conn = pool.get().await.expect("connection");
    let users = conn
        .call(|c| {
            c.prepare_cached("SELECT id, name, email, age FROM users ORDER BY id LIMIT 20")?
                .query_map([], |r| {
                    Ok(User {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        email: r.get(2)?,
                        age: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await
        .expect("query");
    ApiResponse::ok(users)
}

#[route(GET, "/plain")]
async fn plain(pool: Dep<Pool<SqliteManager>>) -> ApiResponse<Vec<User>> {
    twenty(&pool).await
}

#[route(GET, "/policy", cache(max_age = 60))]
async fn policy(pool: Dep<Pool<SqliteManager>>) -> ApiResponse<Vec<User>> {
    twenty(&pool).await
}

#[route(GET, "/kept", cache(max_age = 60, server))]
async fn kept(pool: Dep<Pool<SqliteManager>>) -> ApiResponse<Vec<User>> {
    twenty(&pool).await
}

/// The same 20 users, made in memory: a handler cheap enough that what
/// the server-side cache adds to a miss shows.
fn made() -> ApiResponse<Vec<User>> {
    ApiResponse::ok(
        (1..=20)
            .map(|i| User {
                id: i,
                name: format!("user {i}"),
                email: format!("u{i}@example.com"),
                age: i as i32,
            })
            .collect(),
    )
}

#[route(GET, "/made", cache(max_age = 60))]
async fn made_policy() -> ApiResponse<Vec<User>> {
    made()
}

#[route(GET, "/made_kept", cache(max_age = 60, server))]
async fn made_kept() -> ApiResponse<Vec<User>> {
    made()
}

fn get(path: &str, etag: Option<&http::HeaderValue>) -> http::Request<Body> {
    let mut request = http::Request::get(path).header("host", "localhost");
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    request.body(Body::empty()).expect("request")
}

fn caching(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("portico-caching-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let service: Service = runtime.block_on(async {
        let pool = PoolBuilder::new()
            .max_size(2)
            .build(SqliteManager::file(dir.join("users.db")))
            .await
            .expect("pool");
        pool.get()
            .await
            .expect("connection")
            .call(|c| {
                c.execute_batch(
                    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, age INTEGER);
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
                     INSERT INTO users SELECT i, 'user ' || i, 'u' || i || '@example.com', i FROM n;",
                )
            })
            .await
            .expect("schema");
        let bound: usize = std::env::var("CACHE_BOUND").ok().and_then(|b| b.parse().ok()).unwrap_or(10_000);
        App::new()
            .response_cache(portico::caching::ResponseCache::new(
                portico::caching::MemoryResponses::new(bound),
            ))
            .provide(pool)
            .mount(routes![plain, policy, kept, made_policy, made_kept])
            .build()
            .await
            .expect("app")
    });
    let etag = runtime.block_on(async {
        let response = service.call(get("/kept", None)).await;
        response.headers().get("etag").cloned().expect("an ETag")
    });

    let mut group = c.benchmark_group("caching");
    group.bench_function("no_policy", |b| {
        b.to_async(&runtime)
            .iter(|| async { assert_eq!(service.call(get("/plain", None)).await.status(), 200) })
    });
    group.bench_function("policy_and_etag", |b| {
        b.to_async(&runtime)
            .iter(|| async { assert_eq!(service.call(get("/policy", None)).await.status(), 200) })
    });
    group.bench_function("server_hit", |b| {
        b.to_async(&runtime)
            .iter(|| async { assert_eq!(service.call(get("/kept", None)).await.status(), 200) })
    });
    group.bench_function("server_hit_304", |b| {
        b.to_async(&runtime).iter(|| async {
            assert_eq!(service.call(get("/kept", Some(&etag))).await.status(), 304)
        })
    });
    group.finish();

    // What a miss adds: the same cheap handler with a policy, and kept
    // server-side under a new query string each time (the cache at its
    // bound after the first 10 000). Both format a path, so that differs
    // by the cache alone.
    let next = AtomicU64::new(0);
    let mut group = c.benchmark_group("caching_miss");
    group.bench_function("policy_only", |b| {
        b.to_async(&runtime).iter(|| async {
            let path = format!("/made?n={}", next.fetch_add(1, Ordering::Relaxed));
            assert_eq!(service.call(get(&path, None)).await.status(), 200)
        })
    });
    group.bench_function("server_miss", |b| {
        b.to_async(&runtime).iter(|| async {
            let path = format!("/made_kept?n={}", next.fetch_add(1, Ordering::Relaxed));
            assert_eq!(service.call(get(&path, None)).await.status(), 200)
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, caching);
criterion_main!(benches);
