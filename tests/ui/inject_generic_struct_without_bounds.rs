use portico::prelude::*;

#[inject]
struct Repo<T> {
    store: Dep<T>,
}

fn main() {}
