//! HTTP caching: a route's declared policy put on its responses
//! (`Cache-Control`, `Vary`, a strong `ETag`), conditional requests
//! (`If-None-Match` → 304, [`IfMatch`] → 412), and the server-side
//! [`ResponseCache`] over a [`ResponseStore`].
//!
//! A route declares its policy in `#[route]`:
//!
//! ```text
//! #[route(GET, "/users/<id>", cache(no_cache, server = 60, tag = "user:<id>"))]
//! ```
//!
//! `max_age = N` (seconds fresh), `stale_while_revalidate = N`, `public`
//! or `private` (the default), `no_cache` (stored, revalidated on every
//! use), `server` or `server = N` (kept server-side for `max_age` or N
//! seconds), `tag = "…<param>…"` (what invalidates the kept responses),
//! `vary = "Accept-Language"` (request headers the answer depends on;
//! `Authorization` is added for a route that takes `Claims` or a role).
//! The macro refuses a policy on a route that is not GET and `public` on
//! one that reads the caller's token. A response from a route without a
//! policy is sent `Cache-Control: no-store`.

mod etag;
mod response_cache;
mod store;

pub use etag::{ETag, IfMatch};
pub use response_cache::ResponseCache;
pub use store::{
    DEFAULT_MAX_BYTES, DEFAULT_MAX_RESPONSES, KeptResponse, MemoryResponses, ResponseFuture,
    ResponseKey, ResponseStore, ResponseStoreError,
};

use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::handler::CachePolicy;
use crate::response::Response;

/// Puts a route's policy on a 200 response: `Cache-Control` (unless the
/// handler set its own), `Vary`, and an `ETag` made from the body (unless
/// the handler gave one, from a row version say). Other statuses go out
/// as they are, and leave the pipeline `no-store`.
pub(crate) fn describe(policy: &CachePolicy, mut response: Response) -> Response {
    if response.status() != StatusCode::OK {
        return response;
    }
    let etag = match response.headers().contains_key(ETAG) {
        true => None,
        false => response
            .body()
            .in_memory()
            .map(|body| ETag::of_bytes(&body)),
    };
    let headers = response.headers_mut();
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static(policy.cache_control),
        );
    }
    if !policy.vary.is_empty() {
        headers.insert(VARY, HeaderValue::from_static(policy.vary));
    }
    if let Some(etag) = etag {
        headers.insert(ETAG, etag.into_header());
    }
    response
}

/// A 200 whose `ETag` the client already holds (`If-None-Match`, weak
/// comparison, RFC 9110 §13.1.2) becomes a 304 with the same validators
/// and no body.
pub(crate) fn conditional(if_none_match: Option<&HeaderValue>, mut response: Response) -> Response {
    let Some(held) = if_none_match else {
        return response;
    };
    let fresh = response.status() == StatusCode::OK
        && response
            .headers()
            .get(ETAG)
            .is_some_and(|current| etag::any_matches(held, current, false));
    if fresh {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        *response.body_mut() = crate::body::Body::empty();
        let headers = response.headers_mut();
        headers.remove(CONTENT_TYPE);
        headers.remove(CONTENT_LENGTH);
    }
    response
}

/// The `If-None-Match` a request carries, read before the request moves on.
pub(crate) fn if_none_match(headers: &HeaderMap) -> Option<HeaderValue> {
    headers.get(IF_NONE_MATCH).cloned()
}

/// The tag a handler's response is kept under server-side (`user:42`),
/// which `ResponseCache::invalidate` names.
#[derive(Debug, Clone)]
pub(crate) struct CacheTag(pub(crate) Box<str>);

/// Marks a response with its route's tag, made from the handler's typed
/// path parameters (so `/users/042` and `/users/42` share `user:42`).
#[doc(hidden)]
pub fn tagged(mut response: Response, tag: String) -> Response {
    response
        .extensions_mut()
        .insert(CacheTag(tag.into_boxed_str()));
    response
}
