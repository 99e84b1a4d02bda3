//! Built-in layers: request id, access log, catch-panic, timeout, body limit.

use std::time::{Duration, Instant};

use http::HeaderValue;
use http::header::{CONTENT_LENGTH, HeaderName};
use tracing::Instrument;

use super::{Middleware, Next, Request};
use crate::handler::CatchUnwind;
use crate::openapi::Operation;
use crate::response::{IntoResponse, Rejection, Response};
use crate::trace::Trace;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The request's id, set by [`RequestId`]; handlers read it with
/// `Extension<XRequestId>`, logs carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XRequestId(pub HeaderValue);

/// Gives every request an id and its place in a trace.
///
/// The trace (W3C Trace Context): a well-formed `traceparent` (and its
/// `tracestate`) continues the caller's trace under a new span; otherwise
/// the request starts a trace. It is current for the request's duration
/// ([`trace::current`](crate::trace::current), for a handler to pass on to
/// the services it calls): a task enqueued meanwhile keeps it, and its run
/// continues the trace.
///
/// The id: a well-formed incoming `X-Request-Id` (1 to 128 of
/// `A-Z a-z 0-9 - _ . :`), else the trace id; it goes into the
/// request's extensions ([`XRequestId`]) and is echoed on the response.
///
/// The rest of the request runs in a `tracing` span named `request`
/// (target `portico::request`) with fields `request_id`, `route` (the
/// matched route's template, recorded once routed), `trace_id`,
/// `span_id`, `parent_id`, and the OpenTelemetry attributes `otel.name`
/// (`GET /users/<id>`), `otel.kind`, `http.request.method`, `http.route`
/// and `http.response.status_code` (a `tracing-opentelemetry` layer names
/// and exports the span by them): every event inside — a handler's
/// `tracing::error!`, Portico's own warnings, the access log — carries
/// them, so a 500 in the logs leads to its request and its trace.
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

impl Middleware for RequestId {
    async fn call(&self, mut request: Request, next: Next) -> Response {
        let headers = request.headers();
        let trace = headers
            .get(TRACEPARENT)
            .and_then(|parent| Trace::continued(parent, || headers.get(TRACESTATE)))
            .unwrap_or_else(Trace::root);
        let id = headers
            .get(&self.header)
            .filter(|id| well_formed(id))
            .cloned()
            .unwrap_or_else(|| trace.trace_id_header());
        request
            .headers_mut()
            .insert(self.header.clone(), id.clone());
        request.extensions_mut().insert(XRequestId(id.clone()));
        // The id is well-formed or made here, and the trace's fields are
        // hex: nothing from the network reaches the log unchecked.
        // Behind routing (a route layer) the route is known now; before
        // it, the route step records it once routed.
        let (trace_id, span_id, parent_id) = trace.fields();
        // Text fields are written with `Display`: each is checked above or
        // the developer's own, and `Debug` would quote and escape every
        // character of them on every request.
        let route = next.route_template();
        let span = tracing::info_span!(
            target: "portico::request",
            "request",
            request_id = %id.to_str().unwrap_or("-"),
            route = route.map(tracing::field::display),
            trace_id = %trace_id,
            span_id = %span_id,
            parent_id = parent_id.map(tracing::field::display),
            "otel.name" = next.route_name().map(tracing::field::display),
            "otel.kind" = %"server",
            "http.request.method" = %request.method(),
            "http.route" = route.map(tracing::field::display),
            "http.response.status_code" = tracing::field::Empty,
        );
        // The future keeps the span; it is read back from there after the
        // answer, rather than cloned for that (a clone and a close of the
        // span per request, in the subscriber's registry).
        let mut running =
            std::pin::pin!(crate::trace::scope(trace, next.run(request)).instrument(span));
        let mut response = running.as_mut().await;
        running
            .span()
            .record("http.response.status_code", response.status().as_u16());
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
        let trace = crate::trace::current().map(|trace| trace.fields());
        let response = next.run(request).await;
        tracing::info!(
            target: "portico::access",
            method = %method,
            path = %uri.path(),
            status = response.status().as_u16(),
            latency_us = started.elapsed().as_micros() as u64,
            request_id = %id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or("-"),
            trace_id = trace.as_ref().map(|(trace_id, ..)| tracing::field::display(trace_id)),
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
        let stats = next.stats();
        match CatchUnwind::new(next.run(request)).await {
            Ok(response) => response,
            Err(()) => {
                crate::metrics::ServerStats::count(&stats.panics);
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
        let ids: std::collections::HashSet<_> = (0..10_000)
            .map(|_| Trace::root().trace_id_header())
            .collect();
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
