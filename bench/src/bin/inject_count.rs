//! A fixed number of requests to one route, for instruction counts under
//! callgrind (repeatable where wall-clock timings on a shared machine are
//! not): `valgrind --tool=callgrind target/release/inject_count injected 20000`.

use std::sync::{Arc, OnceLock};

use portico::prelude::*;
use portico::{Body, http};

struct Db(u64);
struct Cache(u64);
struct Mailer(u64);

fn work(db: &Db, cache: &Cache, mailer: &Mailer) -> StatusCode {
    std::hint::black_box(db.0 + cache.0 + mailer.0);
    StatusCode::NO_CONTENT
}

#[route(GET, "/injected")]
async fn injected(db: Dep<Db>, cache: Dep<Cache>, mailer: Dep<Mailer>) -> StatusCode {
    work(&db, &cache, &mailer)
}

static BY_HAND: OnceLock<(Arc<Db>, Arc<Cache>, Arc<Mailer>)> = OnceLock::new();

#[route(GET, "/by_hand")]
async fn by_hand() -> StatusCode {
    let (db, cache, mailer) = BY_HAND.get().expect("set in main");
    let (db, cache, mailer) = (Arc::clone(db), Arc::clone(cache), Arc::clone(mailer));
    work(&db, &cache, &mailer)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = match args.next().as_deref() {
        Some("injected") => "/injected",
        Some("by_hand") => "/by_hand",
        _ => {
            eprintln!("usage: inject_count injected|by_hand N");
            std::process::exit(2);
        }
    };
    let n: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    BY_HAND.get_or_init(|| (Arc::new(Db(1)), Arc::new(Cache(2)), Arc::new(Mailer(3))));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let service = App::new()
            .provide(Db(1))
            .provide(Cache(2))
            .provide(Mailer(3))
            .mount(routes![injected, by_hand])
            .build()
            .await
            .expect("builds");
        for _ in 0..n {
            let request = http::Request::get(path)
                .body(Body::empty())
                .expect("request");
            let response = service.call(request).await;
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
        }
    });
}
