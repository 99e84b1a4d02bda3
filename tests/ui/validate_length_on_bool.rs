use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(length(max = 1))]
    admin: bool,
}

fn main() {}
