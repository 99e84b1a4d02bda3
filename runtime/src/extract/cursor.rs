//! Keyset pagination: the [`Cursor`] extractor (`?limit=&after=` or
//! `&before=`), the signed, opaque cursors it reads and writes, and the
//! page it answers with.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::HeaderValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use super::{FromRequest, RequestContext};
use crate::openapi::{Describe, Listing, Operation};
use crate::response::{ApiResponse, CursorMeta, Rejection};
use crate::validate::{ValidationError, ValidationErrors};

/// The longest cursor read, in characters: a position of a few keys is
/// far shorter, and nothing larger is decoded.
const MAX_CURSOR: usize = 1024;

/// Bytes of HMAC-SHA256 kept in a cursor: 128 bits, beyond guessing.
const TAG: usize = 16;

/// Where a cursor page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position<K> {
    /// At the start of the listing (no cursor sent).
    Start,
    /// Just after the item whose sort key is `K` (`?after=`): fetch items
    /// with a key beyond it, in the listing's order.
    After(K),
    /// Just before the item whose sort key is `K` (`?before=`): fetch
    /// items with a key short of it, in the **reverse** of the listing's
    /// order, nearest first; [`Cursor::page`] turns them around.
    Before(K),
}

/// A page of a listing paged by its sort key (keyset pagination): the
/// client sends `?limit=` (bounded by the app's
/// [`Paging`](super::Paging)) and `after=` or `before=` with a cursor from
/// the previous page's `meta.next` / `meta.prev` (or its `Link` header).
///
/// `K` is the sort key of one item: its id, or a tuple for a compound
/// order (`(String, i64)` for "by name, then id"). A cursor carries a key
/// signed with the app's cursor key and bound to the request path and to
/// its direction: the client cannot read it as anything but opaque, and a
/// cursor it altered, made up, or took from another listing is a 400
/// envelope. The key is typed, so it reaches the query as a bound
/// parameter, never as SQL; the handler's query still applies the
/// caller's authorisation, as it would for the first page.
///
/// The cost of a page does not depend on how deep it lies, given an index
/// on the sort key: fetch [`fetch`](Cursor::fetch) items (one more than
/// the limit, to learn whether there is more) from the position, and hand
/// them to [`page`](Cursor::page).
///
/// ```
/// use portico_runtime::extract::{Cursor, Position};
/// use portico_runtime::response::ApiResponse;
///
/// /// Ids 1 to 1 000, listed by id; a database would run
/// /// `WHERE id > ?1 ORDER BY id LIMIT ?2` (after) or
/// /// `WHERE id < ?1 ORDER BY id DESC LIMIT ?2` (before).
/// async fn list(cursor: Cursor<u64>) -> ApiResponse<Vec<u64>> {
///     let fetch = u64::from(cursor.fetch());
///     let rows: Vec<u64> = match *cursor.position() {
///         Position::Start => (1..=1_000).take(fetch as usize).collect(),
///         Position::After(id) => (id + 1..=1_000).take(fetch as usize).collect(),
///         Position::Before(id) => (1..id).rev().take(fetch as usize).collect(),
///     };
///     cursor.page(rows, |id| *id)
/// }
/// ```
pub struct Cursor<K> {
    limit: u32,
    position: Position<K>,
    signer: Hmac<Sha256>,
    /// The request path, to which cursors are bound and links point.
    path: String,
    /// The request's other query parameters, kept in links.
    rest: String,
}

impl<K: fmt::Debug> fmt::Debug for Cursor<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("limit", &self.limit)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// Which way a cursor leads; a cursor made for one is refused as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    After,
    Before,
}

impl Direction {
    fn param(self) -> &'static str {
        match self {
            Direction::After => "after",
            Direction::Before => "before",
        }
    }
}

impl<K> Cursor<K> {
    /// The most items the page carries.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// How many items to fetch: one more than the limit, so that
    /// [`page`](Cursor::page) can tell whether more lie beyond.
    pub fn fetch(&self) -> u32 {
        self.limit + 1
    }

