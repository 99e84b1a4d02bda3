use portico::prelude::*;

#[route(POST, "/items")]
async fn create_item(body: impl Into<String>) -> String {
    body.into()
}

fn main() {}
