use portico::prelude::*;

struct UserId(i64);

#[route(GET, "/users/<id>")]
async fn get_user(id: UserId) -> String {
    id.0.to_string()
}

fn main() {}