    /// Where the page starts.
    pub fn position(&self) -> &Position<K> {
        &self.position
    }
}

impl<K: Serialize + DeserializeOwned> Cursor<K> {
    /// The envelope of this page, with the cursors and `Link` header of
    /// the pages on either side. `rows` are up to [`fetch`](Cursor::fetch)
    /// items from the position: in the listing's order from the start or
    /// after a key, in reverse order (nearest first) before one; `key`
    /// gives an item's sort key.
    pub fn page<T>(self, mut rows: Vec<T>, key: impl Fn(&T) -> K) -> ApiResponse<Vec<T>> {
        let limit = self.limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let (next, prev) = match self.position {
            Position::Start => (more.then(|| rows.last()).flatten(), None),
            Position::After(_) => (more.then(|| rows.last()).flatten(), rows.first()),
            Position::Before(_) => {
                rows.reverse();
                (rows.last(), more.then(|| rows.first()).flatten())
            }
        };
        let next = next.map(|row| self.encode(Direction::After, &key(row)));
        let prev = prev.map(|row| self.encode(Direction::Before, &key(row)));
        let link = self.link(next.as_deref(), prev.as_deref());
        ApiResponse::cursor_page(
            rows,
            CursorMeta {
                limit: self.limit,
                next,
                prev,
                link,
            },
        )
    }

