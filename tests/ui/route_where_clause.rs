use portico::prelude::*;

#[route(GET, "/items/<id>")]
async fn get_item(id: i64) -> String
where
    i64: Copy,
{
    id.to_string()
}

fn main() {}
