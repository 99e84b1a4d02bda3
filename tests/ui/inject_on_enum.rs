use portico::prelude::*;

#[inject]
enum Store {
    Memory,
    Disk,
}

fn main() {}
