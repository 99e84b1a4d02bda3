//! A handler with three singleton dependencies, and the same handler given
//! hand-passed `Arc`s: the injection benchmark and the instruction-count
//! harness (`src/bin/inject_count.rs`) both serve these.

use std::sync::{Arc, OnceLock};

use portico::prelude::*;
use portico::{Body, Service, http};

pub struct Db(pub u64);
pub struct Cache(pub u64);
pub struct Mailer(pub u64);

fn work(db: &Db, cache: &Cache, mailer: &Mailer) -> StatusCode {
    std::hint::black_box(db.0 + cache.0 + mailer.0);
    StatusCode::NO_CONTENT
}

#[route(GET, "/injected")]
pub async fn injected(db: Dep<Db>, cache: Dep<Cache>, mailer: Dep<Mailer>) -> StatusCode {
    work(&db, &cache, &mailer)
}

static BY_HAND: OnceLock<(Arc<Db>, Arc<Cache>, Arc<Mailer>)> = OnceLock::new();

#[route(GET, "/by_hand")]
pub async fn by_hand() -> StatusCode {
    let (db, cache, mailer) =
        BY_HAND.get_or_init(|| (Arc::new(Db(1)), Arc::new(Cache(2)), Arc::new(Mailer(3))));
    let (db, cache, mailer) = (Arc::clone(db), Arc::clone(cache), Arc::clone(mailer));
    work(&db, &cache, &mailer)
}

/// The app serving both routes.
pub async fn service() -> Service {
    App::new()
        .provide(Db(1))
        .provide(Cache(2))
        .provide(Mailer(3))
        .mount(routes![injected, by_hand])
        .build()
        .await
        .expect("the app builds")
}

/// A GET for `path`.
pub fn request(path: &'static str) -> http::Request<Body> {
    http::Request::get(path)
        .body(Body::empty())
        .expect("a valid request")
}
