use portico::prelude::*;

#[route(GET, "/users/<id>", cache(no_cache, server = 60, tag = "user:<user_id>"))]
async fn get_user(id: i64) -> String {
    id.to_string()
}

fn main() {}
