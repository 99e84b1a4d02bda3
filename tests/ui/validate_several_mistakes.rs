use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(lenght(min = 1))]
    name: String,
    #[validate(email)]
    age: i32,
    #[validate(range(min = 10, max = 1))]
    score: u8,
}

fn main() {}
