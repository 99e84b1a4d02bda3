use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(length(mni = 1, max = 100))]
    name: String,
}

fn main() {}
