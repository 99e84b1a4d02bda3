//! The `{success, data, error, meta}` envelope, all four of its shapes:
//! ok, a numbered page and a cursor page ([`ApiResponse`]), and fail
//! (written for `ApiError`).

use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

/// Pagination figures carried by a numbered page's envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Meta {
    /// Items in the whole collection.
    pub total: u64,
    /// The page this envelope carries, from 1.
    pub page: u64,
    /// Items per page (the last page may carry fewer).
    pub page_size: u64,
    /// `ceil(total / page_size)`.
    pub pages: u64,
}

/// Where a cursor page's envelope leads: the opaque cursors of the pages
/// on either side (`null` at an end), and the `Link` header (RFC 8288)
/// that says the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CursorMeta {
    /// The most items a page carries.
    pub limit: u32,
    /// The cursor to send as `?after=` for the next page.
    pub next: Option<String>,
    /// The cursor to send as `?before=` for the previous page.
    pub prev: Option<String>,
    #[serde(skip)]
    pub(crate) link: Option<HeaderValue>,
}

/// A successful envelope: what a handler returns for data. Failures are
/// [`ApiError`](super::ApiError)s, which share the envelope.
///
/// Its shapes, exactly (the seed's, which clients already parse):
///
/// | shape | body |
/// |---|---|
/// | [`ok`](ApiResponse::ok) | `{"success":true,"data":…,"error":null}` (no `meta`) |
/// | [`paginated`](ApiResponse::paginated) | `{"success":true,"data":[…],"meta":{"total":…,"page":…,"page_size":…,"pages":…}}` (no `error`) |
/// | a cursor page (`Cursor::page`) | `{"success":true,"data":[…],"meta":{"limit":…,"next":"…"/null,"prev":"…"/null}}` (no `error`), and a `Link` header |
/// | a failure ([`ApiError`](super::ApiError), every refusal) | `{"success":false,"data":null,"error":{"message":…,"code":…}}`, with `error.fields` when fields failed |
///
/// `error.fields` maps each failing field's path (`email`, `address.city`,
/// `tags[2]`, a query parameter's name) to a list of
/// `{"code":…,"message":…,"params":{…}}`. The readiness route uses the
/// same shapes: its report is `data` when ready, `error.fields` when not.
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
///     r#"{"success":true,"data":[1,2,3],"meta":{"total":10,"page":1,"page_size":3,"pages":4}}"#
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
    Cursor(T, CursorMeta),
}

impl<T> ApiResponse<T> {
    /// A successful envelope (200) carrying `data`.
    pub fn ok(data: T) -> Self {
        ApiResponse {
            status: StatusCode::OK,
            body: Envelope::Ok(data),
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

    /// The data the envelope carries.
    pub fn data(&self) -> &T {
        match &self.body {
            Envelope::Ok(data) | Envelope::Paginated(data, _) | Envelope::Cursor(data, _) => data,
        }
    }

    /// The `Link` header a cursor page is sent with.
    pub(super) fn link(&self) -> Option<&HeaderValue> {
        match &self.body {
            Envelope::Cursor(_, meta) => meta.link.as_ref(),
            _ => None,
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
            body: Envelope::Paginated(
                items,
                Meta {
                    total,
                    page,
                    page_size,
                    pages,
                },
            ),
        }
    }

    /// One page of a listing paged by cursors (made by `Cursor::page`).
    pub(crate) fn cursor_page(items: Vec<T>, meta: CursorMeta) -> Self {
        ApiResponse {
            status: StatusCode::OK,
            body: Envelope::Cursor(items, meta),
        }
    }
}

impl<T: Serialize> Serialize for ApiResponse<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // One body for the three shapes: what follows `data` is written
        // by code that is not generic over `T`, so each response type
        // costs one serializer, not three (a debug build generates every
        // arm for every `T`).
        let (data, key, last) = match &self.body {
            Envelope::Ok(data) => (data, "error", Last::Null),
            Envelope::Paginated(data, meta) => (data, "meta", Last::Page(meta)),
            Envelope::Cursor(data, meta) => (data, "meta", Last::Cursor(meta)),
        };
        let mut s = serializer.serialize_struct("ApiResponse", 3)?;
        s.serialize_field("success", &true)?;
        s.serialize_field("data", data)?;
        s.serialize_field(key, &last)?;
        s.end()
    }
}

/// The field after `data` in a success: `"error":null`, or a page's
/// `"meta":{…}`.
enum Last<'a> {
    Null,
    Page(&'a Meta),
    Cursor(&'a CursorMeta),
}

impl Serialize for Last<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Last::Null => serializer.serialize_unit(),
            Last::Page(meta) => meta.serialize(serializer),
            Last::Cursor(meta) => meta.serialize(serializer),
        }
    }
}

/// Writes the fail shape: `{"success":false,"data":null,"error":{…}}`.
pub(super) fn serialize_failure<S: Serializer, F: Serialize>(
    serializer: S,
    message: &str,
    code: u16,
    fields: Option<&F>,
) -> Result<S::Ok, S::Error> {
    struct Detail<'a, F> {
        message: &'a str,
        code: u16,
        fields: Option<&'a F>,
    }
    impl<F: Serialize> Serialize for Detail<'_, F> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let len = 2 + usize::from(self.fields.is_some());
            let mut s = serializer.serialize_struct("Error", len)?;
            s.serialize_field("message", self.message)?;
            s.serialize_field("code", &self.code)?;
            if let Some(fields) = self.fields {
                s.serialize_field("fields", fields)?;
            }
            s.end()
        }
    }
    let mut s = serializer.serialize_struct("ApiResponse", 3)?;
    s.serialize_field("success", &false)?;
    s.serialize_field("data", &())?;
    s.serialize_field(
        "error",
        &Detail {
            message,
            code,
            fields,
        },
    )?;
    s.end()
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
        assert_eq!(
            json(&super::super::ApiError::not_found("Not found")),
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
}
