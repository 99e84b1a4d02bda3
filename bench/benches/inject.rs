//! A handler with three singleton dependencies resolved by Portico against
//! the same handler given hand-passed `Arc`s, each called through the
//! built app (no socket).
//!
//! `cargo bench -p portico-bench --bench inject` (noisy on a shared
//! machine: `src/bin/inject_count.rs` gives repeatable instruction counts).

use criterion::{Criterion, criterion_group, criterion_main};
use portico::prelude::StatusCode;
use portico_bench::three_deps::{request, service};

fn three_singletons(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let service = runtime.block_on(service());
    let mut group = c.benchmark_group("three_singletons");
    for (name, path) in [
        ("portico_dep", "/injected"),
        ("hand_passed_arcs", "/by_hand"),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let response = service.call(request(path)).await;
                assert_eq!(response.status(), StatusCode::NO_CONTENT);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, three_singletons);
criterion_main!(benches);
