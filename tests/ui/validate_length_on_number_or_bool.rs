use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(length(min = 1))]
    age: i32,
    #[validate(length(max = 1))]
    admin: bool,
}

fn main() {}
