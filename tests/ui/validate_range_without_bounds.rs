use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(range())]
    age: i32,
}

fn main() {}
