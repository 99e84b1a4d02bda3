use portico::prelude::*;

struct Db;
struct Mailer;

impl Mailer {
    #[inject]
    fn build(&self, db: Dep<Db>) -> Mailer {
        let _ = db;
        Mailer
    }
}

fn main() {}
