use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(phone)]
    phone: String,
}

fn main() {}
