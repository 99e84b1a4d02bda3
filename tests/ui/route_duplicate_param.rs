use portico::prelude::*;

#[route(GET, "/users/<id>/friends/<id>")]
async fn get_friend(id: i64) -> String {
    id.to_string()
}

fn main() {}
