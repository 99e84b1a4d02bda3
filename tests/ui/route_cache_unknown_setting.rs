use portico::prelude::*;

#[route(GET, "/catalog", cache(max_age = 60, shared))]
async fn catalog() -> &'static str {
    "[]"
}

fn main() {}
