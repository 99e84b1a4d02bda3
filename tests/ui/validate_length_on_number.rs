use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(length(min = 1))]
    age: i32,
}

fn main() {}
