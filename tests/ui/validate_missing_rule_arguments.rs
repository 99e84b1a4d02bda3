use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(length)]
    name: String,
    #[validate(range())]
    age: i32,
    #[validate(must_match)]
    confirm: String,
}

fn main() {}
