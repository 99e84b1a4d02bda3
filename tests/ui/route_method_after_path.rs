use portico::prelude::*;

#[route("/users", GET)]
async fn list_users() -> &'static str {
    "users"
}

fn main() {}
