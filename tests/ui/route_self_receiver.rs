use portico::prelude::*;

struct Users;

impl Users {
    #[route(GET, "/users")]
    async fn list(&self) -> &'static str {
        "users"
    }
}

fn main() {}
