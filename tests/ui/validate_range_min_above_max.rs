use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(range(min = 150, max = 0))]
    age: i32,
}

fn main() {}