    fn tag(&self, direction: Direction, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.signer.clone();
        mac.update(direction.param().as_bytes());
        mac.update(&[0]);
        mac.update(self.path.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    fn encode(&self, direction: Direction, key: &K) -> String {
        // A key that does not serialise (a map with non-string keys) has
        // no cursor; the page then ends there.
        let payload = serde_json::to_vec(key).unwrap_or_default();
        let tag = self.tag(direction, &payload).finalize().into_bytes();
        let mut bytes = Vec::with_capacity(TAG + payload.len());
        bytes.extend_from_slice(&tag[..TAG]);
        bytes.extend_from_slice(&payload);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn decode(&self, direction: Direction, cursor: &str) -> Option<K> {
        if cursor.len() > MAX_CURSOR {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let (tag, payload) = bytes.split_at_checked(TAG)?;
        self.tag(direction, payload)
            .verify_truncated_left(tag)
            .ok()?;
        serde_json::from_slice(payload).ok()
    }

    /// `Link: <…&after=…>; rel="next", <…&before=…>; rel="prev"`.
    fn link(&self, next: Option<&str>, prev: Option<&str>) -> Option<HeaderValue> {
        let target = |direction: Direction, cursor: &str| {
            let mut query = form_urlencoded::Serializer::new(self.rest.clone());
            query.append_pair("limit", &self.limit.to_string());
            query.append_pair(direction.param(), cursor);
            format!("<{}?{}>", self.path, query.finish())
        };
        let links: Vec<String> = [
            next.map(|c| format!("{}; rel=\"next\"", target(Direction::After, c))),
            prev.map(|c| format!("{}; rel=\"prev\"", target(Direction::Before, c))),
        ]
        .into_iter()
        .flatten()
        .collect();
        if links.is_empty() {
            return None;
        }
        HeaderValue::try_from(links.join(", ")).ok()
    }
}

/// The request path as a link target: bytes a `<…>` reference or a header
/// cannot carry are percent-encoded.
fn link_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_graphic() && !b"<>\"\\^`{|}".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn not_ours() -> ValidationError {
    ValidationError::new("cursor")
        .with_message("not a cursor this API gave out for this listing: send back `meta.next` or `meta.prev` as they came")
}

impl<K: Serialize + DeserializeOwned + Send> FromRequest for Cursor<K> {
    type Rejection = Rejection;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Rejection> {
        let paging = &ctx.settings.paging;
        let query = ctx.uri().query().unwrap_or("");
        let mut limit = None;
        let mut after = None;
        let mut before = None;
        let mut rest = form_urlencoded::Serializer::new(String::new());
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "limit" => limit = Some(value),
                "after" => after = Some(value),
                "before" => before = Some(value),
                _ => {
                    rest.append_pair(&name, &value);
                }
            }
        }
        let mut cursor = Cursor {
            limit: paging.default_size(),
            position: Position::Start,
            signer: paging.signer().clone(),
            path: link_path(ctx.uri().path()),
            rest: rest.finish(),
        };
        let mut errors = ValidationErrors::new();
        match (after, before) {
            (Some(_), Some(_)) => errors.add(
                "before",
                ValidationError::new("exclusive")
                    .with_message("send `after` or `before`, not both"),
            ),
            (Some(token), None) => match cursor.decode(Direction::After, &token) {
                Some(key) => cursor.position = Position::After(key),
                None => errors.add("after", not_ours()),
            },
            (None, Some(token)) => match cursor.decode(Direction::Before, &token) {
                Some(key) => cursor.position = Position::Before(key),
                None => errors.add("before", not_ours()),
            },
            (None, None) => {}
        }
        if !errors.is_empty() {
            return Err(Rejection::BadCursor(errors));
        }
        match paging.size(limit.as_deref()) {
            Ok(limit) => cursor.limit = limit,
            Err(error) => {
                errors.add("limit", error);
                return Err(Rejection::BadQuery(errors));
            }
        }
        Ok(cursor)
    }
}

/// `limit`, `after` and `before`; the page's `meta` and `Link`.
impl<K: Serialize + DeserializeOwned + Send> Describe for Cursor<K> {
    fn describe(op: &mut Operation<'_>) {
        let limits = op.limits();
        op.query(
            "limit",
            serde_json::json!({
                "type": "integer", "minimum": 1, "maximum": limits.page_size_max,
                "default": limits.page_size_default,
            }),
            "items per page",
        );
        // What `page` gives out: base64url, unpadded.
        let cursor = serde_json::json!({
            "type": "string", "maxLength": MAX_CURSOR, "pattern": "^[A-Za-z0-9_-]*$",
        });
        op.query(
            "after",
            cursor.clone(),
            "the page after this cursor (`meta.next`)",
        );
        op.query(
            "before",
            cursor,
            "the page before this cursor (`meta.prev`)",
        );
        op.listing(Listing::Cursor);
        op.success_header("Link", "the next and previous pages (RFC 8288)");
        op.error(
            400,
            "`after` or `before` is not a cursor this API gave out for this listing",
        );
        op.error(422, "`limit` is not a whole number in range");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Paging;

    fn cursor<K>(path: &str, paging: &Paging) -> Cursor<K> {
        Cursor {
            limit: 3,
            position: Position::Start,
            signer: paging.signer().clone(),
            path: path.to_owned(),
            rest: String::new(),
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_any_change() {
        let paging = Paging::default();
        let users = cursor::<(String, i64)>("/users", &paging);
        let key = ("Zoë".to_owned(), 42);
        let token = users.encode(Direction::After, &key);
        assert_eq!(users.decode(Direction::After, &token), Some(key.clone()));
        // Another direction, another path, another key: refused.
        assert_eq!(users.decode(Direction::Before, &token), None);
        assert_eq!(
            cursor::<(String, i64)>("/projects", &paging).decode(Direction::After, &token),
            None
        );
        let other = Paging::default();
        assert_eq!(
            cursor::<(String, i64)>("/users", &other).decode(Direction::After, &token),
            None
        );
        // Every single-character change is caught.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..token.len() {
            for c in alphabet.chars().step_by(7) {
                let mut changed = token.clone();
                changed.replace_range(i..=i, &c.to_string());
                if changed != token {
                    assert_eq!(users.decode(Direction::After, &changed), None, "{changed}");
                }
            }
        }
        assert_eq!(users.decode(Direction::After, ""), None);
        assert_eq!(
            users.decode(Direction::After, &"A".repeat(MAX_CURSOR + 4)),
            None
        );
    }

    #[test]
    fn link_paths_carry_nothing_a_header_cannot() {
        assert_eq!(link_path("/a b/<x>\"\r\n"), "/a%20b/%3Cx%3E%22%0D%0A");
        assert_eq!(link_path("/users/caf%C3%A9"), "/users/caf%C3%A9");
    }
}
