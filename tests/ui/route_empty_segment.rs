use portico::prelude::*;

#[route(GET, "/users//<id>")]
async fn get_user(id: i64) -> String {
    id.to_string()
}

fn main() {}
