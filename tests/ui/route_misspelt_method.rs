use portico::prelude::*;

#[route(DELEET, "/users/<id>")]
async fn delete_user(id: i64) -> String {
    id.to_string()
}

fn main() {}
