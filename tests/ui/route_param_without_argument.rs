use portico::prelude::*;

#[route(GET, "/users/<id>")]
async fn get_user(user_id: i64) -> String {
    user_id.to_string()
}

fn main() {}
