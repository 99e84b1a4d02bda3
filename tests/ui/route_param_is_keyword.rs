use portico::prelude::*;

#[route(GET, "/items/<type>")]
async fn by_type(kind: String) -> String {
    kind
}

fn main() {}
