// A type that is no extractor, ahead of others: still one error, at it.
use portico::prelude::*;

struct Mailer;

#[route(POST, "/users")]
async fn create_user(mailer: Mailer, headers: portico::http::HeaderMap, name: String) -> String {
    let _ = (mailer, headers);
    name
}

fn main() {}
