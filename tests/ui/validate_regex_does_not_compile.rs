use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(regex(pattern = "^[a-z+$"))]
    handle: String,
}

fn main() {}
