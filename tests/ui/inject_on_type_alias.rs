use portico::prelude::*;

struct Db;

#[inject]
type Users = Dep<Db>;

fn main() {}
