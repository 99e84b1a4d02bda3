use portico::prelude::*;

#[route(DELETE, "/users/<id>", role = " ")]
async fn delete_user(id: i64) -> String {
    id.to_string()
}

fn main() {}
