//! Where the server-side cache keeps responses: the [`ResponseStore`]
//! trait, and [`MemoryResponses`], the in-process store every app starts
//! with.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

use crate::body::Body;
use crate::cache::Cache;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Default bound on the responses [`MemoryResponses`] keeps.
pub const DEFAULT_MAX_RESPONSES: usize = 10_000;

/// Default bound on the bytes [`MemoryResponses`] keeps (bodies, headers
/// and keys): 64 MiB.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Tags whose invalidation is remembered one by one; beyond, everything
/// kept before is dropped at once (safe: a miss, never a stale hit).
const MAX_TAGS: usize = 100_000;

/// What identifies one kept response: the route's template, the path and
/// query as sent, and the values of the route's `Vary` headers. The same
/// on every instance of an app, so a shared store can key by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResponseKey {
    route: &'static str,
    target: Box<str>,
    vary: Box<[Box<[HeaderValue]>]>,
}

impl ResponseKey {
    pub(crate) fn new(route: &'static str, request: &http::Request<Body>, vary: &[&str]) -> Self {
        let uri = request.uri();
        let target = uri
            .path_and_query()
            .map_or(uri.path(), |pq| pq.as_str())
            .into();
        let headers = request.headers();
        ResponseKey {
            route,
            target,
            vary: vary
                .iter()
                .map(|name| headers.get_all(*name).iter().cloned().collect())
                .collect(),
        }
    }

    /// The route's template (`/users/<id>`).
    pub fn route(&self) -> &'static str {
        self.route
    }

    /// The path and query as the client sent them.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The values of each of the route's `Vary` headers, in its order.
    pub fn vary(&self) -> &[Box<[HeaderValue]>] {
        &self.vary
    }
}

/// A kept 200 response.
#[derive(Debug, Clone)]
pub struct KeptResponse {
    /// Its headers, as the handler step made them (`ETag` included).
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
    /// The tag that invalidates it.
    pub tag: Option<Box<str>>,
    /// The store's [`stamp`](ResponseStore::stamp) taken before its
    /// handler began: an invalidation of its tag stamped later (while the
    /// handler ran) makes it invalid.
    pub stamp: u64,
    /// When it was made (its `Age` counts from here).
    pub made: SystemTime,
    /// When it stops being served.
    pub expires: SystemTime,
}

/// Why a store could not answer. The cache then serves the handler's
/// answer, as if nothing were kept; an invalidation that fails is the
/// caller's to report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseStoreError {
    /// The backend failed (connection lost, …).
    #[error("the response store failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A store's boxed future.
pub type ResponseFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ResponseStoreError>> + Send + 'a>>;

/// Keeps the server-side cache's responses. [`MemoryResponses`] is the
/// default; a store shared by several instances (Redis, a database) makes
/// one instance's invalidation reach all of them. Single flight (one
/// handler run for a burst of identical misses) is the cache's, in each
/// process, above the store.
pub trait ResponseStore: Send + Sync + 'static {
    /// A number that grows with every call and every invalidation, taken
    /// before a handler runs and kept with its response.
    fn stamp(&self) -> ResponseFuture<'_, u64>;

    /// The response kept under `key`, if it has not expired and its tag
    /// was not invalidated after its stamp.
    fn get<'a>(&'a self, key: &'a ResponseKey) -> ResponseFuture<'a, Option<Arc<KeptResponse>>>;

    /// Keeps `response` under `key`, until `response.expires`.
    fn put<'a>(
        &'a self,
        key: &'a ResponseKey,
        response: Arc<KeptResponse>,
    ) -> ResponseFuture<'a, ()>;

    /// Every response tagged `tag` stamped before now is invalid.
    fn invalidate<'a>(&'a self, tag: &'a str) -> ResponseFuture<'a, ()>;
}

/// The in-process store: bounded in responses (the oldest go first) and in
/// bytes (beyond, a new response is answered but not kept until room is
/// made), keyed by a fingerprint of the [`ResponseKey`] (a lookup copies
/// no key; two keys sharing one is a miss, never a wrong answer, since the
/// kept key is compared), tags remembered with the stamp of their last
/// invalidation.
#[derive(Debug)]
pub struct MemoryResponses {
    entries: Cache<u64, Arc<Entry>>,
    fingerprints: foldhash::quality::RandomState,
    /// Bytes held by the entries alive now, and the bound.
    bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    clock: AtomicU64,
    tags: Mutex<Tags>,
}

