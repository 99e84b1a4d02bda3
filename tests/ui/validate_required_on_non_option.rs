use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(required)]
    name: String,
}

fn main() {}
