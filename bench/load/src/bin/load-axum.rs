//! axum with its usual crates: tower-http request id + trace, jsonwebtoken,
//! tower_governor. Set up to do what the others do per request: TCP_NODELAY
//! on every connection, a request id from a counter, a span at INFO
//! carrying it and one INFO line per response (what Portico's `RequestId`
//! and `AccessLog` do under the same INFO subscriber), rate-limit headers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use portico_load::{Message, NewUser, SECRET, TokenClaims, UserId};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use validator::Validate;

async fn create(Json(user): Json<NewUser>) -> Result<(StatusCode, Json<NewUser>), StatusCode> {
    user.validate()
        .map_err(|_| StatusCode::UNPROCESSABLE_ENTITY)?;
    Ok((StatusCode::CREATED, Json(user)))
}

struct Keys {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

struct Auth;

impl FromRequestParts<Arc<Keys>> for Auth {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, keys: &Arc<Keys>) -> Result<Self, StatusCode> {
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(StatusCode::UNAUTHORIZED)?;
        jsonwebtoken::decode::<TokenClaims>(token, &keys.key, &keys.validation)
            .map_err(|_| StatusCode::UNAUTHORIZED)?;
        Ok(Auth)
    }
}

/// Request ids from a counter, as hyper, actix-web and Portico make them.
#[derive(Clone, Default)]
struct Counter(Arc<std::sync::atomic::AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(RequestId::new(axum::http::HeaderValue::from(n)))
    }
}

async fn secure_user(_: Auth, Path(id): Path<u64>) -> Json<UserId> {
    Json(UserId { id })
}

fn main() {
    portico_load::null_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let keys = Arc::new(Keys {
            key: jsonwebtoken::DecodingKey::from_secret(SECRET),
            validation: jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
        });
        let governor = Arc::new(
            tower_governor::governor::GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(u32::MAX)
                .use_headers()
                .finish()
                .expect("governor config"),
        );
        let secure = Router::new()
            .route("/secure/users/{id}", get(secure_user))
            .layer(tower_governor::GovernorLayer { config: governor })
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &axum::http::Request<_>| {
                        let id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            request_id = id,
                            route = "/secure/users/{id}"
                        )
                    })
                    .on_request(())
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(Counter::default()))
            .with_state(keys);
        let app = Router::new()
            .route("/plaintext", get(|| async { "Hello, World!" }))
            .route(
                "/json",
                get(|| async {
                    Json(Message {
                        message: "Hello, World!",
                    })
                }),
            )
            .route(
                "/users/{id}",
                get(|Path(id): Path<u64>| async move { Json(UserId { id }) }),
            )
            .route("/users", post(create))
            .merge(secure)
            // Portico's security defaults on every answer (the same work).
            .layer(SetResponseHeaderLayer::overriding(
                X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ));
        if portico_load::http2() {
            // h2c with prior knowledge: hyper's HTTP/2 server over the same
            // router, the peer address given as `axum::serve` gives it.
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", portico_load::port()))
                .await
                .expect("bind");
            loop {
                let (stream, peer) = listener.accept().await.expect("accept");
                let _ = stream.set_nodelay(true);
                let app = app.clone().layer(axum::Extension(ConnectInfo(peer)));
                tokio::spawn(async move {
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http2::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            }
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", portico_load::port()))
            .await
            .expect("bind")
            .tap_io(|stream| {
                let _ = stream.set_nodelay(true);
            });
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
}
