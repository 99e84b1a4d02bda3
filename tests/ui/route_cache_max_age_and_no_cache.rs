use portico::prelude::*;

#[route(GET, "/catalog", cache(max_age = 60, no_cache))]
async fn catalog() -> &'static str {
    "[]"
}

fn main() {}
