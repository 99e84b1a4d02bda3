use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(email)]
    email: u64,
}

fn main() {}
