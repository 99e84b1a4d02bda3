//! The server-side response cache: responses of the routes that declare
//! `cache(server …)`, kept on the single-flight [`Cache`], invalidated by
//! tag.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AGE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::CacheTag;
use crate::body::Body;
use crate::cache::Cache;
use crate::response::Response;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Default bound on the responses kept.
pub const DEFAULT_MAX_RESPONSES: usize = 10_000;

/// The largest body kept; a larger response is answered, not kept.
const MAX_BODY: usize = 256 * 1024;

/// Tags whose invalidation is remembered one by one; beyond, everything
/// kept before is dropped at once (safe: a miss, never a stale hit).
const MAX_TAGS: usize = 100_000;

/// The responses of the routes that declare `cache(server …)`: for each
/// route, path, query and declared `Vary` header values, the last 200
/// answer, until its route's time runs out or its tag is invalidated. A
/// burst of identical requests on a miss runs the handler once (the
/// others wait for its answer). Every app has one; a write handler takes
/// it as `Dep<ResponseCache>`:
///
/// ```
/// use portico_runtime::caching::ResponseCache;
/// use portico_runtime::inject::Dep;
///
/// async fn after_deleting(id: i64, responses: Dep<ResponseCache>) {
///     // The next `GET /users/<id>` (tag = "user:<id>") runs its handler.
///     responses.invalidate(&format!("user:{id}"));
/// }
/// ```
///
/// Kept in this process: with several instances, each keeps its own and an
/// invalidation reaches the one it runs on, so keep `server = N` short
/// there, or revalidate (`no_cache`) against the database.
#[derive(Clone, Debug)]
pub struct ResponseCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    entries: Cache<ResponseKey, Arc<Stored>>,
    /// Stamps order stores and invalidations.
    clock: AtomicU64,
    tags: Mutex<Tags>,
}

#[derive(Debug, Default)]
struct Tags {
    /// The stamp of each tag's last invalidation.
    invalidated: HashMap<Box<str>, u64>,
    /// Everything stamped at or before it is invalid.
    floor: u64,
}

/// What identifies one kept response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ResponseKey {
    route: usize,
    /// Path and query, as sent.
    target: Box<str>,
    /// The values of the route's `Vary` headers, in order.
    vary: Box<[Box<[HeaderValue]>]>,
}

impl ResponseKey {
    pub(crate) fn new(route: usize, request: &http::Request<Body>, vary: &[&str]) -> Self {
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
}

/// A kept response.
#[derive(Debug)]
pub(crate) struct Stored {
    headers: HeaderMap,
    body: Bytes,
    tag: Option<Box<str>>,
    /// The stamp taken when its handler began: an invalidation stamped
    /// later (while it ran) makes it invalid.
    stamp: u64,
    made: Instant,
    expires: Instant,
}

impl Stored {
    fn response(&self) -> Response {
        let mut response = Response::new(Body::full(self.body.clone()));
        *response.headers_mut() = self.headers.clone();
        response
            .headers_mut()
            .insert(AGE, HeaderValue::from(self.made.elapsed().as_secs()));
        response
    }
}

impl Default for ResponseCache {
    fn default() -> Self {
        ResponseCache::new(DEFAULT_MAX_RESPONSES)
    }
}

impl ResponseCache {
    /// A cache keeping at most `responses` responses (the oldest go first).
    pub fn new(responses: usize) -> Self {
        ResponseCache {
            inner: Arc::new(Inner {
                // Each response carries its route's own expiry; the
                // cache's is only a backstop.
                entries: Cache::new(Duration::from_secs(24 * 3600)).max_entries(responses),
                clock: AtomicU64::new(1),
                tags: Mutex::new(Tags::default()),
            }),
        }
    }

    /// Every kept response tagged `tag` misses from now on, including one
    /// whose handler is running now.
    pub fn invalidate(&self, tag: &str) {
        let stamp = self.stamp();
        let mut tags = self.tags();
        if tags.invalidated.len() >= MAX_TAGS && !tags.invalidated.contains_key(tag) {
            tags.invalidated.clear();
            tags.floor = stamp;
        }
        tags.invalidated.insert(tag.into(), stamp);
    }

    /// How many responses are kept (expired or invalidated ones not yet
    /// dropped included).
    pub fn len(&self) -> usize {
        self.inner.entries.len()
    }

    /// Whether no response is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn stamp(&self) -> u64 {
        self.inner.clock.fetch_add(1, Ordering::SeqCst)
    }

    fn tags(&self) -> std::sync::MutexGuard<'_, Tags> {
        self.inner
            .tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn valid(&self, stored: &Stored) -> bool {
        if stored.expires <= Instant::now() {
            return false;
        }
        let tags = self.tags();
        let invalidated = stored
            .tag
            .as_deref()
            .and_then(|tag| tags.invalidated.get(tag))
            .copied()
            .unwrap_or(0);
        stored.stamp > tags.floor.max(invalidated)
    }

    /// The kept answer to `key`, or `run`'s, kept for `ttl` when it is a
    /// 200 with a body in memory of at most 256 KiB and no cookie.
    pub(crate) async fn serve(
        &self,
        key: ResponseKey,
        ttl: Duration,
        run: impl Future<Output = Response>,
    ) -> Response {
        let entries = &self.inner.entries;
        if let Some(stored) = entries.get(&key) {
            if self.valid(&stored) {
                return stored.response();
            }
            entries.invalidate(&key);
        }
        let outcome = entries
            .try_execute(key, || async {
                let stamp = self.stamp();
                let response = run.await;
                self.keep(response, stamp, ttl)
            })
            .await;
        match outcome {
            Ok((stored, _)) => stored.response(),
            Err(response) => *response,
        }
    }

    /// The response to keep, or (boxed: the rarer way) the one to pass on.
    fn keep(
        &self,
        response: Response,
        stamp: u64,
        ttl: Duration,
    ) -> Result<Arc<Stored>, Box<Response>> {
        if response.status() != StatusCode::OK || response.headers().contains_key(SET_COOKIE) {
            return Err(Box::new(response));
        }
        let Some(body) = response.body().in_memory().filter(|b| b.len() <= MAX_BODY) else {
            return Err(Box::new(response));
        };
        let tag = response.extensions().get::<CacheTag>().map(|t| t.0.clone());
        let made = Instant::now();
        let (parts, _) = response.into_parts();
        Ok(Arc::new(Stored {
            headers: parts.headers,
            body,
            tag,
            stamp,
            made,
            expires: made + ttl,
        }))
    }
}
