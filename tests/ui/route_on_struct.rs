use portico::prelude::*;

#[route(GET, "/users")]
struct Users {
    count: usize,
}

fn main() {
    let _ = Users { count: 0 }.count;
}
