//! Exercise 1: the route registry, built at compile time by `#[route]`.

use portico::prelude::*;

#[route(GET, "/users")]
async fn list_users() {}

#[route(POST, "/users")]
async fn create_user() {}

#[route(GET, "/users/<id>")]
async fn get_user(id: i64) -> String {
    id.to_string()
}

#[route(DELETE, "/users/<id>")]
async fn delete_user(id: i64) -> String {
    id.to_string()
}

pub(crate) fn run() -> crate::Outcome {
    let app = App::new().mount(routes![list_users, create_user, get_user, delete_user]);
    print!("{}", app.routes());
    Ok(())
}
