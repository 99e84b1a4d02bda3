use portico::prelude::*;

fn is_even(value: u32) -> Result<(), ValidationError> {
    if value % 2 == 0 { Ok(()) } else { Err(ValidationError::new("even")) }
}

#[derive(Validate)]
struct Pair {
    #[validate(custom(function = is_even))]
    count: u32,
}

fn main() {}
