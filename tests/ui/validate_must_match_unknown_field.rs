use portico::prelude::*;

#[derive(Validate)]
struct Signup {
    password: String,
    #[validate(must_match(other = "pasword"))]
    confirm: String,
}

fn main() {}
