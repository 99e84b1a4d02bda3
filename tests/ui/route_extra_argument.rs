use portico::prelude::*;

#[route(GET, "/users", name = "list")]
async fn list_users() -> &'static str {
    "users"
}

fn main() {}
