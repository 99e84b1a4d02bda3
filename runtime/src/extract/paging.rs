//! Listing in pages: the app's [`Paging`] bounds, and the [`Page`]
//! extractor for numbered pages (`?page=&page_size=`).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{FromRequest, RequestContext};
use crate::openapi::{Describe, Listing, Operation};
use crate::response::{ApiResponse, Rejection};
use crate::validate::{ValidationError, ValidationErrors};

/// How the app's listings page, set with `App::paging`: the bounds that
/// [`Page`] and [`Cursor`](super::Cursor) apply to what a client asks,
/// and the key that signs cursors.
///
/// ```
/// use portico_runtime::extract::Paging;
///
/// let paging = Paging::default()
///     .page_size(25, 200)
///     .max_offset(50_000)
///     .cursor_key(b"shared by every instance, from the secret store");
/// assert_eq!(paging.default_size(), 25);
/// ```
#[derive(Clone)]
pub struct Paging {
    default_size: u32,
    max_size: u32,
    max_offset: u64,
    signer: Hmac<Sha256>,
}

impl Default for Paging {
    /// Pages of 20 items, at most 100, numbered pages no deeper than
    /// 10 000 items, and cursors signed with a random per-process key.
    fn default() -> Self {
        let mut key = [0u8; 32];
        // Without an OS random source there is no safe default key: a
        // fixed one would let anyone forge cursors, so the process stops.
        getrandom::fill(&mut key).expect("the OS random source is available");
        Paging {
            default_size: 20,
            max_size: 100,
            max_offset: 10_000,
            signer: signer(&key),
        }
    }
}

fn signer(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

impl fmt::Debug for Paging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paging")
            .field("default_size", &self.default_size)
            .field("max_size", &self.max_size)
            .field("max_offset", &self.max_offset)
            .finish_non_exhaustive()
    }
}

impl Paging {
    /// The page size when the client names none, and the largest it may
    /// name (`page_size=` of [`Page`], `limit=` of a cursor). Both are at
    /// least 1, and the default at most the maximum.
    pub fn page_size(mut self, default: u32, max: u32) -> Self {
        self.max_size = max.max(1);
        self.default_size = default.clamp(1, self.max_size);
        self
    }

    /// How deep numbered pages go, in items: a page that starts beyond it
    /// is refused (422) and the client is told to follow cursors, since a
    /// database skips an `OFFSET` row by row.
    pub fn max_offset(mut self, items: u64) -> Self {
        self.max_offset = items;
        self
    }

    /// Signs cursors with `key` (HMAC-SHA256). Give every instance of an
    /// API the same key, so that a cursor one gave out works on another
    /// and after a restart; the default key is random per process.
    pub fn cursor_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.signer = signer(key.as_ref());
        self
    }

    /// The page size when the client names none.
    pub fn default_size(&self) -> u32 {
        self.default_size
    }

    /// The largest page size a client may ask for.
    pub fn max_size(&self) -> u32 {
        self.max_size
    }

    /// How deep numbered pages go, in items.
    pub fn max_offset_items(&self) -> u64 {
        self.max_offset
    }

    pub(super) fn signer(&self) -> &Hmac<Sha256> {
        &self.signer
    }

    /// Reads a page size the client sent, within the bounds.
    pub(super) fn size(&self, value: Option<&str>) -> Result<u32, ValidationError> {
        let Some(value) = value else {
            return Ok(self.default_size);
        };
        let out_of_range = || {
            ValidationError::new("range")
                .with_message(format!("must be from 1 to {}", self.max_size))
                .with_param("min", 1)
                .with_param("max", self.max_size)
        };
        match value.parse::<u64>() {
            Ok(size) => u32::try_from(size)
                .ok()
                .filter(|size| (1..=self.max_size).contains(size))
                .ok_or_else(out_of_range),
            Err(_) => Err(not_a_number()),
        }
    }
}

fn not_a_number() -> ValidationError {
    ValidationError::new("type").with_message("must be a whole number")
}

/// A numbered page the client asked for with `?page=&page_size=` (both
/// optional: page 1, the app's default size), within the app's
/// [`Paging`] bounds; out of bounds or not a number is a 422 naming the
/// parameter. Other query parameters (filters) are left to `Query<T>`.
///
/// ```
/// use portico_runtime::extract::Page;
/// use portico_runtime::response::ApiResponse;
///
/// async fn list(page: Page) -> ApiResponse<Vec<u64>> {
///     let total = 1_000;
///     let items = (page.offset()..(page.offset() + page.size()).min(total)).collect();
///     page.respond(items, total)
/// }
/// ```
///
/// Numbered pages cost what the database pays to skip `offset()` rows and
/// to count the collection; [`Paging::max_offset`] bounds the first, and a
/// listing that grows large should page with [`Cursor`](super::Cursor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    page: u64,
    size: u64,
    requested: bool,
}

impl Page {
    /// The page number, from 1.
    pub fn number(&self) -> u64 {
        self.page
    }

