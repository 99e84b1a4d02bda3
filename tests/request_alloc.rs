//! A handler's future is kept inside the request's own future when it is
//! small, and boxed only when it is large: counted by a global allocator,
//! in a test binary of its own so nothing else allocates.

use portico::prelude::*;
use portico::{Body, Service, http};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

#[route(GET, "/small/<id>")]
async fn small(id: u64) -> &'static str {
    if id == 0 { "zero" } else { "other" }
}

#[route(GET, "/large/<id>")]
async fn large(id: u64) -> &'static str {
    // Held across an await, so the handler's future holds all of it.
    let buffer = [id as u8; 1024];
    std::future::ready(()).await;
    if buffer[1023] == 0 { "zero" } else { "other" }
}

/// The allocations one request to `path` makes, and its status.
async fn allocations_of(service: &Service, path: &str) -> (usize, StatusCode) {
    let request = http::Request::get(path)
        .header("host", "localhost")
        .body(Body::empty())
        .expect("request");
    let before = allocations();
    let response = service.call(request).await;
    let made = allocations() - before;
    (made, response.status())
}

#[test]
fn a_small_handler_future_is_not_allocated_and_a_large_one_is_boxed() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let service = App::new()
            .mount(routes![small, large])
            .build()
            .await
            .expect("app");
        // Once each first, so that nothing made on first use is counted.
        allocations_of(&service, "/small/1").await;
        allocations_of(&service, "/large/1").await;
        let (small, status) = allocations_of(&service, "/small/1").await;
        assert_eq!(status, StatusCode::OK);
        let (large, status) = allocations_of(&service, "/large/1").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(large, small + 1, "small: {small}, large: {large}");
    });
}
