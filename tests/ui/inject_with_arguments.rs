use portico::prelude::*;

struct Db;

#[inject(singleton)]
struct Users {
    db: Dep<Db>,
}

fn main() {}
