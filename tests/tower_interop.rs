//! Tower interop: a tower-http layer as Portico middleware, and a built
//! app driven as a `tower::Service`.

use portico::http::{HeaderValue, Request, header::HeaderName};
use portico::prelude::*;
use portico::testing::TestClient;
use tower::ServiceExt;
use tower_http::set_header::SetResponseHeaderLayer;

#[route(GET, "/hello")]
async fn hello() -> &'static str {
    "hello"
}

#[tokio::test]
async fn a_tower_http_layer_runs_as_middleware() {
    let layer = SetResponseHeaderLayer::overriding(
        HeaderName::from_static("x-powered-by"),
        HeaderValue::from_static("portico"),
    );
    let client = TestClient::new(App::new().layer(layer).mount(routes![hello])).await;
    let response = client.get("/hello").send().await;
    assert_eq!(response.text(), "hello");
    assert_eq!(response.header("x-powered-by"), Some("portico"));
    let missing = client.get("/nope").send().await;
    assert_eq!(
        missing.status(),
        404,
        "global: it sees unrouted requests too"
    );
    assert_eq!(missing.header("x-powered-by"), Some("portico"));
}

#[tokio::test]
async fn a_built_app_is_a_tower_service() {
    let service = App::new().mount(routes![hello]).build().await.unwrap();
    let request = Request::get("/hello")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"")))
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, "hello");
    let request = Request::get("/nope")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    assert_eq!(service.oneshot(request).await.unwrap().status(), 404);
}
