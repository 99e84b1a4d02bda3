//! Extractors that read the request head: headers, method, URI, and the
//! whole request.

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

    const TAKES_BODY: bool = true;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        let body = ctx.take_body()?;
        let head = &*ctx.request;
        let mut request = http::Request::new(body);
        *request.method_mut() = head.method().clone();
        *request.uri_mut() = head.uri().clone();
        *request.version_mut() = head.version();
        *request.headers_mut() = head.headers().clone();
        *request.extensions_mut() = head.extensions().clone();
        Ok(request)
    }
}

/// A typed value a middleware put in the request's extensions (the
/// request id, verified claims, your own). Missing is a 500: a layer that
/// should have run did not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extension<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromRequest for Extension<T> {
    type Rejection = Rejection;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        ctx.extensions()
            .get::<T>()
            .cloned()
            .map(Extension)
            .ok_or(Rejection::MissingExtension(std::any::type_name::<T>()))
    }
}

impl<T> std::ops::Deref for Extension<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
