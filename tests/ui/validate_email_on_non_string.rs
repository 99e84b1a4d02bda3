use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(email)]
    email: u64,
    #[validate(url)]
    homepage: Vec<String>,
}

fn main() {}
