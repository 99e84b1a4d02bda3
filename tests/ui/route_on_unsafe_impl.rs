use portico::prelude::*;

struct Users;

#[route(GET, "/users")]
unsafe impl Send for Users {}

fn main() {}
