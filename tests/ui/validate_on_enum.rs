use portico::prelude::*;

#[derive(Validate)]
enum Role {
    Admin,
    User,
}

fn main() {}
