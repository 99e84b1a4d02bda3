//! A handler with three singleton dependencies resolved by Portico against
//! the same handler given hand-passed `Arc`s, each called through the
//! built app (no socket).
//!
//! `cargo bench -p portico-bench --bench inject`

use std::hint::black_box;
use std::sync::{Arc, OnceLock};

use criterion::{Criterion, criterion_group, criterion_main};
use portico::prelude::*;
use portico::{Body, Service, http};

struct Db(u64);
struct Cache(u64);
struct Mailer(u64);

fn work(db: &Db, cache: &Cache, mailer: &Mailer) -> StatusCode {
    black_box(db.0 + cache.0 + mailer.0);
    StatusCode::NO_CONTENT
}

#[route(GET, "/injected")]
async fn injected(db: Dep<Db>, cache: Dep<Cache>, mailer: Dep<Mailer>) -> StatusCode {
    work(&db, &cache, &mailer)
}

static BY_HAND: OnceLock<(Arc<Db>, Arc<Cache>, Arc<Mailer>)> = OnceLock::new();

#[route(GET, "/by_hand")]
async fn by_hand() -> StatusCode {
    let (db, cache, mailer) = BY_HAND.get().expect("set before the benchmark");
    let (db, cache, mailer) = (Arc::clone(db), Arc::clone(cache), Arc::clone(mailer));
    work(&db, &cache, &mailer)
}

fn request(path: &'static str) -> http::Request<Body> {
    http::Request::get(path)
        .body(Body::empty())
        .expect("valid request")
}

fn three_singletons(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    BY_HAND.get_or_init(|| (Arc::new(Db(1)), Arc::new(Cache(2)), Arc::new(Mailer(3))));
    let service: Service = runtime
        .block_on(
            App::new()
                .provide(Db(1))
                .provide(Cache(2))
                .provide(Mailer(3))
                .mount(routes![injected, by_hand])
                .build(),
        )
        .expect("the app builds");

    let mut group = c.benchmark_group("three_singletons");
    group.bench_function("portico_dep", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = service.call(request("/injected")).await;
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
        })
    });
    group.bench_function("hand_passed_arcs", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = service.call(request("/by_hand")).await;
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
        })
    });
    group.finish();
}

criterion_group!(benches, three_singletons);
criterion_main!(benches);
