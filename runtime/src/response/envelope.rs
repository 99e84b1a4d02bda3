//! `ApiResponse<T>`: the `{success, data, error, meta}` envelope.

use http::StatusCode;
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

/// Pagination figures carried by a paginated envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Meta {
    /// Items in the whole collection.
    pub total: u64,
    /// The page this envelope carries, from 1.
    pub page: u64,
    /// `ceil(total / page_size)`.
    pub pages: u64,
}

/// The envelope every Portico response body uses.
///
/// ```
/// use portico_runtime::response::ApiResponse;
///
/// let ok = serde_json::to_string(&ApiResponse::ok(1)).unwrap();
/// assert_eq!(ok, r#"{"success":true,"data":1,"error":null}"#);
///
/// let paged = ApiResponse::paginated(vec![1, 2, 3], 10, 1, 3);
/// assert_eq!(
///     serde_json::to_string(&paged).unwrap(),
///     r#"{"success":true,"data":[1,2,3],"meta":{"total":10,"page":1,"pages":4}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "an ApiResponse does nothing until it is returned from a handler"]
pub struct ApiResponse<T> {
    status: StatusCode,
    body: Envelope<T>,
}

#[derive(Debug, Clone, PartialEq)]
enum Envelope<T> {
    Ok(T),
    Paginated(T, Meta),
    Fail { message: String, code: u16 },
}

impl<T> ApiResponse<T> {
    /// A successful envelope (200) carrying `data`.
    pub fn ok(data: T) -> Self {
        ApiResponse {
            status: StatusCode::OK,
            body: Envelope::Ok(data),
        }
    }

    /// A failed envelope carrying `message` and `code`; the HTTP status is
    /// `code` when it is a valid status, else 500.
    pub fn fail(message: impl Into<String>, code: u16) -> Self {
        ApiResponse {
            status: StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: Envelope::Fail {
                message: message.into(),
                code,
            },
        }
    }

    /// Sets the HTTP status (for example 201 or 202 for a success).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The HTTP status this envelope will be sent with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The data of a successful envelope.
    pub fn data(&self) -> Option<&T> {
        match &self.body {
            Envelope::Ok(data) | Envelope::Paginated(data, _) => Some(data),
            Envelope::Fail { .. } => None,
        }
    }
}

impl<T> ApiResponse<Vec<T>> {
    /// One page of a collection: `items` is page `page` (from 1) of
    /// `total` items cut in pages of `page_size`.
    pub fn paginated(items: Vec<T>, total: u64, page: u64, page_size: u64) -> Self {
        let pages = total.checked_div(page_size).map_or(0, |whole| {
            whole + u64::from(!total.is_multiple_of(page_size))
        });
        ApiResponse {
            status: StatusCode::OK,
            body: Envelope::Paginated(items, Meta { total, page, pages }),
        }
    }
}

impl<T: Serialize> Serialize for ApiResponse<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.body {
            Envelope::Ok(data) => {
                let mut s = serializer.serialize_struct("ApiResponse", 3)?;
                s.serialize_field("success", &true)?;
                s.serialize_field("data", data)?;
                s.serialize_field("error", &())?;
                s.end()
            }
            Envelope::Paginated(data, meta) => {
                let mut s = serializer.serialize_struct("ApiResponse", 3)?;
                s.serialize_field("success", &true)?;
                s.serialize_field("data", data)?;
                s.serialize_field("meta", meta)?;
                s.end()
            }
            Envelope::Fail { message, code } => {
                super::error::serialize_failure(serializer, message, *code, None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn seed_shapes() {
        assert_eq!(
            json(&ApiResponse::ok(
                serde_json::json!({"id": 1, "name": "Alice"})
            )),
            r#"{"success":true,"data":{"id":1,"name":"Alice"},"error":null}"#
        );
        let fail = ApiResponse::<()>::fail("Not found", 404);
        assert_eq!(fail.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            json(&fail),
            r#"{"success":false,"data":null,"error":{"message":"Not found","code":404}}"#
        );
    }

    #[test]
    fn pages_round_up_and_survive_zero_page_size() {
        let pages =
            |total, size| match ApiResponse::paginated(Vec::<u8>::new(), total, 1, size).body {
                Envelope::Paginated(_, meta) => meta.pages,
                _ => unreachable!(),
            };
        assert_eq!(pages(10, 3), 4);
        assert_eq!(pages(9, 3), 3);
        assert_eq!(pages(0, 3), 0);
        assert_eq!(pages(5, 0), 0);
    }

    #[test]
    fn invalid_fail_code_is_sent_as_500() {
        assert_eq!(
            ApiResponse::<()>::fail("x", 42).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
