//! HTTP-facing errors: `ApiError` for handlers, `Rejection` for what the
//! framework refuses itself, and the one place where each maps to a status.

use std::borrow::Cow;
use std::fmt;

use http::header::{ALLOW, HeaderName};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde::ser::Serializer;

use crate::text::untrusted;
use crate::validate::ValidationErrors;

/// An error a handler (or an extractor) returns: a status, a message for
/// the client, and optionally per-field details. It is sent as a failed
/// envelope: `{"success":false,"data":null,"error":{"message":…,"code":…}}`.
///
/// ```
/// use portico_runtime::response::ApiError;
///
/// let err = ApiError::not_found("no such user");
/// assert_eq!(err.status().as_u16(), 404);
/// assert_eq!(err.message(), "no such user");
/// ```
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    message: Cow<'static, str>,
    fields: Option<Fields>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// What `error.fields` carries.
#[derive(Debug, Clone)]
enum Fields {
    /// Each failing field of a validated request, serialised as it is.
    Invalid(ValidationErrors),
    /// Details a handler attached.
    Json(serde_json::Value),
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Fields::Invalid(errors) => errors.serialize(serializer),
            Fields::Json(value) => value.serialize(serializer),
        }
    }
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $status:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<Cow<'static, str>>) -> Self {
                Self::new(StatusCode::$status, message)
            }
        )*
    };
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            status,
            message: message.into(),
            fields: None,
            headers: Vec::new(),
        }
    }

    constructors! {
        /// 400 Bad Request.
        bad_request => BAD_REQUEST;
        /// 401 Unauthorized.
        unauthorized => UNAUTHORIZED;
        /// 403 Forbidden.
        forbidden => FORBIDDEN;
        /// 404 Not Found.
        not_found => NOT_FOUND;
        /// 409 Conflict.
        conflict => CONFLICT;
        /// 422 Unprocessable Content.
        unprocessable => UNPROCESSABLE_ENTITY;
        /// 429 Too Many Requests.
        too_many_requests => TOO_MANY_REQUESTS;
        /// 500 Internal Server Error. Say nothing internal in `message`.
        internal => INTERNAL_SERVER_ERROR;
        /// 503 Service Unavailable.
        unavailable => SERVICE_UNAVAILABLE;
    }

    /// A 422 listing every failing field of `errors` in `error.fields`.
    pub fn invalid(errors: ValidationErrors) -> Self {
        let mut error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation failed");
        error.fields = Some(Fields::Invalid(errors));
        error
    }

    /// Replaces the message.
    pub(crate) fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// Attaches details, sent as `error.fields`.
    pub fn with_fields(mut self, fields: serde_json::Value) -> Self {
        self.fields = Some(Fields::Json(fields));
        self
    }

    /// Adds a response header (`Allow`, `Retry-After`, `WWW-Authenticate`, …).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The details attached with [`with_fields`](ApiError::with_fields).
    pub fn fields(&self) -> Option<&serde_json::Value> {
        match &self.fields {
            Some(Fields::Json(value)) => Some(value),
            Some(Fields::Invalid(_)) | None => None,
        }
    }

    /// The failing fields of a validation error ([`invalid`](ApiError::invalid)).
    pub fn validation_errors(&self) -> Option<&ValidationErrors> {
        match &self.fields {
            Some(Fields::Invalid(errors)) => Some(errors),
            Some(Fields::Json(_)) | None => None,
        }
    }

    /// The extra response headers.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl Serialize for ApiError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        super::envelope::serialize_failure(
            serializer,
            &self.message,
            self.status.as_u16(),
            self.fields.as_ref(),
        )
    }
}

/// A connection the pool could not give (timeout, database down, pool
/// closed) is a 503 the client may retry; the detail goes to the log.
impl<E: std::error::Error + 'static> From<crate::pool::PoolError<E>> for ApiError {
    fn from(err: crate::pool::PoolError<E>) -> Self {
        tracing::warn!(error = %untrusted(&err.to_string()), "no database connection");
        ApiError::unavailable("the database is unavailable; retry later")
    }
}

/// A failed SQLite call is a 500; the detail goes to the log.
#[cfg(feature = "sqlite")]
impl From<crate::pool::SqliteError> for ApiError {
    fn from(err: crate::pool::SqliteError) -> Self {
        tracing::error!(error = %untrusted(&err.to_string()), "database call failed");
        ApiError::internal("internal server error")
    }
}

/// A failed PostgreSQL call is a 500, or a 503 when the connection is
/// gone; the detail goes to the log.
#[cfg(feature = "postgres")]
impl From<crate::pool::tokio_postgres::Error> for ApiError {
    fn from(err: crate::pool::tokio_postgres::Error) -> Self {
        tracing::error!(error = %untrusted(&err.to_string()), "database call failed");
        let io =
            std::error::Error::source(&err).is_some_and(|source| source.is::<std::io::Error>());
        if err.is_closed() || io {
            ApiError::unavailable("the database is unavailable; retry later")
        } else {
            ApiError::internal("internal server error")
        }
    }
}

