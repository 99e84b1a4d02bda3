use portico::prelude::*;

#[route(get, "users/<id>/<name")]
async fn get_user<T>(id: i64) -> String {
    id.to_string()
}

fn main() {}
