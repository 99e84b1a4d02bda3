//! HS256 verification into a struct, Portico against `jsonwebtoken`, in
//! alternating batches within one process, so that the machine's drift
//! hits both alike: the median of the per-round ratios.
//!
//! `cargo bench -p portico-bench --bench jwt_paired`

use std::hint::black_box;
use std::time::Instant;

use portico::auth::Jwt;
use portico_bench::BenchClaims;
use serde_json::json;

const SECRET: &[u8] = b"a benchmark secret of 32 bytes!!";
const BATCH: u32 = 5_000;

fn timed(mut verify: impl FnMut() -> bool) -> f64 {
    let started = Instant::now();
    for _ in 0..BATCH {
        assert!(black_box(verify()));
    }
    started.elapsed().as_nanos() as f64 / f64::from(BATCH)
}

fn main() {
    let portico = Jwt::new(SECRET).expect("key");
    let token = portico
        .create(&json!({"sub": "42", "role": "admin", "iat": 1_700_000_000u64, "exp": 4_000_000_000u64}))
        .expect("token");
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET);
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    let mut ours = || portico.verify_as::<BenchClaims>(black_box(&token)).is_ok();
    let mut theirs =
        || jsonwebtoken::decode::<BenchClaims>(black_box(&token), &key, &validation).is_ok();
    let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..200 {
        let (p, j) = if round % 2 == 0 {
            let p = timed(&mut ours);
            (p, timed(&mut theirs))
        } else {
            let j = timed(&mut theirs);
            (timed(&mut ours), j)
        };
        a.push(p);
        b.push(j);
        ratios.push(p / j);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "jwt verify into a struct: Portico {:.0} ns, jsonwebtoken {:.0} ns, ratio {:.3} (median of 200 paired rounds of {BATCH})",
        median(&mut a),
        median(&mut b),
        median(&mut ratios)
    );
}
