//! JWT verification against `jsonwebtoken`, and a keyed rate-limit check
//! against `governor`'s keyed limiter, on the same inputs.
//!
//! `cargo bench -p portico-bench --bench auth`

use std::hint::black_box;
use std::num::NonZeroU32;

use criterion::{Criterion, criterion_group, criterion_main};
use portico::auth::Jwt;
use portico::ratelimit::{ClientKey, MemoryStore, Policy};
use portico_bench::BenchClaims;
use serde_json::json;

const SECRET: &[u8] = b"a benchmark secret of 32 bytes!!";

fn jwt_verify(c: &mut Criterion) {
    let portico = Jwt::new(SECRET).expect("key");
    let token = portico
        .create(&json!({"sub": "42", "role": "admin", "iat": 1_700_000_000u64, "exp": 4_000_000_000u64}))
        .expect("token");
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET);
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    // Same token, both sides verify signature and exp and build the claims.
    assert!(jsonwebtoken::decode::<BenchClaims>(&token, &key, &validation).is_ok());
    assert!(portico.verify_as::<BenchClaims>(&token).is_ok());

    let mut group = c.benchmark_group("jwt_verify");
    group.bench_function("portico", |b| {
        b.iter(|| black_box(portico.verify_as::<BenchClaims>(black_box(&token)).is_ok()))
    });
    group.bench_function("portico_map", |b| {
        b.iter(|| black_box(portico.verify(black_box(&token)).is_ok()))
    });
    group.bench_function("jsonwebtoken", |b| {
        b.iter(|| {
            black_box(
                jsonwebtoken::decode::<BenchClaims>(black_box(&token), &key, &validation).is_ok(),
            )
        })
    });
    group.finish();
}

fn rate_limit(c: &mut Criterion) {
    // 1 000 clients by address, a generous quota so every check passes.
    let keys: Vec<std::net::IpAddr> = (0..1000u32)
        .map(|i| std::net::IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
        .collect();
    let store = MemoryStore::default();
    let policy = Policy::new("default", 1_000_000, 1_000_000.0);
    // governor's keyed store on the same hasher as Portico's (foldhash):
    // its default, SipHash, would measure the hasher rather than the limiter.
    let governor = governor::RateLimiter::dashmap_with_hasher(
        governor::Quota::per_second(NonZeroU32::new(1_000_000).expect("non-zero")),
        foldhash::fast::RandomState::default(),
    );

    let mut group = c.benchmark_group("rate_limit_check_1000_keys");
    group.bench_function("portico", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(store.check_now(&ClientKey::Ip(keys[i]), &policy).allowed)
        })
    });
    group.bench_function("governor", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(governor.check_key(&keys[i]).is_ok())
        })
    });
    group.finish();
}

criterion_group!(benches, jwt_verify, rate_limit);
criterion_main!(benches);
