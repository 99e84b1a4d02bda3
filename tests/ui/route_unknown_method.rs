use portico::prelude::*;

#[route(FETCH, "/users")]
async fn list_users() -> &'static str {
    "users"
}

fn main() {}
