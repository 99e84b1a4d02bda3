//! The server-side response cache: the answers of the routes that declare
//! `cache(server …)`, kept in a [`ResponseStore`], with one handler run
//! per burst of identical misses in each process.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::header::{AGE, SET_COOKIE};
use http::{HeaderValue, StatusCode};
use tokio::sync::Notify;

use super::CacheTag;
use super::store::{
    self, KeptResponse, MemoryResponses, ResponseKey, ResponseStore, ResponseStoreError,
};
use crate::body::Body;
use crate::response::Response;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The largest body kept; a larger response is answered, not kept.
const MAX_BODY: usize = 256 * 1024;

/// The responses of the routes that declare `cache(server …)`: for each
/// route, path, query and declared `Vary` header values, the last 200
/// answer, until its route's time runs out or its tag is invalidated. A
/// burst of identical requests on a miss runs the handler once (the
/// others wait for its answer). A kept answer stands in for the handler
/// step only: the app's and the route's layers run for every request.
/// Every app has one (in memory, [`MemoryResponses`]; another store with
/// `App::response_cache(ResponseCache::new(store))`); a write handler
/// takes it as `Dep<ResponseCache>`:
///
/// ```
/// use portico_runtime::caching::ResponseCache;
/// use portico_runtime::inject::Dep;
///
/// async fn after_deleting(id: i64, responses: Dep<ResponseCache>) {
///     // The next `GET /users/<id>` (tag = "user:<id>") runs its handler.
///     if let Err(err) = responses.invalidate(&format!("user:{id}")).await {
///         tracing::warn!(%err, "kept answers of user {id} may be served until they expire");
///     }
/// }
/// ```
///
/// With the in-memory store and several instances, each keeps its own and
/// an invalidation reaches the one it runs on: keep `server = N` short
/// there, or revalidate (`no_cache`) against the database.
#[derive(Clone)]
pub struct ResponseCache {
    store: Arc<dyn ResponseStore>,
    /// The keys whose handler runs now, with who waits for it.
    flights: Arc<Mutex<HashMap<ResponseKey, Arc<Notify>>>>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache").finish_non_exhaustive()
    }
}

impl Default for ResponseCache {
    fn default() -> Self {
        ResponseCache::new(MemoryResponses::default())
    }
}

/// Whether this request runs the handler for its key, or waits for the
/// one that does.
enum Flight<'c> {
    Lead(Leading<'c>),
    Wait(Arc<Notify>),
}

/// The run of a key's handler: when it ends, however it ends (answered,
/// failed, cancelled), the key is free and its waiters look again.
struct Leading<'c> {
    cache: &'c ResponseCache,
    key: ResponseKey,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if let Some(notify) = self.cache.flights().remove(&self.key) {
            notify.notify_waiters();
        }
    }
}

impl ResponseCache {
    /// A cache keeping its responses in `store`.
    pub fn new(store: impl ResponseStore) -> Self {
        ResponseCache {
            store: Arc::new(store),
            flights: Arc::default(),
        }
    }

