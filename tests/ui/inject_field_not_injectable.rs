use portico::prelude::*;

struct Db;
struct Mailer;

#[inject]
struct Users {
    db: Dep<Db>,
    mailer: Mailer,
}

fn main() {}
