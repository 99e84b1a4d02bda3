use portico::prelude::*;

#[route(GET, users)]
async fn list_users() -> &'static str {
    "users"
}

fn main() {}
