//! What the HTTP server metrics add to a request, through the built app
//! (no socket): the same routed request with `App::metrics` and without,
//! and the same behind one global layer (where the route is looked up
//! once more to label a request a layer may answer).
//!
//! `cargo bench -p portico-bench --bench metrics`

use criterion::{Criterion, criterion_group, criterion_main};
use portico::middleware::{Middleware, Next, Request};
use portico::prelude::*;
use portico::telemetry::Metrics;
use portico::{Body, Response, Service, http};

/// A layer that only passes the request on.
struct Pass;

impl Middleware for Pass {
    async fn call(&self, request: Request, next: Next) -> Response {
        next.run(request).await
    }
}

fn build(runtime: &tokio::runtime::Runtime, measured: bool, layered: bool) -> Service {
    let mut app = App::new().mount(portico_bench::users_route());
    if measured {
        app = app.metrics(Metrics::new());
    }
    if layered {
        app = app.wrap(Pass);
    }
    runtime.block_on(app.build()).expect("builds")
}

fn metrics(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("metrics");
    for (name, measured, layered) in [
        ("off", false, false),
        ("on", true, false),
        ("layer_off", false, true),
        ("layer_on", true, true),
    ] {
        let service = build(&runtime, measured, layered);
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let request = http::Request::get("/users/42")
                    .body(Body::empty())
                    .expect("request");
                let response = service.call(request).await;
                assert_eq!(response.status(), StatusCode::OK);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, metrics);
criterion_main!(benches);
