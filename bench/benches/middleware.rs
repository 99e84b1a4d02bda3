//! What a five-layer middleware stack adds to a request, through the built
//! app (no socket): the same route with and without the layers.
//!
//! `cargo bench -p portico-bench --bench middleware`

use criterion::{Criterion, criterion_group, criterion_main};
use portico::middleware::{Middleware, Next, Request};
use portico::prelude::*;
use portico::{Body, Response, Service, http};

#[route(GET, "/ping")]
async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// A layer that only passes the request on: what is measured is the
/// onion's own cost (boxing, handing over `Next`), not a layer's work.
struct Pass(&'static str);

impl Middleware for Pass {
    async fn call(&self, request: Request, next: Next) -> Response {
        let response = next.run(request).await;
        std::hint::black_box(self.0);
        response
    }
}

fn build(runtime: &tokio::runtime::Runtime, layers: usize) -> Service {
    let mut app = App::new().mount(routes![ping]);
    for name in ["a", "b", "c", "d", "e"].into_iter().take(layers) {
        app = app.wrap(Pass(name));
    }
    runtime.block_on(app.build()).expect("builds")
}

fn stack(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bare = build(&runtime, 0);
    let five = build(&runtime, 5);
    let mut group = c.benchmark_group("middleware_stack");
    for (name, service) in [("no_layers", &bare), ("five_layers", &five)] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let request = http::Request::get("/ping")
                    .body(Body::empty())
                    .expect("request");
                let response = service.call(request).await;
                assert_eq!(response.status(), StatusCode::NO_CONTENT);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, stack);
criterion_main!(benches);
