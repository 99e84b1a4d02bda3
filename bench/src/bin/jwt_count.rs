//! HS256 verification into a struct, a fixed number of times, for
//! callgrind: `valgrind --tool=callgrind target/release/jwt_count 20000`.

use portico::auth::Jwt;
use portico_bench::BenchClaims;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let jwt = Jwt::new(b"a benchmark secret of 32 bytes!!").expect("key");
    let token = jwt
        .create(&serde_json::json!({"sub": "42", "role": "admin", "iat": 1_700_000_000u64, "exp": 4_000_000_000u64}))
        .expect("token");
    for _ in 0..n {
        let claims: BenchClaims = jwt.verify_as(std::hint::black_box(&token)).expect("valid");
        std::hint::black_box(claims);
    }
}
