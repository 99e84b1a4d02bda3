//! Body extractors: `Json<T>`, `Bytes` and `String`, read under the app's
//! body limit.

use bytes::Bytes;
use bytes::BytesMut;
use http::header::CONTENT_TYPE;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::{FromRequest, RequestContext};
use crate::body::Body;
use crate::openapi::{Describe, DescribeResponse, JsonSchema, Operation};
use crate::response::{IntoResponse, Rejection, Response, json_response};
use crate::validate::{SchemaRules, Validate, Validated, ValidationErrors};

/// A JSON body in, a JSON response out.
///
/// As an extractor it needs `Content-Type: application/json` (or
/// `application/*+json`) else 415, a body within the limit else 413,
/// well-formed JSON else 400 with the line and column, and the shape of
/// `T` else 422. As a return value it serialises `T` with status 200.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        json_response(http::StatusCode::OK, &self.0)
    }
}

/// 200 with `T` itself, outside the envelope.
impl<T: JsonSchema> DescribeResponse for Json<T> {
    fn describe_response(op: &mut Operation<'_>) {
        let schema = op.response_schema::<T>();
        op.respond(Some("application/json"), schema);
    }
}

impl<T: Validate> Validated for Json<T> {
    fn validate_extracted(&self) -> Result<(), ValidationErrors> {
        self.0.validate()
    }

    fn rules() -> fn(&mut SchemaRules) {
        T::describe
    }
}

/// A body: 400 when it is cut short, 408 when it comes too slowly, 413
/// when it is larger than the app's limit.
fn describe_body(op: &mut Operation<'_>, content_type: &str, schema: serde_json::Value) {
    op.body(content_type, schema);
    op.error(400, "the body is malformed, or could not be read");
    op.error(408, "the body did not arrive in time");
    let limit = op.limits().body_limit;
    op.error(413, &format!("the body is larger than {limit} bytes"));
}

impl<T: JsonSchema> Describe for Json<T> {
    fn describe(op: &mut Operation<'_>) {
        let schema = op.request_schema::<T>();
        describe_body(op, "application/json", schema);
        op.error(415, "the body is not sent as `application/json`");
        op.error(422, "the body does not fit the schema");
    }
}

impl Describe for Bytes {
    fn describe(op: &mut Operation<'_>) {
        describe_body(op, "application/octet-stream", serde_json::json!({}));
    }
}

impl Describe for String {
    fn describe(op: &mut Operation<'_>) {
        describe_body(op, "text/plain", serde_json::json!({"type": "string"}));
    }
}

