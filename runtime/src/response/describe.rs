//! What each response type says in the OpenAPI document: its success
//! response and, for `ApiError` and `Rejection`, the failure envelope.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, ApiResponse, Created, Rejection, Rendered, Response};
use crate::openapi::{DescribeResponse, JsonSchema, Operation};

impl<T: JsonSchema> DescribeResponse for ApiResponse<T> {
    fn describe_response(op: &mut Operation<'_>) {
        let data = op.response_schema::<T>();
        op.respond_envelope(data);
    }
}

impl<T: DescribeResponse, E: DescribeResponse> DescribeResponse for Result<T, E> {
    fn describe_response(op: &mut Operation<'_>) {
        T::describe_response(op);
        E::describe_response(op);
    }
}

/// A 201 with `Location`.
impl<T: DescribeResponse> DescribeResponse for Created<T> {
    fn describe_response(op: &mut Operation<'_>) {
        op.success_status(Some(201));
        op.success_header("Location", "the created resource");
        T::describe_response(op);
    }
}

/// The status is the handler's: any 2XX or error, with the inner body.
impl<T: DescribeResponse> DescribeResponse for (StatusCode, T) {
    fn describe_response(op: &mut Operation<'_>) {
        op.success_status(None);
        T::describe_response(op);
        op.default_error();
    }
}

impl DescribeResponse for ApiError {
    fn describe_response(op: &mut Operation<'_>) {
        op.default_error();
    }
}

impl DescribeResponse for Rejection {
    fn describe_response(op: &mut Operation<'_>) {
        op.default_error();
    }
}

impl DescribeResponse for std::convert::Infallible {
    fn describe_response(_: &mut Operation<'_>) {}
}

/// A 204.
impl DescribeResponse for () {
    fn describe_response(op: &mut Operation<'_>) {
        op.success_status(Some(204));
        op.respond(None, Value::Null);
    }
}

/// Whatever the handler built: any status, any body.
impl DescribeResponse for Response {
    fn describe_response(op: &mut Operation<'_>) {
        op.success_status(None);
        op.respond(None, Value::Null);
        op.default_error();
    }
}

/// The status is the handler's, the body empty.
impl DescribeResponse for StatusCode {
    fn describe_response(op: &mut Operation<'_>) {
        op.success_status(None);
        op.respond(None, Value::Null);
        op.default_error();
    }
}

fn text(op: &mut Operation<'_>) {
    op.respond(Some("text/plain; charset=utf-8"), json!({"type": "string"}));
}

impl DescribeResponse for String {
    fn describe_response(op: &mut Operation<'_>) {
        text(op);
    }
}

impl DescribeResponse for &'static str {
    fn describe_response(op: &mut Operation<'_>) {
        text(op);
    }
}

fn bytes(op: &mut Operation<'_>) {
    op.respond(Some("application/octet-stream"), json!({}));
}

impl DescribeResponse for Bytes {
    fn describe_response(op: &mut Operation<'_>) {
        bytes(op);
    }
}

impl DescribeResponse for Vec<u8> {
    fn describe_response(op: &mut Operation<'_>) {
        bytes(op);
    }
}

impl<T: DescribeResponse> DescribeResponse for Rendered<T> {
    fn describe_response(op: &mut Operation<'_>) {
        T::describe_response(op);
    }
}
