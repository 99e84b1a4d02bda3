use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(length)]
    name: String,
}

fn main() {}
