use portico::prelude::*;

#[route(GET, "/catalog", cache(public))]
async fn catalog() -> &'static str {
    "[]"
}

fn main() {}
