//! What the HTTP server metrics cost a request, in time, on a machine
//! whose wall-clock figures drift by more than that cost: the same app
//! built with `App::metrics` and without answers `GET /users/<id>` in
//! alternating batches within one process, so drift hits both alike; the
//! median of the paired per-batch differences is the figure.
//!
//! `cargo run --release -p portico-bench --bin metrics_overhead [ROUNDS] [parallel]`

use std::time::Instant;

use portico::prelude::*;
use portico::telemetry::Metrics;
use portico::{Body, Service, http};

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

/// Both services, each batch run on every core at once when `parallel`
/// (the counters of one series then meet on every core's cache).
fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(400);
    let parallel = args.next().as_deref() == Some("parallel");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (off, on) = runtime.block_on(async {
        let off = App::new()
            .mount(portico_bench::users_route())
            .build()
            .await
            .expect("app");
        let on = App::new()
            .mount(portico_bench::users_route())
            .metrics(Metrics::new())
            .build()
            .await
            .expect("app");
        (off, on)
    });
    if parallel {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let run = |service: &Service| -> f64 {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..cores)
                    .map(|_| {
                        scope.spawn(|| {
                            tokio::runtime::Builder::new_current_thread()
                                .build()
                                .expect("runtime")
                                .block_on(batch(service))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("batch"))
                    .sum::<f64>()
                    / cores as f64
            })
        };
        let (mut offs, mut ons, mut differences) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let a = run(&off);
            let b = run(&on);
            offs.push(a);
            ons.push(b);
            differences.push(b - a);
        }
        println!(
            "per request on {cores} cores at once: off {:.1} ns, on {:.1} ns; metrics add {:.1} ns (median of {rounds} paired rounds)",
            median(&mut offs),
            median(&mut ons),
            median(&mut differences)
        );
        return;
    }
    runtime.block_on(async {
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
