//! Extractors that read the request head: headers, method, URI, and the
//! whole request.

use http::request::Parts;
use http::{HeaderMap, Method, Uri};

use super::{FromRequest, RequestContext};
use crate::body::Body;
use crate::response::Rejection;

impl FromRequest for HeaderMap {
    type Rejection = std::convert::Infallible;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        Ok(ctx.headers().clone())
    }
}

impl FromRequest for Method {
    type Rejection = std::convert::Infallible;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        Ok(ctx.method().clone())
    }
}

impl FromRequest for Uri {
    type Rejection = std::convert::Infallible;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        Ok(ctx.uri().clone())
    }
}

/// The whole request, body included.
impl FromRequest for http::Request<Body> {
    type Rejection = Rejection;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        let body = ctx.take_body()?;
        let parts: &Parts = ctx.parts();
        let mut request = http::Request::new(body);
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        *request.extensions_mut() = parts.extensions.clone();
        Ok(request)
    }
}
