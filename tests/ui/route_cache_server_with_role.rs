use portico::prelude::*;

#[route(GET, "/admin/stats", role = "admin", cache(max_age = 10, server))]
async fn stats() -> &'static str {
    "{}"
}

fn main() {}
