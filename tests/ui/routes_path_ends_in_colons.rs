use portico::prelude::*;

#[route(GET, "/a")]
async fn a() -> &'static str {
    "a"
}

#[route(GET, "/b")]
async fn b() -> &'static str {
    "b"
}

fn main() {
    let _ = App::new().mount(routes![a::]);
}
