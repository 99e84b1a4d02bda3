//! Raw hyper 1: a hand-written service, no framework — the limit.

use std::convert::Infallible;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use portico_load::{Message, NewUser, SECRET, TokenClaims, UserId};
use validator::Validate;

/// A keyed governor that reports the bucket's state, for the headers.
type Limiter = governor::RateLimiter<
    std::net::IpAddr,
    governor::state::keyed::DefaultKeyedStateStore<std::net::IpAddr>,
    governor::clock::DefaultClock,
    governor::middleware::StateInformationMiddleware,
>;

/// `"default";r=<remaining>;t=<seconds until the bucket is full>`, from
/// the limiter's answer: the value the others work out per request too.
fn ratelimit_value(snapshot: &governor::middleware::StateSnapshot) -> HeaderValue {
    let quota = snapshot.quota();
    let remaining = snapshot.remaining_burst_capacity();
    let missing = u128::from(quota.burst_size().get() - remaining);
    let reset = (missing * quota.replenish_interval().as_nanos()).div_ceil(1_000_000_000);
    let (mut r, mut t) = (itoa::Buffer::new(), itoa::Buffer::new());
    let (r, t) = (r.format(remaining), t.format(reset as u64));
    let mut value = Vec::with_capacity(16 + r.len() + t.len());
    value.extend_from_slice(b"\"default\";r=");
    value.extend_from_slice(r.as_bytes());
    value.extend_from_slice(b";t=");
    value.extend_from_slice(t.as_bytes());
    HeaderValue::from_maybe_shared(Bytes::from(value)).expect("header value")
}

struct State {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
    limiter: Limiter,
    next_id: AtomicU64,
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(value).expect("json"),
    )));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The two headers every Portico answer carries (its security defaults),
/// so that each server does the same work.
fn secure(headers: &mut hyper::HeaderMap) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

fn status(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::default());
    *response.status_mut() = status;
    response
}

async fn handle(
    state: Arc<State>,
    peer: std::net::IpAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    match (request.method(), path) {
        (&Method::GET, "/plaintext") => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
        (&Method::GET, "/json") => json(
            StatusCode::OK,
            &Message {
                message: "Hello, World!",
            },
        ),
        (&Method::POST, "/users") => {
            let Ok(body) = Limited::new(request.into_body(), 1 << 20).collect().await else {
                return status(StatusCode::PAYLOAD_TOO_LARGE);
            };
            match serde_json::from_slice::<NewUser>(&body.to_bytes()) {
                Ok(user) if user.validate().is_ok() => json(StatusCode::CREATED, &user),
                Ok(_) => status(StatusCode::UNPROCESSABLE_ENTITY),
                Err(_) => status(StatusCode::BAD_REQUEST),
            }
        }
        (&Method::GET, _) if path.starts_with("/users/") => {
            match path["/users/".len()..].parse::<u64>() {
                Ok(id) => json(StatusCode::OK, &UserId { id }),
                Err(_) => status(StatusCode::BAD_REQUEST),
            }
        }
        (&Method::GET, _) if path.starts_with("/secure/users/") => {
            let started = std::time::Instant::now();
            let request_id = request
                .headers()
                .get("x-request-id")
                .cloned()
                .unwrap_or_else(|| {
                    HeaderValue::from(state.next_id.fetch_add(1, Ordering::Relaxed))
                });
            // The request's span, as Portico's `RequestId` opens.
            let span = tracing::info_span!(
                "request",
                request_id = ?request_id,
                route = "/secure/users/<id>"
            );
            let _entered = span.enter();
            let Ok(snapshot) = state.limiter.check_key(&peer) else {
                return status(StatusCode::TOO_MANY_REQUESTS);
            };
            let token = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let mut response = match token
                .map(|t| jsonwebtoken::decode::<TokenClaims>(t, &state.key, &state.validation))
            {
                Some(Ok(_)) => match path["/secure/users/".len()..].parse::<u64>() {
                    Ok(id) => json(StatusCode::OK, &UserId { id }),
                    Err(_) => status(StatusCode::BAD_REQUEST),
                },
                _ => status(StatusCode::UNAUTHORIZED),
            };
            let headers = response.headers_mut();
            headers.insert("x-request-id", request_id.clone());
            // What a limiter tells the client, as the others send it.
            headers.insert(
                "ratelimit-policy",
                HeaderValue::from_static("\"default\";q=1000000000;w=1"),
            );
            headers.insert("ratelimit", ratelimit_value(&snapshot));
            tracing::info!(method = "GET", path, status = response.status().as_u16(), latency_us = started.elapsed().as_micros() as u64, request_id = ?request_id, "request");
            response
        }
        _ => status(StatusCode::NOT_FOUND),
    }
}

fn main() {
    portico_load::null_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let state = Arc::new(State {
            key: jsonwebtoken::DecodingKey::from_secret(SECRET),
            validation: jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
            limiter: governor::RateLimiter::keyed(governor::Quota::per_second(
                NonZeroU32::new(1_000_000_000).expect("quota"),
            ))
            .with_middleware(),
            next_id: AtomicU64::new(0),
        });
        let writev = std::env::var("LOAD_WRITEV").map_or(true, |v| v != "0");
        let http2 = portico_load::http2();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", portico_load::port()))
            .await
            .expect("bind");
        loop {
            let (stream, peer) = listener.accept().await.expect("accept");
            let _ = stream.set_nodelay(true);
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let state = Arc::clone(&state);
                    async move {
                        let mut response = handle(state, peer.ip(), request).await;
                        secure(response.headers_mut());
                        Ok::<_, Infallible>(response)
                    }
                });
                if http2 {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    return;
                }
                // `LOAD_WRITEV=0`: hyper's flattening write strategy, as
                // Portico's server uses by default (like for like).
                let _ = hyper::server::conn::http1::Builder::new()
                    .writev(writev)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
