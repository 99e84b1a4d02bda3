//! What the load-test servers share: the secret, the token, the request
//! body, the port argument and a null log writer.

use serde::{Deserialize, Serialize};

/// The HS256 secret all servers verify with.
pub const SECRET: &[u8] = b"load-test secret of at least 32 bytes";

/// Claims of the benchmark token.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    pub role: String,
    pub exp: u64,
}

/// The token every scenario (e) request carries.
pub fn token() -> String {
    let jwt = portico::auth::Jwt::new(SECRET).expect("a strong secret");
    jwt.create(&TokenClaims {
        sub: "42".into(),
        role: "user".into(),
        exp: 4_000_000_000,
    })
    .expect("token")
}

/// `--port N` (default 8090).
pub fn port() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(8090)
}

/// Access logs go through `tracing` into this writer: measured, not printed.
pub fn null_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing::Level::INFO)
        .init();
}

/// The JSON body of `POST /users`.
#[derive(Debug, Deserialize, Serialize)]
pub struct Message {
    pub message: &'static str,
}

/// `{"id": …}`.
#[derive(Debug, Serialize)]
pub struct UserId {
    pub id: u64,
}

/// The body of `POST /users`, validated the way the peers usually do
/// (the `validator` crate); Portico's server uses its own derive.
#[derive(Debug, Deserialize, Serialize, validator::Validate)]
pub struct NewUser {
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    #[validate(email)]
    pub email: String,
    #[validate(range(min = 0, max = 150))]
    pub age: i32,
}

/// Whether the server speaks HTTP/2 with prior knowledge (h2c) instead
/// of HTTP/1.1: `LOAD_HTTP2=1`, for `bench/h2.sh`. Portico tells the two
/// apart by the preface and needs no switch.
pub fn http2() -> bool {
    std::env::var("LOAD_HTTP2").is_ok_and(|v| v == "1")
}
