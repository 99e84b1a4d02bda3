//! Exercise 6: a middleware pipeline, first added outermost.

use std::time::Instant;

use portico::middleware::{Next, Request, from_fn};
use portico::prelude::*;
use portico::testing::TestClient;

#[route(GET, "/api/users")]
async fn list_users() -> ApiResponse<Vec<&'static str>> {
    println!("Handler: listing users");
    ApiResponse::ok(vec!["alice", "bob"])
}

pub(crate) async fn run() -> crate::Outcome {
    let logging = from_fn(|request: Request, next: Next| async move {
        println!("[logging] {} {}", request.method(), request.uri().path());
        let response = next.run(request).await;
        println!("[logging] Response: {}", response.status().as_u16());
        response
    });
    let auth = from_fn(|request: Request, next: Next| async move {
        let token = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        println!("[auth] Checking token: {token}");
        next.run(request).await
    });
    let timing = from_fn(|request: Request, next: Next| async move {
        let started = Instant::now();
        println!("[timing] Processing...");
        let response = next.run(request).await;
        println!(
            "[timing] Response time: {:.2}s",
            started.elapsed().as_secs_f64()
        );
        response
    });
    let app = App::new()
        .wrap(logging)
        .wrap(auth)
        .wrap(timing)
        .mount(routes![list_users]);
    let client = TestClient::new(app).await;
    client
        .get("/api/users")
        .header("authorization", "Bearer test123")
        .send()
        .await;
    Ok(())
}
