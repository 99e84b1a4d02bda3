//! Route lookup on the GitHub REST API route set: Portico's router
//! against `matchit`, same routes, same request paths.
//!
//! `cargo bench -p portico-bench --bench router`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portico_bench::github::{ROUTES, sample_path, to_matchit};
use portico_runtime::router::{Lookup, Params, Router};

fn router_lookup(c: &mut Criterion) {
    let mut portico = Router::new();
    let mut matchit = matchit::Router::new();
    for (i, (method, pattern)) in ROUTES.iter().enumerate() {
        portico
            .insert(method.clone(), pattern, i)
            .expect("valid route");
        // matchit has no methods: routes sharing a path insert once.
        let _ = matchit.insert(to_matchit(pattern), i);
    }
    let requests: Vec<_> = ROUTES
        .iter()
        .map(|(m, p)| (m.clone(), sample_path(p)))
        .collect();

    let mut group = c.benchmark_group("github_api_lookup_all");
    group.bench_function("portico", |b| {
        b.iter(|| {
            for (method, path) in &requests {
                let mut params = Params::default();
                match portico.lookup(black_box(method), black_box(path), &mut params) {
                    Lookup::Found { value, .. } => {
                        black_box((value, params));
                    }
                    _ => unreachable!(),
                }
            }
        })
    });
    group.bench_function("matchit", |b| {
        b.iter(|| {
            for (_, path) in &requests {
                let matched = matchit.at(black_box(path)).expect("routed");
                black_box((matched.value, matched.params));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, router_lookup);
criterion_main!(benches);
