//! `RequestHead`: the narrow view of a request that request-scoped
//! factories read, so that injection needs nothing else of HTTP.

use std::net::SocketAddr;

use http::{Extensions, HeaderMap, Method, Uri};

use crate::body::Body;

/// The head of the request a request-scoped factory (`App::provide_request`)
/// makes its value for: method, URI, headers, the extensions middleware
/// attached (verified claims, say) and the client's address. The body is
/// for the handler's extractors alone.
///
/// ```
/// use portico_runtime::{App, inject::RequestHead};
///
/// /// The caller's `X-Tenant`, made once per request that needs it.
/// struct Tenant(String);
///
/// let app = App::new().provide_request(|head: &RequestHead<'_>| {
///     let tenant = head.headers().get("x-tenant").and_then(|v| v.to_str().ok());
///     Tenant(tenant.unwrap_or("public").to_owned())
/// });
/// assert!(app.verify().is_ok());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    request: &'a http::Request<Body>,
    peer: Option<SocketAddr>,
}

impl<'a> RequestHead<'a> {
    pub(crate) fn new(request: &'a http::Request<Body>, peer: Option<SocketAddr>) -> Self {
        RequestHead { request, peer }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.request.method()
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.request.uri()
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.request.headers()
    }

    /// Typed values that middleware attached to the request.
    pub fn extensions(&self) -> &'a Extensions {
        self.request.extensions()
    }

    /// The address of the client's end of the connection (`None` when the
    /// request did not come over a socket).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }
}
