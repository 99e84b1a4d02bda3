// Every mistake of one attribute is reported in one compile, the empty
// role among them.
use portico::prelude::*;

#[route(GET, "/users//<id>", role = "")]
async fn get_user(id: i64) -> String {
    id.to_string()
}

fn main() {}