    /// Every kept response tagged `tag` misses from now on, including one
    /// whose handler is running now.
    pub async fn invalidate(&self, tag: &str) -> Result<(), ResponseStoreError> {
        self.store.invalidate(tag).await
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, HashMap<ResponseKey, Arc<Notify>>> {
        self.flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn join(&self, key: &ResponseKey) -> Flight<'_> {
        let mut flights = self.flights();
        match flights.get(key) {
            Some(notify) => Flight::Wait(Arc::clone(notify)),
            None => {
                flights.insert(key.clone(), Arc::new(Notify::new()));
                Flight::Lead(Leading {
                    cache: self,
                    key: key.clone(),
                })
            }
        }
    }

    /// The kept answer to `key`, or `run`'s, kept for `ttl` when it is a
    /// 200 with a body in memory of at most 256 KiB and no cookie. A store
    /// that fails is passed by: the handler answers.
    pub(crate) async fn serve(
        &self,
        key: ResponseKey,
        ttl: Duration,
        run: impl Future<Output = Response>,
    ) -> Response {
        let leading = loop {
            match self.store.get(&key).await {
                Ok(Some(kept)) => return answer(&kept),
                Ok(None) => {}
                Err(err) => tracing::warn!(%err, "the response store failed; the handler answers"),
            }
            match self.join(&key) {
                Flight::Lead(leading) => break leading,
                Flight::Wait(notify) => {
                    let notified = notify.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    // The leader may have ended between the lookup and the
                    // registration: wait only if its flight is still on.
                    if self
                        .flights()
                        .get(&key)
                        .is_some_and(|n| Arc::ptr_eq(n, &notify))
                    {
                        notified.await;
                    }
                }
            }
        };
        let stamp = self.store.stamp().await.ok();
        let response = run.await;
        if let Some(kept) = stamp.and_then(|stamp| keep(&response, stamp, ttl))
            && let Err(err) = self.store.put(&leading.key, kept).await
        {
            tracing::warn!(%err, "the response store failed; the answer is not kept");
        }
        drop(leading);
        response
    }
}

/// The copy of `response` to keep, if it may be kept.
fn keep(response: &Response, stamp: u64, ttl: Duration) -> Option<Arc<KeptResponse>> {
    if response.status() != StatusCode::OK || response.headers().contains_key(SET_COOKIE) {
        return None;
    }
    let body = response
        .body()
        .in_memory()
        .filter(|b| b.len() <= MAX_BODY)?;
    let made = SystemTime::now();
    Some(Arc::new(KeptResponse {
        headers: response.headers().clone(),
        body,
        tag: response.extensions().get::<CacheTag>().map(|t| t.0.clone()),
        stamp,
        made,
        expires: made + ttl,
    }))
}

/// A kept response, as sent again: its `Age` says how old it is.
fn answer(kept: &KeptResponse) -> Response {
    let mut response = Response::new(Body::full(kept.body.clone()));
    *response.headers_mut() = kept.headers.clone();
    response
        .headers_mut()
        .insert(AGE, HeaderValue::from(store::age(kept)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn key(target: &str) -> ResponseKey {
        let request = http::Request::get(target).body(Body::empty()).unwrap();
        ResponseKey::new("/users/<id>", &request, &[])
    }

    fn tagged_ok(body: &'static str) -> Response {
        super::super::tagged(Response::new(Body::full(body)), "user:1".to_owned())
    }

    fn body(response: Response) -> Bytes {
        response.into_body().in_memory().unwrap()
    }

    const TTL: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn an_invalidation_while_the_handler_runs_is_not_lost() {
        let cache = ResponseCache::default();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let slow = cache.serve(key("/users/1"), TTL, async {
            released.await.unwrap();
            tagged_ok("before")
        });
        let write = async {
            tokio::task::yield_now().await;
            // The write commits and invalidates while the read still runs.
            cache.invalidate("user:1").await.unwrap();
            release.send(()).unwrap();
        };
        let (answer, ()) = tokio::join!(slow, write);
        assert_eq!(body(answer), "before");
        // What the slow read kept predates the write: not served.
        let again = cache
            .serve(key("/users/1"), TTL, async { tagged_ok("after") })
            .await;
        assert_eq!(body(again), "after");
        let kept = cache
            .serve(key("/users/1"), TTL, async { tagged_ok("unreached") })
            .await;
        assert!(
            kept.headers().contains_key(AGE),
            "a kept answer says its age"
        );
        assert_eq!(body(kept), "after");
    }

    #[tokio::test]
    async fn only_plain_200s_are_kept_and_each_for_its_time() {
        let cache = ResponseCache::default();
        let mut not_found = Response::new(Body::full("no"));
        *not_found.status_mut() = StatusCode::NOT_FOUND;
        cache.serve(key("/a"), TTL, async { not_found }).await;
        let again = cache
            .serve(key("/a"), TTL, async { tagged_ok("now found") })
            .await;
        assert_eq!(body(again), "now found", "a 404 is not kept");
        let mut cookie = Response::new(Body::full("c"));
        cookie
            .headers_mut()
            .insert(SET_COOKIE, HeaderValue::from_static("s=1"));
        cache.serve(key("/b"), TTL, async { cookie }).await;
        let again = cache
            .serve(key("/b"), TTL, async { tagged_ok("plain") })
            .await;
        assert_eq!(
            body(again),
            "plain",
            "a response setting a cookie is not kept"
        );

        cache
            .serve(key("/c"), Duration::ZERO, async { tagged_ok("old") })
            .await;
        let fresh = cache
            .serve(key("/c"), TTL, async { tagged_ok("new") })
            .await;
        assert_eq!(body(fresh), "new", "an expired answer is not served");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_runs_the_handler_once_and_a_failed_leader_hands_over() {
        let cache = ResponseCache::default();
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let burst: Vec<_> = (0..32)
            .map(|_| {
                let (cache, runs) = (cache.clone(), Arc::clone(&runs));
                tokio::spawn(async move {
                    let answer = cache
                        .serve(key("/burst"), TTL, async {
                            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            tagged_ok("once")
                        })
                        .await;
                    body(answer)
                })
            })
            .collect();
        for answer in burst {
            assert_eq!(answer.await.unwrap(), "once");
        }
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(cache.flights().is_empty(), "no flight outlives its run");

        // A leader whose answer cannot be kept: the waiters run their own.
        let failing = cache.serve(key("/fails"), TTL, async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            r
        });
        let waiting = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            cache
                .serve(key("/fails"), TTL, async { tagged_ok("second") })
                .await
        };
        let (first, second) = tokio::join!(failing, waiting);
        assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body(second), "second");
    }
}
