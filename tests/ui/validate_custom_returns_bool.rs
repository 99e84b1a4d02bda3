use portico::prelude::*;

fn is_even(value: &u32) -> bool {
    value % 2 == 0
}

#[derive(Validate)]
struct Pair {
    #[validate(custom(function = is_even))]
    count: u32,
}

fn main() {}
