use portico::prelude::*;

struct Mailer;

#[route(POST, "/users")]
async fn create_user(name: String, mailer: Mailer) -> String {
    let _ = mailer;
    name
}

fn main() {}
