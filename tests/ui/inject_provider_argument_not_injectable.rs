use portico::prelude::*;

struct Config;
struct Mailer;

#[inject]
fn make_mailer(config: Config) -> Mailer {
    let _ = config;
    Mailer
}

fn main() {}
