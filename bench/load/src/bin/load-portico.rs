//! Portico serving the load-test scenarios.

use portico::ServerConfig;
use portico::auth::Jwt;
use portico::middleware::{AccessLog, RequestId};
use portico::prelude::*;
use portico::ratelimit::RateLimit;
use portico_load::{Message, SECRET, UserId};

#[route(GET, "/plaintext")]
async fn plaintext() -> &'static str {
    "Hello, World!"
}

#[route(GET, "/json")]
async fn json() -> Json<Message> {
    Json(Message {
        message: "Hello, World!",
    })
}

#[route(GET, "/users/<id>")]
async fn user(id: u64) -> Json<UserId> {
    Json(UserId { id })
}

#[derive(Deserialize, Serialize, Validate)]
struct NewUser {
    #[validate(length(min = 1, max = 100))]
    name: String,
    #[validate(email)]
    email: String,
    #[validate(range(min = 0, max = 150))]
    age: i32,
}

#[route(POST, "/users")]
async fn create(body: Json<NewUser>) -> (StatusCode, Json<NewUser>) {
    (StatusCode::CREATED, body)
}

#[derive(Deserialize)]
struct Subject {
    #[allow(dead_code)]
    sub: String,
}

#[route(GET, "/secure/users/<id>")]
async fn secure_user(id: u64, _claims: Claims<Subject>) -> Json<UserId> {
    Json(UserId { id })
}

fn main() {
    if std::env::args().any(|a| a == "--print-token") {
        println!("{}", portico_load::token());
        return;
    }
    portico_load::null_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let jwt = Jwt::new(SECRET).expect("secret");
        let app = App::new()
            .server_config(ServerConfig::default())
            .wrap_prefix("/secure", RequestId::default())
            .wrap_prefix("/secure", AccessLog)
            // Keyed by the client's address, as the peers' governors are
            // (keying by the token's subject would verify it twice).
            .wrap_prefix(
                "/secure",
                RateLimit::per_client(1_000_000_000, 1_000_000_000.0),
            )
            .provide(jwt)
            .mount(routes![plaintext, json, user, create, secure_user]);
        let server = app
            .bind(("127.0.0.1", portico_load::port()))
            .await
            .expect("bind");
        server.run().await.expect("serve");
    });
}
