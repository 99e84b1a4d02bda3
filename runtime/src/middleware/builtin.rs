//! Built-in layers: request id, access log, catch-panic, timeout, body limit.

use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::HeaderValue;
use http::header::{CONTENT_LENGTH, HeaderName};
use tracing::Instrument;

use super::{Middleware, Next, Request};
use crate::handler::CatchUnwind;
use crate::openapi::Operation;
use crate::response::{IntoResponse, Rejection, Response};

/// The request's id, set by [`RequestId`]; handlers read it with
/// `Extension<XRequestId>`, logs carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XRequestId(pub HeaderValue);

/// Gives every request an id: keeps a well-formed incoming `X-Request-Id`
/// (1 to 128 of `A-Z a-z 0-9 - _ . :`), else makes one; puts it in the
/// request's extensions ([`XRequestId`]) and echoes it on the response.
///
/// The rest of the request runs in a `tracing` span named `request`
/// (target `portico::request`) with fields `request_id` and `route` (the matched route's
/// template, recorded once routed): every event inside — a handler's
/// `tracing::error!`, Portico's own warnings, the access log — carries
/// them, so a 500 in the logs leads to its request.
#[derive(Debug, Clone)]
pub struct RequestId {
    header: HeaderName,
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId {
            header: HeaderName::from_static("x-request-id"),
        }
    }
}

impl RequestId {
    /// Uses `header` instead of `X-Request-Id`.
    pub fn header(header: HeaderName) -> Self {
        RequestId { header }
    }
}

fn well_formed(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// 32 hex digits, unique in the process and unpredictable across runs
/// (they are not secrets): a counter mixed with a per-process random key
/// by a bijection, so ids cannot repeat before the counter wraps.
fn new_id() -> HeaderValue {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEY: OnceLock<(u64, u64)> = OnceLock::new();
    let (k0, k1) = *KEY.get_or_init(|| {
        // `RandomState` is seeded randomly per process.
        let state = std::collections::hash_map::RandomState::new();
        (state.hash_one(0u8), state.hash_one(1u8))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut text = [0u8; 32];
    hex(mix(n ^ k0), &mut text[..16]);
    hex(mix(n.wrapping_add(k1)), &mut text[16..]);
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// The SplitMix64 finalizer: a bijection on `u64` that scatters bits.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hex(value: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = DIGITS[((value >> (60 - 4 * i)) & 0xf) as usize];
    }
}

impl Middleware for RequestId {
    async fn call(&self, mut request: Request, next: Next) -> Response {
        let id = request
            .headers()
            .get(&self.header)
            .filter(|id| well_formed(id))
            .cloned()
            .unwrap_or_else(new_id);
        request
            .headers_mut()
            .insert(self.header.clone(), id.clone());
        request.extensions_mut().insert(XRequestId(id.clone()));
        // The id is well-formed or made here: nothing from the network
        // reaches the log unchecked.
        // Behind routing (a route layer) the route is known now; before
        // it, the route step records it once routed.
        let span = tracing::info_span!(
            target: "portico::request",
            "request",
            request_id = id.to_str().unwrap_or("-"),
            route = next.route_template(),
        );
        let mut response = next.run(request).instrument(span).await;
        response.headers_mut().insert(self.header.clone(), id);
        response
    }
}

/// Logs one `tracing` event per request at INFO, target `portico::access`:
/// method, path, status, latency and request id (when [`RequestId`] runs
/// before it).
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLog;

impl Middleware for AccessLog {
    async fn call(&self, request: Request, next: Next) -> Response {
        let started = Instant::now();
        let method = request.method().clone();
        // A clone of the URI shares its bytes; the path is not copied.
        let uri = request.uri().clone();
        let id = request
            .extensions()
            .get::<XRequestId>()
            .map(|id| id.0.clone());
        let response = next.run(request).await;
        tracing::info!(
            target: "portico::access",
            method = %method,
            path = %uri.path(),
            status = response.status().as_u16(),
            latency_us = started.elapsed().as_micros() as u64,
            request_id = id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or("-"),
            "request"
        );
        response
    }
}

/// Turns a panic anywhere inside it — a layer or a handler — into a 500
/// envelope with nothing internal in it. (Handlers are always guarded;
/// this guards the layers inside it too.)
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanic;

impl Middleware for CatchPanic {
    async fn call(&self, request: Request, next: Next) -> Response {
        match CatchUnwind(Box::pin(next.run(request))).await {
            Ok(response) => response,
            Err(()) => {
                tracing::error!("a middleware or handler panicked");
                Rejection::Panic.into_response()
            }
        }
    }
}

/// Answers 504 (envelope) when the rest of the onion takes longer than
/// the duration; the inner work is dropped (cancelled) at that point.
#[derive(Debug, Clone, Copy)]
pub struct Timeout(pub Duration);

impl Middleware for Timeout {
    async fn call(&self, request: Request, next: Next) -> Response {
        match tokio::time::timeout(self.0, next.run(request)).await {
            Ok(response) => response,
            Err(_) => Rejection::Timeout { after: self.0 }.into_response(),
        }
    }

    fn describe(&self, op: &mut Operation<'_>) {
        let after = self.0.as_millis();
        op.error(504, &format!("the request took longer than {after} ms"));
    }
}

/// The largest request body, in bytes, for the routes it wraps: a declared
/// `Content-Length` above it is a 413 at once; body extractors stop
/// reading at it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl Middleware for BodyLimit {
    async fn call(&self, mut request: Request, next: Next) -> Response {
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.0 as u64) {
            return Rejection::PayloadTooLarge { limit: self.0 }.into_response();
        }
        request
            .extensions_mut()
            .insert(crate::extract::LayerBodyLimit(self.0));
        next.run(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_ids_are_32_hex_digits_and_distinct() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| {
            id.len() == 32
                && id
                    .as_bytes()
                    .iter()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }));
    }
}
