use portico::prelude::*;

#[derive(Validate)]
struct Email(#[validate(email)] String);

fn main() {}