/// A kept response with its key (to tell fingerprints apart); it gives
/// its bytes back to the store's count when the last copy goes.
#[derive(Debug)]
struct Entry {
    key: ResponseKey,
    kept: Arc<KeptResponse>,
    size: usize,
    bytes: Arc<AtomicUsize>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.bytes.fetch_sub(self.size, Ordering::Relaxed);
    }
}

/// What a kept response weighs: body, headers, key.
fn weight(key: &ResponseKey, kept: &KeptResponse) -> usize {
    let headers: usize = kept
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum();
    let vary: usize = key.vary.iter().flatten().map(|v| v.len() + 16).sum();
    kept.body.len() + headers + key.target.len() + vary + 256
}

#[derive(Debug, Default)]
struct Tags {
    /// The stamp of each tag's last invalidation.
    invalidated: HashMap<Box<str>, u64>,
    /// Everything stamped at or before it is invalid.
    floor: u64,
}

impl Default for MemoryResponses {
    fn default() -> Self {
        MemoryResponses::new(DEFAULT_MAX_RESPONSES)
    }
}

impl MemoryResponses {
    /// A store keeping at most `responses` responses, and at most
    /// [`DEFAULT_MAX_BYTES`] in all.
    pub fn new(responses: usize) -> Self {
        MemoryResponses {
            // Each response carries its own expiry; the cache's is only a
            // backstop.
            entries: Cache::new(Duration::from_secs(24 * 3600)).max_entries(responses),
            fingerprints: foldhash::quality::RandomState::default(),
            bytes: Arc::default(),
            max_bytes: DEFAULT_MAX_BYTES,
            clock: AtomicU64::new(1),
            tags: Mutex::new(Tags::default()),
        }
    }

    /// Keeps at most `bytes` in all (bodies, headers and keys).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The bytes kept now.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// How many responses are kept (expired or invalidated ones not yet
    /// dropped included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no response is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn fingerprint(&self, key: &ResponseKey) -> u64 {
        use std::hash::BuildHasher;
        self.fingerprints.hash_one(key)
    }

    fn next_stamp(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    fn tags(&self) -> std::sync::MutexGuard<'_, Tags> {
        self.tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn valid(&self, kept: &KeptResponse) -> bool {
        if kept.expires <= SystemTime::now() {
            return false;
        }
        let tags = self.tags();
        let invalidated = kept
            .tag
            .as_deref()
            .and_then(|tag| tags.invalidated.get(tag))
            .copied()
            .unwrap_or(0);
        kept.stamp > tags.floor.max(invalidated)
    }
}

