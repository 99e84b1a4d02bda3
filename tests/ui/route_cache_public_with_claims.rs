use portico::prelude::*;

#[route(GET, "/me", cache(max_age = 60, public))]
async fn me(claims: Claims) -> String {
    claims.0["sub"].to_string()
}

fn main() {}
