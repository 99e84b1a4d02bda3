use portico::prelude::*;

#[route(GET, "/files/<path..>/raw")]
async fn raw_file(path: String) -> String {
    path
}

fn main() {}