impl ResponseStore for MemoryResponses {
    fn stamp(&self) -> ResponseFuture<'_, u64> {
        Box::pin(std::future::ready(Ok(self.next_stamp())))
    }

    fn get<'a>(&'a self, key: &'a ResponseKey) -> ResponseFuture<'a, Option<Arc<KeptResponse>>> {
        let fingerprint = self.fingerprint(key);
        let found = match self.entries.get(&fingerprint) {
            Some(entry) if entry.key == *key && self.valid(&entry.kept) => {
                Some(Arc::clone(&entry.kept))
            }
            Some(_) => {
                self.entries.invalidate(&fingerprint);
                None
            }
            None => None,
        };
        Box::pin(std::future::ready(Ok(found)))
    }

    fn put<'a>(
        &'a self,
        key: &'a ResponseKey,
        response: Arc<KeptResponse>,
    ) -> ResponseFuture<'a, ()> {
        let fingerprint = self.fingerprint(key);
        Box::pin(async move {
            // Whatever was kept under the key goes (and gives its bytes
            // back) before the new one is weighed.
            self.entries.invalidate(&fingerprint);
            let size = weight(key, &response);
            if self.bytes.fetch_add(size, Ordering::Relaxed) + size > self.max_bytes {
                self.bytes.fetch_sub(size, Ordering::Relaxed);
                return Ok(());
            }
            let entry = Arc::new(Entry {
                key: key.clone(),
                kept: response,
                size,
                bytes: Arc::clone(&self.bytes),
            });
            // The cache stores what a computation yields; this one yields
            // at once.
            self.entries.execute(fingerprint, || async { entry }).await;
            Ok(())
        })
    }

    fn invalidate<'a>(&'a self, tag: &'a str) -> ResponseFuture<'a, ()> {
        let stamp = self.next_stamp();
        let mut tags = self.tags();
        if tags.invalidated.len() >= MAX_TAGS && !tags.invalidated.contains_key(tag) {
            tags.invalidated.clear();
            tags.floor = stamp;
        }
        tags.invalidated.insert(tag.into(), stamp);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A kept response's age in seconds, for its `Age` header.
pub(crate) fn age(kept: &KeptResponse) -> u64 {
    SystemTime::now()
        .duration_since(kept.made)
        .map_or(0, |age| age.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(tag: &str, stamp: u64) -> Arc<KeptResponse> {
        let made = SystemTime::now();
        Arc::new(KeptResponse {
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"x"),
            tag: Some(tag.into()),
            stamp,
            made,
            expires: made + Duration::from_secs(60),
        })
    }

    fn key(target: &str) -> ResponseKey {
        let request = http::Request::get(target).body(Body::empty()).unwrap();
        ResponseKey::new("/r", &request, &["accept-language"])
    }

    #[tokio::test]
    async fn keys_tags_and_the_bound_on_remembered_tags() {
        let store = MemoryResponses::new(100);
        let stamp = store.stamp().await.unwrap();
        store.put(&key("/r"), kept("a", stamp)).await.unwrap();
        assert!(store.get(&key("/r")).await.unwrap().is_some());
        assert!(store.get(&key("/r?x")).await.unwrap().is_none());
        // Same target, another Vary value: another key.
        let french = http::Request::get("/r")
            .header("accept-language", "fr")
            .body(Body::empty())
            .unwrap();
        let french = ResponseKey::new("/r", &french, &["accept-language"]);
        assert!(store.get(&french).await.unwrap().is_none());

        store.invalidate("b").await.unwrap();
        assert!(
            store.get(&key("/r")).await.unwrap().is_some(),
            "another tag"
        );
        store.invalidate("a").await.unwrap();
        assert!(store.get(&key("/r")).await.unwrap().is_none());

        let stamp = store.stamp().await.unwrap();
        store.put(&key("/r"), kept("a", stamp)).await.unwrap();
        for i in 0..MAX_TAGS + 1 {
            store.invalidate(&format!("t{i}")).await.unwrap();
        }
        assert!(
            store.get(&key("/r")).await.unwrap().is_none(),
            "past the remembered tags, everything kept before is invalid"
        );
    }

    #[tokio::test]
    async fn bytes_are_bounded_and_given_back() {
        let store = MemoryResponses::new(1_000).max_bytes(10_000);
        let big = |stamp| {
            let made = SystemTime::now();
            Arc::new(KeptResponse {
                headers: HeaderMap::new(),
                body: Bytes::from(vec![b'x'; 4_000]),
                tag: None,
                stamp,
                made,
                expires: made + Duration::from_secs(60),
            })
        };
        for i in 0..5 {
            let stamp = store.stamp().await.unwrap();
            store
                .put(&key(&format!("/r{i}")), big(stamp))
                .await
                .unwrap();
        }
        assert!(store.bytes() <= 10_000, "{}", store.bytes());
        assert_eq!(
            store.len(),
            2,
            "two fit, the others were answered, not kept"
        );
        // Replacing one gives its bytes back first.
        let stamp = store.stamp().await.unwrap();
        store.put(&key("/r0"), big(stamp)).await.unwrap();
        assert_eq!(store.len(), 2);
        let before = store.bytes();
        store.entries.invalidate(&store.fingerprint(&key("/r0")));
        assert!(
            store.bytes() < before,
            "a dropped response gives its bytes back"
        );
    }
}
