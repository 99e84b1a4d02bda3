use portico::prelude::*;

struct Money(u64);

#[derive(Validate)]
struct Payment {
    #[validate(length(min = 1))]
    amount: Money,
}

fn main() {}