    /// Whether the query named `page` or `page_size`: a listing that also
    /// pages by cursor serves numbered pages to the clients that ask.
    pub fn requested(&self) -> bool {
        self.requested
    }

    /// Items per page (`LIMIT`).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Items before this page (`OFFSET`), at most the app's
    /// [`Paging::max_offset`].
    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.size
    }

    /// The envelope of this page: `items`, out of `total` in the whole
    /// collection.
    pub fn respond<T>(&self, items: Vec<T>, total: u64) -> ApiResponse<Vec<T>> {
        ApiResponse::paginated(items, total, self.page, self.size)
    }

    fn read(query: &str, paging: &Paging) -> Result<Page, ValidationErrors> {
        let mut page = None;
        let mut size = None;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "page" => page = Some(value),
                "page_size" => size = Some(value),
                _ => {}
            }
        }
        let requested = page.is_some() || size.is_some();
        let mut errors = ValidationErrors::new();
        let size = paging
            .size(size.as_deref())
            .map_err(|e| errors.add("page_size", e))
            .ok();
        let page = match page.as_deref().map(str::parse::<u64>) {
            None => Some(1),
            Some(Ok(page)) if page >= 1 => Some(page),
            Some(Ok(_)) => {
                errors.add(
                    "page",
                    ValidationError::new("range")
                        .with_message("must be 1 or more")
                        .with_param("min", 1),
                );
                None
            }
            Some(Err(_)) => {
                errors.add("page", not_a_number());
                None
            }
        };
        if let (Some(page), Some(size)) = (page, size) {
            let size = u64::from(size);
            let offset = (page - 1).saturating_mul(size);
            if offset > paging.max_offset {
                let deepest = paging.max_offset / size + 1;
                errors.add(
                    "page",
                    ValidationError::new("too_deep")
                        .with_message(format!(
                            "pages beyond {deepest} of this size are not served: page with cursors (`?after=`)"
                        ))
                        .with_param("max", deepest),
                );
            } else if errors.is_empty() {
                return Ok(Page {
                    page,
                    size,
                    requested,
                });
            }
        }
        Err(errors)
    }
}

impl FromRequest for Page {
    type Rejection = Rejection;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Rejection> {
        let query = ctx.uri().query().unwrap_or("");
        Page::read(query, &ctx.settings.paging).map_err(Rejection::BadQuery)
    }
}

/// `page` and `page_size`, bounded as the app's [`Paging`] says. How deep
/// `page` goes depends on `page_size`, which a schema cannot say: the
/// published `maximum` is the deepest page of one item, the description
/// says the rest.
impl Describe for Page {
    fn describe(op: &mut Operation<'_>) {
        let limits = op.limits();
        let deepest = limits.max_offset.saturating_add(1);
        op.query(
            "page",
            serde_json::json!({"type": "integer", "minimum": 1, "maximum": deepest, "default": 1}),
            &format!(
                "the page, from 1, while (page - 1) × page_size ≤ {} (else 422 `too_deep`: list further with cursors)",
                limits.max_offset
            ),
        );
        op.query(
            "page_size",
            serde_json::json!({
                "type": "integer", "minimum": 1, "maximum": limits.page_size_max,
                "default": limits.page_size_default,
            }),
            "items per page",
        );
        op.listing(Listing::Numbered);
        op.error(422, "`page` or `page_size` is not a whole number in range");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(query: &str) -> Result<Page, Vec<String>> {
        let paging = Paging::default().page_size(20, 100).max_offset(1_000);
        Page::read(query, &paging).map_err(|errors| {
            let json = serde_json::to_value(&errors).unwrap();
            json.as_object().unwrap().keys().cloned().collect()
        })
    }

    #[test]
    fn defaults_bounds_and_depth() {
        let page = |page, size, requested| {
            Ok(Page {
                page,
                size,
                requested,
            })
        };
        assert_eq!(read(""), page(1, 20, false));
        assert_eq!(read("done=true"), page(1, 20, false));
        assert_eq!(read("done=true&page=3&page_size=50"), page(3, 50, true));
        assert_eq!(read("page_size=5"), page(1, 5, true));
        assert_eq!(read("page=3&page_size=50").unwrap().offset(), 100);
        assert_eq!(read("page=0"), Err(vec!["page".to_owned()]));
        assert_eq!(
            read("page=-1&page_size=101"),
            Err(vec!["page".to_owned(), "page_size".to_owned()])
        );
        assert_eq!(read("page_size=0"), Err(vec!["page_size".to_owned()]));
        assert_eq!(read("page=x"), Err(vec!["page".to_owned()]));
        // 1 000 items deep at most: page 51 of 20 starts at 1 000, 52 beyond.
        assert!(read("page=51").is_ok());
        assert_eq!(read("page=52"), Err(vec!["page".to_owned()]));
        assert_eq!(
            read("page=18446744073709551615&page_size=100"),
            Err(vec!["page".to_owned()])
        );
    }
}
