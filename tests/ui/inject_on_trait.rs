use portico::prelude::*;

#[inject]
trait Store {
    fn get(&self, id: i64) -> Option<String>;
}

fn main() {}
