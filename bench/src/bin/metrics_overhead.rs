//! What the HTTP server metrics cost a request, in time, on a machine
//! whose wall-clock figures drift by more than that cost: the same app
//! built with `App::metrics` and without answers `GET /users/<id>` in
//! alternating batches within one process, so drift hits both alike; the
//! median of the paired per-batch differences is the figure.
//!
//! `cargo run --release -p portico-bench --bin metrics_overhead [ROUNDS]`

use std::time::Instant;

use portico::prelude::*;
use portico::telemetry::Metrics;
use portico::{Body, Service, http};

#[derive(Serialize)]
struct UserId {
    id: u64,
}

#[route(GET, "/users/<id>")]
async fn user(id: u64) -> Json<UserId> {
    Json(UserId { id })
}

const BATCH: u32 = 2_000;

async fn batch(service: &Service) -> f64 {
    let started = Instant::now();
    for _ in 0..BATCH {
        let request = http::Request::get("/users/42")
            .body(Body::empty())
            .expect("request");
        let response = service.call(request).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    started.elapsed().as_nanos() as f64 / f64::from(BATCH)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(400);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let off = App::new().mount(routes![user]).build().await.expect("app");
        let on = App::new()
            .mount(routes![user])
            .metrics(Metrics::new())
            .build()
            .await
            .expect("app");
        // Warm both: the first request of a series makes it.
        batch(&off).await;
        batch(&on).await;
        let (mut offs, mut ons, mut differences) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate which goes first, so neither always follows the other.
            let (a, b) = if round % 2 == 0 {
                let a = batch(&off).await;
                (a, batch(&on).await)
            } else {
                let b = batch(&on).await;
                (batch(&off).await, b)
            };
            offs.push(a);
            ons.push(b);
            differences.push(b - a);
        }
        println!(
            "per request: off {:.1} ns, on {:.1} ns; metrics add {:.1} ns (median of {rounds} paired batches of {BATCH})",
            median(&mut offs),
            median(&mut ons),
            median(&mut differences)
        );
    });
}
