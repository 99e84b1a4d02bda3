use portico::prelude::*;

struct User {
    name: String,
}

#[route(GET, "/users/<id>")]
async fn get_user(id: i64) -> User {
    User { name: id.to_string() }
}

fn main() {}
