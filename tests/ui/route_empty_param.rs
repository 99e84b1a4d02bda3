use portico::prelude::*;

#[route(GET, "/users/<>")]
async fn get_user() -> &'static str {
    "user"
}

fn main() {}