/// Whether a `Content-Type` names JSON: `application/json` or
/// `application/<anything>+json`, any parameters after it. Worked on as
/// bytes (a header value that is text is ASCII): a search for a `char`
/// costs several times a byte's.
fn is_json(content_type: &str) -> bool {
    let bytes = content_type.as_bytes();
    let essence = match bytes.iter().position(|&b| b == b';') {
        Some(end) => &bytes[..end],
        None => bytes,
    }
    .trim_ascii();
    let Some(slash) = essence.iter().position(|&b| b == b'/') else {
        return false;
    };
    let (kind, subtype) = (&essence[..slash], &essence[slash + 1..]);
    kind.eq_ignore_ascii_case(b"application")
        && (subtype.eq_ignore_ascii_case(b"json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

/// Reads the whole body, refusing it early when `Content-Length` already
/// says it is too long, and as soon as it grows past the limit otherwise.
pub(crate) async fn read_body(ctx: &mut RequestContext<'_>) -> Result<Bytes, Rejection> {
    let limit = ctx.body_limit();
    let (idle, total) = ctx.body_timeouts();
    let body = ctx.take_body()?;
    read_limited(body, limit, idle, total).await
}

/// Reads `body` whole: at most `limit` bytes, waiting at most `idle` for
/// each piece and `total` in all. A body whose length is known up front
/// (hyper's, from `Content-Length`, which it has parsed and checked) is
/// refused before any of it is read when that is over the limit.
pub(crate) async fn read_limited(
    mut body: Body,
    limit: usize,
    idle: std::time::Duration,
    total: std::time::Duration,
) -> Result<Bytes, Rejection> {
    if body.exact_len().is_some_and(|len| len > limit as u64) {
        return Err(Rejection::PayloadTooLarge { limit });
    }
    let started = tokio::time::Instant::now();
    let deadline = started + total;
    // The next piece is waited for within both the idle wait and the
    // deadline.
    let mut wait = (started + idle).min(deadline);
    // Most bodies come in one piece: kept as it is, copied only when a
    // second piece follows.
    let mut whole = Bytes::new();
    let mut pieces: Option<BytesMut> = None;
    loop {
        let frame = match tokio::time::timeout_at(wait, body.frame()).await {
            Ok(frame) => frame,
            Err(_) => return Err(Rejection::BodyTimeout),
        };
        let data = match frame {
            None => return Ok(pieces.map_or(whole, BytesMut::freeze)),
            Some(Err(_)) => return Err(Rejection::BodyRead),
            // Trailers carry no data.
            Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
        };
        let read = pieces.as_ref().map_or(whole.len(), BytesMut::len);
        if read + data.len() > limit {
            return Err(Rejection::PayloadTooLarge { limit });
        }
        match &mut pieces {
            Some(pieces) => pieces.extend_from_slice(&data),
            None if whole.is_empty() => whole = data,
            None => {
                let mut joined = BytesMut::with_capacity(whole.len() + data.len());
                joined.extend_from_slice(&whole);
                joined.extend_from_slice(&data);
                pieces = Some(joined);
            }
        }
        // A body whose length was declared is known to be whole once that
        // much has come: no wait (nor clock reading) for its end.
        if http_body::Body::is_end_stream(&body) {
            return Ok(pieces.map_or(whole, BytesMut::freeze));
        }
        wait = (tokio::time::Instant::now() + idle).min(deadline);
    }
}

impl<T: DeserializeOwned + Send> FromRequest for Json<T> {
    type Rejection = Rejection;

    const TAKES_BODY: bool = true;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        let content_type = ctx.headers().get(CONTENT_TYPE);
        if !content_type
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json)
        {
            return Err(Rejection::UnsupportedMediaType {
                found: content_type.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            });
        }
        let bytes = read_body(ctx).await?;
        parse_json(&bytes).map(Json)
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    serde_json::from_slice(bytes).map_err(|err| match err.classify() {
        Category::Data => Rejection::InvalidJson(super::shape::json_errors(bytes, &err)),
        Category::Syntax | Category::Eof | Category::Io => Rejection::MalformedJson {
            line: err.line(),
            column: err.column(),
            message: syntax_message(&err),
        },
    })
}

/// serde_json's Display appends " at line L column C"; the rejection
/// carries those as fields, so keep only the description.
fn syntax_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The raw body.
impl FromRequest for Bytes {
    type Rejection = Rejection;

    const TAKES_BODY: bool = true;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        read_body(ctx).await
    }
}

/// The body as UTF-8 text; other bytes are a 400.
impl FromRequest for String {
    type Rejection = Rejection;

    const TAKES_BODY: bool = true;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Self::Rejection> {
        let bytes = read_body(ctx).await?;
        String::from_utf8(bytes.into()).map_err(|_| Rejection::BodyNotUtf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/json"));
        assert!(!is_json("application/jsonx"));
        assert!(!is_json("application/+json"));
        assert!(!is_json(""));
    }

    #[test]
    fn syntax_errors_keep_line_and_column() {
        match parse_json::<serde_json::Value>(b"{\n  \"a\": 1,\n  oops\n}") {
            Err(Rejection::MalformedJson {
                line,
                column,
                message,
            }) => {
                assert_eq!((line, column), (3, 3));
                assert_eq!(message, "key must be a string");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn shape_errors_are_invalid_json() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct S {
            a: u8,
        }
        assert!(matches!(
            parse_json::<S>(b"{\"a\": \"x\"}"),
            Err(Rejection::InvalidJson(_))
        ));
    }
}