/// A request the framework itself refused, before or instead of the handler.
///
/// Every variant becomes an [`ApiError`] with the status given by
/// [`Rejection::status`] — the one place where those statuses are decided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No route has this path.
    #[error("no route for {method} {path}")]
    NoRoute {
        /// The request method.
        method: http::Method,
        /// The request path.
        path: String,
    },
    /// The path exists, but not for this method.
    #[error("method {method} is not allowed here; allowed: {}", allow.to_str().unwrap_or(""))]
    MethodNotAllowed {
        /// The request method.
        method: http::Method,
        /// The `Allow` header value.
        allow: HeaderValue,
    },
    /// An HTTP/1.1 request without exactly one `Host` header.
    #[error("an HTTP/1.1 request needs exactly one Host header; found {found}")]
    HostHeader {
        /// How many there were.
        found: usize,
    },
    /// More header fields than the server accepts (HTTP/2; hyper refuses
    /// an HTTP/1.1 head itself).
    #[error("the request has {found} header fields; at most {max} are accepted")]
    TooManyHeaders {
        /// How many there were.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A path parameter did not parse as its argument's type.
    #[error(
        "path parameter `{name}`: cannot parse `{}` as {expected}: {}",
        untrusted(value),
        untrusted(reason)
    )]
    BadParam {
        /// The parameter name.
        name: &'static str,
        /// The decoded value.
        value: String,
        /// The expected type.
        expected: &'static str,
        /// Why it did not parse.
        reason: String,
    },
    /// A path parameter is not UTF-8 once percent-decoded.
    #[error("path parameter `{name}` is not valid UTF-8 once percent-decoded")]
    ParamNotUtf8 {
        /// The parameter name.
        name: &'static str,
    },
    /// The query string does not fit the type asked for.
    #[error("the query string does not have the expected parameters")]
    BadQuery(ValidationErrors),
    /// A pagination cursor this API did not give out (tampered with,
    /// made for another listing, or not a cursor at all).
    #[error("the pagination cursor is not one this API gave out for this listing")]
    BadCursor(ValidationErrors),
    /// A JSON body without a JSON `Content-Type`.
    #[error("expected a request with `Content-Type: application/json`, found {}", found.as_deref().map_or("none".to_owned(), |f| format!("`{}`", untrusted(f))))]
    UnsupportedMediaType {
        /// The content type sent, if any.
        found: Option<String>,
    },
    /// The body is not well-formed JSON.
    #[error(
        "malformed JSON at line {line}, column {column}: {}",
        untrusted(message)
    )]
    MalformedJson {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The body is JSON but not of the expected shape.
    #[error("the JSON body does not have the expected shape")]
    InvalidJson(ValidationErrors),
    /// The body is longer than the configured limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A text body that is not UTF-8.
    #[error("request body is not valid UTF-8")]
    BodyNotUtf8,
    /// The request is well-formed but breaks the declared constraints.
    #[error("validation failed: {0}")]
    Invalid(ValidationErrors),
    /// The client did not send its body in time.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// The body could not be read from the connection.
    #[error("failed to read the request body")]
    BodyRead,
    /// Two extractors of one handler both wanted the body.
    #[error("the request body was already taken by another extractor")]
    BodyAlreadyTaken,
    /// The request took longer than a `Timeout` layer allows.
    #[error("the request took longer than {} ms", after.as_millis())]
    Timeout {
        /// The limit.
        after: std::time::Duration,
    },
    /// An `Extension<T>` no layer provided.
    #[error("internal server error")]
    MissingExtension(&'static str),
    /// The handler panicked.
    #[error("internal server error")]
    Panic,
}

impl Rejection {
    /// The HTTP status of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::NoRoute { .. } => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::BadParam { .. }
            | Rejection::HostHeader { .. }
            | Rejection::ParamNotUtf8 { .. }
            | Rejection::MalformedJson { .. }
            | Rejection::BodyNotUtf8
            | Rejection::BadCursor(_)
            | Rejection::BodyRead => StatusCode::BAD_REQUEST,
            Rejection::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejection::InvalidJson(_) | Rejection::BadQuery(_) | Rejection::Invalid(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Rejection::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::TooManyHeaders { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Rejection::BodyAlreadyTaken | Rejection::Panic | Rejection::MissingExtension(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Rejection::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Rejection::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        let status = rejection.status();
        let message = rejection.to_string();
        match rejection {
            Rejection::Invalid(errors) => return ApiError::invalid(errors),
            Rejection::InvalidJson(errors)
            | Rejection::BadQuery(errors)
            | Rejection::BadCursor(errors) => {
                let mut error = ApiError::invalid(errors).with_message(message);
                error.status = status;
                return error;
            }
            _ => {}
        }
        let error = ApiError::new(status, message);
        match rejection {
            Rejection::MethodNotAllowed { allow, .. } => error.with_header(ALLOW, allow),
            _ => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_serialises_as_failed_envelope_with_fields() {
        let err = ApiError::unprocessable("invalid body")
            .with_fields(serde_json::json!({"email": ["not an email"]}));
        assert!(err.validation_errors().is_none());
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"success":false,"data":null,"error":{"message":"invalid body","code":422,"fields":{"email":["not an email"]}}}"#
        );
    }

    #[test]
    fn method_not_allowed_carries_allow() {
        let err = ApiError::from(Rejection::MethodNotAllowed {
            method: http::Method::PUT,
            allow: HeaderValue::from_static("GET, HEAD, OPTIONS"),
        });
        assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(err.headers()[0].1, "GET, HEAD, OPTIONS");
    }

    #[test]
    fn validation_errors_are_written_into_the_envelope_as_they_are() {
        let mut errors = ValidationErrors::new();
        errors.add(
            "email",
            crate::validate::ValidationError::new("email").with_message("not an email"),
        );
        let err = ApiError::from(Rejection::Invalid(errors.clone()));
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.validation_errors(), Some(&errors));
        let expected = format!(
            r#"{{"success":false,"data":null,"error":{{"message":"validation failed","code":422,"fields":{}}}}}"#,
            serde_json::to_string(&errors).unwrap()
        );
        assert_eq!(serde_json::to_string(&err).unwrap(), expected);
    }
}
