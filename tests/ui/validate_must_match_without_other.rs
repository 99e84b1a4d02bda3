use portico::prelude::*;

#[derive(Validate)]
struct NewPassword {
    password: String,
    #[validate(must_match)]
    confirm: String,
}

fn main() {}
