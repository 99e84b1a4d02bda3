use portico::prelude::*;

#[route(get, "/users")]
async fn list_users() -> &'static str {
    "users"
}

fn main() {}
