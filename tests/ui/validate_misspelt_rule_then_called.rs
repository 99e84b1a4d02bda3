// One misspelt rule is one error: the derive still provides `validate`,
// so the call below raises nothing more.
use portico::prelude::*;

#[derive(Validate)]
struct NewUser {
    #[validate(lenght(min = 1))]
    name: String,
}

fn main() {
    let user = NewUser { name: String::new() };
    let _ = user.validate();
}
