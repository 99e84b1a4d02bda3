//! Turning handler results into HTTP responses, always through the envelope.

mod describe;
mod envelope;
mod error;

pub use envelope::{ApiResponse, CursorMeta, Meta};
pub use error::{ApiError, Rejection};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, LOCATION};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use crate::body::Body;

/// The HTTP response type of Portico.
pub type Response = http::Response<Body>;

/// Something a handler can return.
///
/// Implemented for the envelope types ([`ApiResponse`], [`ApiError`]),
/// `Json`, strings and bytes, [`StatusCode`], `(StatusCode, T)`,
/// [`Created<T>`], `()` (204) and `Result<T, E>` where both sides are.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a handler",
    label = "this is not a response type",
    note = "return `ApiResponse<T>`, `Result<ApiResponse<T>, ApiError>`, `Json<T>`, `String`, `StatusCode`, or a type that implements `portico::IntoResponse`"
)]
pub trait IntoResponse {
    /// Builds the response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(err) => err.into_response(),
        }
    }
}

impl IntoResponse for std::convert::Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = self;
        response
    }
}

/// An empty 204 No Content.
impl IntoResponse for () {
    fn into_response(self) -> Response {
        StatusCode::NO_CONTENT.into_response()
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

fn with_content_type(body: Body, content_type: HeaderValue) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

// Constants, so the header bytes are checked once at compile time rather
// than on every response (`from_static` called at run time loops over them).
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), TEXT)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), TEXT)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), OCTET_STREAM)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        with_content_type(Body::from(self), OCTET_STREAM)
    }
}

/// Serialises `value` as a JSON response with `status`. A value that fails
/// to serialise (a map with non-string keys, a failing `Serialize` impl) is
/// a bug on the server side: it is logged and answered with a 500 envelope.
pub(crate) fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    // Into a `Vec` (serde_json starts it at 128 bytes): its writer is a
    // plain copy, cheaper per token than a `BytesMut`'s.
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut response = with_content_type(Body::from(bytes), JSON);
            *response.status_mut() = status;
            response
        }
        Err(err) => unserialisable(&err),
    }
}

/// The answer to a value that failed to serialise: not generic, so that
/// the log event and the 500 are not generated again for each response
/// type.
#[cold]
fn unserialisable(err: &serde_json::Error) -> Response {
    tracing::error!(error = %err, "failed to serialise a response body");
    ApiError::internal("internal server error").into_response()
}

impl<T: Serialize> IntoResponse for ApiResponse<T> {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status(), &self);
        if let Some(link) = self.link() {
            response
                .headers_mut()
                .insert(http::header::LINK, link.clone());
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status(), &self);
        let headers = response.headers_mut();
        for (name, value) in self.headers() {
            headers.append(name.clone(), value.clone());
        }
        response
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let before_handler = !matches!(self, Rejection::Panic | Rejection::Timeout { .. });
        let response = ApiError::from(self).into_response();
        if before_handler {
            refused(response)
        } else {
            response
        }
    }
}

/// Marks a response that refused its request before the handler ran (no
/// route, a bad body, failed validation or authentication, a rate limit),
/// in the response's extensions. Such a request changed nothing, so the
/// idempotency layer does not store its answer: the client can fix the
/// request and retry it with the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// `response`, marked [`Refused`]. A middleware that turns a request away
/// before the handler marks its answer so.
pub fn refused(mut response: Response) -> Response {
    response.extensions_mut().insert(Refused);
    response
}

/// A `201 Created` response, optionally with a `Location` header.
///
/// ```
/// use portico_runtime::response::{ApiResponse, Created, IntoResponse};
///
/// let response = Created::at("/users/7", ApiResponse::ok(7)).into_response();
/// assert_eq!(response.status(), 201);
/// assert_eq!(response.headers()["location"], "/users/7");
/// ```
#[derive(Debug, Clone)]
pub struct Created<T> {
    location: Option<String>,
    body: T,
}

impl<T> Created<T> {
    /// 201 with `body`.
    pub fn new(body: T) -> Self {
        Created {
            location: None,
            body,
        }
    }

    /// 201 with `body` and `Location: location`.
    pub fn at(location: impl Into<String>, body: T) -> Self {
        Created {
            location: Some(location.into()),
            body,
        }
    }
}

impl<T: IntoResponse> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let mut response = self.body.into_response();
        *response.status_mut() = StatusCode::CREATED;
        if let Some(location) = self.location.and_then(|l| HeaderValue::try_from(l).ok()) {
            response.headers_mut().insert(LOCATION, location);
        }
        response
    }
}

/// A response rendered ahead of time from a `T`, to be sent later: an
/// idempotency key's answer is rendered inside the handler's transaction
/// so that it is recorded with the writes. The OpenAPI document
/// describes it as `T`.
///
/// ```
/// use portico_runtime::response::{ApiResponse, IntoResponse, Rendered};
///
/// let rendered = Rendered::new(ApiResponse::ok(7));
/// assert_eq!(rendered.into_response().status(), 200);
/// ```
pub struct Rendered<T> {
    response: Response,
    rendered_from: std::marker::PhantomData<fn() -> T>,
}

impl<T: IntoResponse> Rendered<T> {
    /// Renders `value`.
    pub fn new(value: T) -> Self {
        Rendered::from_response(value.into_response())
    }
}

impl<T> Rendered<T> {
    /// `response`, which the caller rendered from a `T`.
    pub(crate) fn from_response(response: Response) -> Self {
        Rendered {
            response,
            rendered_from: std::marker::PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Rendered<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("status", &self.response.status())
            .finish_non_exhaustive()
    }
}

impl<T> IntoResponse for Rendered<T> {
    fn into_response(self) -> Response {
        self.response
    }
}
