use portico::prelude::*;

#[route(GET, "/items/<id>")]
async fn get_item<T: Default>(id: i64) -> String {
    let _ = T::default();
    id.to_string()
}

fn main() {}
