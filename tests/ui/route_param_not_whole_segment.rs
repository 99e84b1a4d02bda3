use portico::prelude::*;

#[route(GET, "/files/<name>.txt")]
async fn get_file(name: String) -> String {
    name
}

fn main() {}
