use portico::prelude::*;

struct Users;

#[inject]
impl Users {
    fn count(&self) -> usize {
        0
    }
}

fn main() {}
