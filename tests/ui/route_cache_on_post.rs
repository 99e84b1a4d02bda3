use portico::prelude::*;

#[route(POST, "/users", cache(max_age = 60))]
async fn create_user() -> &'static str {
    "created"
}

fn main() {}
