use portico::prelude::*;

#[route(GET)]
async fn list_users() -> &'static str {
    "users"
}

fn main() {}
