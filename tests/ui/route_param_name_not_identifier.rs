use portico::prelude::*;

#[route(GET, "/users/<user-id>")]
async fn get_user() -> &'static str {
    "user"
}

fn main() {}
