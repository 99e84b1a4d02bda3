use portico::prelude::*;

#[derive(Validate)]
struct Profile {
    #[validate(url)]
    homepage: Vec<String>,
}

fn main() {}
