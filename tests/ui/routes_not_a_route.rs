use portico::prelude::*;

#[allow(non_camel_case_types)]
struct list_users;

fn main() {
    let _ = App::new().mount(routes![list_users]);
}
