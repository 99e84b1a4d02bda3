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
/// others wait for its answer). A kept answer stands in for the handler
/// step only: the app's and the route's layers run for every request.
/// Every app has one; a write handler takes it as `Dep<ResponseCache>`:
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
    /// Keyed by a fingerprint of the [`ResponseKey`]: a lookup copies no key.
    entries: Cache<u64, Arc<Stored>>,
    fingerprints: foldhash::quality::RandomState,
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

/// What identifies one kept response: the route, the path and query as
/// sent, and the values of the route's `Vary` headers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ResponseKey {
    route: usize,
    target: Box<str>,
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
    /// Whose answer it is: the cache is keyed by a fingerprint of it, and
    /// a fingerprint shared by two keys is a miss, never a wrong answer.
    key: ResponseKey,
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
                fingerprints: foldhash::quality::RandomState::default(),
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
        use std::hash::BuildHasher;
        let entries = &self.inner.entries;
        let fingerprint = self
            .inner
            .fingerprints
            .hash_one((key.route, &key.target, &key.vary));
        if let Some(stored) = entries.get(&fingerprint) {
            if stored.key == key && self.valid(&stored) {
                return stored.response();
            }
            entries.invalidate(&fingerprint);
        }
        // The leader answers with its own response; the copy kept is for
        // the others.
        let mut own = None;
        let outcome = entries
            .try_execute(fingerprint, || async {
                let stamp = self.stamp();
                let response = run.await;
                let kept = self.keep(key, &response, stamp, ttl);
                own = Some(response);
                kept.ok_or(())
            })
            .await;
        match (own, outcome) {
            (Some(response), _) => response,
            (None, Ok((stored, _))) => stored.response(),
            // A leader that failed hands the key to a waiter, which then
            // leads; this arm is not reached.
            (None, Err(())) => {
                crate::response::IntoResponse::into_response(crate::response::Rejection::Panic)
            }
        }
    }

    /// The copy of `response` to keep, if it may be kept.
    fn keep(
        &self,
        key: ResponseKey,
        response: &Response,
        stamp: u64,
        ttl: Duration,
    ) -> Option<Arc<Stored>> {
        if response.status() != StatusCode::OK || response.headers().contains_key(SET_COOKIE) {
            return None;
        }
        let body = response
            .body()
            .in_memory()
            .filter(|b| b.len() <= MAX_BODY)?;
        let made = Instant::now();
        Some(Arc::new(Stored {
            key,
            headers: response.headers().clone(),
            body,
            tag: response.extensions().get::<CacheTag>().map(|t| t.0.clone()),
            stamp,
            made,
            expires: made + ttl,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(target: &str) -> ResponseKey {
        let request = http::Request::get(target).body(Body::empty()).unwrap();
        ResponseKey::new(0, &request, &[])
    }

    fn tagged_ok(body: &'static str) -> Response {
        super::super::tagged(Response::new(Body::full(body)), "user:1".to_owned())
    }

    async fn body(response: Response) -> Bytes {
        response.into_body().in_memory().unwrap()
    }

    #[tokio::test]
    async fn an_invalidation_while_the_handler_runs_is_not_lost() {
        let cache = ResponseCache::new(100);
        let ttl = Duration::from_secs(60);
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let slow = cache.serve(key("/users/1"), ttl, async {
            released.await.unwrap();
            tagged_ok("before")
        });
        let write = async {
            tokio::task::yield_now().await;
            // The write commits and invalidates while the read still runs.
            cache.invalidate("user:1");
            release.send(()).unwrap();
        };
        let (answer, ()) = tokio::join!(slow, write);
        assert_eq!(body(answer).await, "before");
        // What the slow read kept predates the write: not served.
        let again = cache
            .serve(key("/users/1"), ttl, async { tagged_ok("after") })
            .await;
        assert_eq!(body(again).await, "after");
        let kept = cache
            .serve(key("/users/1"), ttl, async { tagged_ok("unreached") })
            .await;
        assert_eq!(body(kept).await, "after");
        assert!(kept_has_age(&cache).await);
    }

    async fn kept_has_age(cache: &ResponseCache) -> bool {
        let response = cache
            .serve(key("/users/1"), Duration::from_secs(60), async {
                tagged_ok("x")
            })
            .await;
        response.headers().contains_key(AGE)
    }

    #[tokio::test]
    async fn only_plain_200s_are_kept_and_expiry_is_per_route() {
        let cache = ResponseCache::new(100);
        let ttl = Duration::from_secs(60);
        let mut not_found = Response::new(Body::full("no"));
        *not_found.status_mut() = StatusCode::NOT_FOUND;
        cache.serve(key("/a"), ttl, async { not_found }).await;
        let mut cookie = Response::new(Body::full("c"));
        cookie
            .headers_mut()
            .insert(SET_COOKIE, HeaderValue::from_static("s=1"));
        cache.serve(key("/b"), ttl, async { cookie }).await;
        assert!(
            cache.is_empty(),
            "a 404 and a response setting a cookie are not kept"
        );

        cache
            .serve(key("/c"), Duration::ZERO, async { tagged_ok("old") })
            .await;
        let fresh = cache
            .serve(key("/c"), ttl, async { tagged_ok("new") })
            .await;
        assert_eq!(body(fresh).await, "new", "an expired answer is not served");
        // Invalidating every tag past the remembered bound drops all.
        for i in 0..MAX_TAGS + 1 {
            cache.invalidate(&format!("t{i}"));
        }
        let after = cache
            .serve(key("/c"), ttl, async { tagged_ok("newest") })
            .await;
        assert_eq!(body(after).await, "newest");
    }
}
