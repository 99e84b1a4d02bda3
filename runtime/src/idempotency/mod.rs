//! Safe retries: the `Idempotency-Key` layer (IETF
//! draft-ietf-httpapi-idempotency-key-header, as Stripe documents it).
//!
//! A client sends a unique key with a request that changes something
//! (`POST`, `PATCH`); if the answer is lost it sends the same request with
//! the same key, and gets the first answer back instead of a second
//! payment. Keys belong to a client (the verified token's subject, else
//! the client's address or a hash of its credentials), so one client can
//! never read another's answer.
//!
//! | the same key, again … | answer |
//! | --- | --- |
//! | with the same request, after it was answered | the stored answer, with `Idempotent-Replayed: true` |
//! | while the first is still running | 409, `Retry-After` |
//! | with another method, target or body | 422 |
//! | after the record expired (default 24 h) | runs as new |
//! | on a method or path no route takes | its 405 or 404; the key is not read |
//!
//! A malformed key is a 400 (one header, printable ASCII, 1 to 255
//! characters, quoted `"…"` or bare); a missing one too where
//! [`require`](Idempotency::require)d. When the store cannot answer, the
//! request is refused with a 503 and `Retry-After`, never run unprotected.
//!
//! What is stored: every answer the handler gave, 4xx included, except
//! 5xx (a 503 from a database that is down, a 500 from a panic): those
//! say the server could not do the work, the key is freed and a retry
//! runs again — with a SQL store recording in the handler's own
//! transaction, a handler that failed rolled its writes back with the
//! record. [`keep_server_errors`](Idempotency::keep_server_errors) stores
//! them as Stripe does. An answer given before the handler ran (no route,
//! authentication, validation, a rate limit: marked
//! [`Refused`]) is never stored, so the client
//! can fix the request and retry with the same key.
//!
//! Once started, a keyed request runs to its end even if the client goes
//! away, so that its answer is stored for the retry. Its lease (default
//! 60 s) is renewed while it runs, so a slow handler keeps its key; a
//! process that dies mid-request leaves a lease that lapses, and the key
//! is free again after it.

mod key;
#[cfg(feature = "redis")]
mod redis;
mod sql;
mod store;

use crate::openapi::Operation;
use crate::pool::SqlEngine;
use crate::router::covers;
pub use key::{KeyError, MAX_KEY_LEN};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
#[cfg(feature = "postgres")]
pub use sql::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sql::SqliteStore;
pub use store::{
    Begin, DEFAULT_MAX_RECORDS, IdempotencyStore, MemoryStore, RecordKey, StoreError, StoreFuture,
    StoredResponse, Token,
};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::Instrument;

use bytes::Bytes;
use http::header::{HeaderName, RETRY_AFTER};
use http::{HeaderValue, Method, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;

use crate::auth::{Jwt, VerifiedClaims};
use crate::body::Body;
use crate::extract::{FromRequest, RequestContext};
use crate::metrics::Exposition;
use crate::ratelimit::ClientKey;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::response::Rendered;
use crate::response::{ApiError, IntoResponse, Refused, Rejection, Response, refused};
use crate::service::{Middleware, Next, Request};

/// Set on a replayed answer.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The response headers stored with an answer and replayed with it: those
/// that describe its content. Per-request ones (request id, rate limit
/// state) and cookies are not replayed.
const CONTENT_HEADERS: [HeaderName; 7] = [
    http::header::CONTENT_TYPE,
    http::header::CONTENT_LANGUAGE,
    http::header::CONTENT_ENCODING,
    http::header::CONTENT_LOCATION,
    http::header::LOCATION,
    http::header::ETAG,
    http::header::LAST_MODIFIED,
];

/// The `Idempotency-Key` layer; see the [module docs](self).
///
/// ```
/// use std::time::Duration;
/// use portico_runtime::idempotency::Idempotency;
///
/// let layer = Idempotency::default()      // POST and PATCH, in memory, 24 h
///     .require("/payments")               // 400 without a key there
///     .ttl(Duration::from_secs(3600));
/// # let _ = layer;
/// ```
///
/// Add it with `App::wrap` after the layers that know the client (the
/// rate limiter, `BearerAuth`), or give it the app's `Jwt` with
/// [`authenticate_with`](Idempotency::authenticate_with).
#[derive(Clone)]
pub struct Idempotency {
    methods: Vec<Method>,
    only: Vec<String>,
    required: Vec<String>,
    ttl: Duration,
    lease: Duration,
    store_timeout: Duration,
    max_response: usize,
    keep_server_errors: bool,
    store: Arc<dyn IdempotencyStore>,
    jwt: Option<Arc<Jwt>>,
    /// What keyed requests came to, by [`OUTCOMES`], shared by clones.
    outcomes: Arc<[AtomicU64; OUTCOMES.len()]>,
}

/// What a keyed request can come to, as `/metrics` names it: run for the
/// first time, replayed, refused while its first run is in flight (409),
/// refused for a key reused with another request (422), refused for a
/// malformed or missing key (400), refused because the store failed (503).
const OUTCOMES: [&str; 6] = [
    "started",
    "replayed",
    "in_flight",
    "mismatch",
    "bad_key",
    "store_error",
];
const STARTED: usize = 0;
const REPLAYED: usize = 1;
const IN_FLIGHT: usize = 2;
const MISMATCH: usize = 3;
const BAD_KEY: usize = 4;
const STORE_ERROR: usize = 5;

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("methods", &self.methods)
            .field("only", &self.only)
            .field("required", &self.required)
            .field("ttl", &self.ttl)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Default for Idempotency {
    fn default() -> Self {
        Idempotency {
            methods: vec![Method::POST, Method::PATCH],
            only: Vec::new(),
            required: Vec::new(),
            ttl: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(60),
            store_timeout: Duration::from_secs(5),
            max_response: 1024 * 1024,
            keep_server_errors: false,
            store: Arc::new(MemoryStore::default()),
            outcomes: Arc::default(),
            jwt: None,
        }
    }
}

impl Idempotency {
    /// The default layer: `POST` and `PATCH`, records in memory for 24 h.
    pub fn new() -> Self {
        Self::default()
    }

    /// Honours keys on these methods instead of `POST` and `PATCH`.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Honours keys only on paths under `prefix` (whole segments); call it
    /// again for more prefixes. Without it, every path.
    pub fn only(mut self, prefix: &str) -> Self {
        self.only.push(prefix.to_owned());
        self
    }

    /// Requires a key on paths under `prefix` for the layer's methods: a
    /// request without one is a 400.
    pub fn require(mut self, prefix: &str) -> Self {
        self.required.push(prefix.to_owned());
        self
    }

    /// How long an answer is kept (default 24 h); a key is free again after.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a running request holds its key without renewing (default
    /// 60 s; renewed every third of it while the request runs): after a
    /// crash, its key is free again within this time.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// The longest wait for the store before refusing with a 503 (default 5 s).
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// The largest answer body stored (default 1 MiB); a larger one is
    /// sent but not stored, and the key freed.
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// Stores 5xx answers too, as Stripe does: a retry then gets the
    /// failure back rather than running again.
    pub fn keep_server_errors(mut self, keep: bool) -> Self {
        self.keep_server_errors = keep;
        self
    }

    /// Keeps records in `store` instead of in this process.
    pub fn store(mut self, store: impl IdempotencyStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// Keeps records in a shared `store`.
    pub fn shared_store(mut self, store: Arc<dyn IdempotencyStore>) -> Self {
        self.store = store;
        self
    }

    /// Scopes keys by the subject of a valid bearer token, verified here
    /// with `jwt` when no earlier layer did.
    pub fn authenticate_with(mut self, jwt: Arc<Jwt>) -> Self {
        self.jwt = Some(jwt);
        self
    }

    /// Whether requests of `method` to `path` are the layer's at all.
    #[inline]
    fn honours(&self, method: &Method, path: &str) -> bool {
        self.methods.contains(method)
            && (self.only.is_empty() || self.only.iter().any(|p| covers(p, path)))
    }

    /// Whose key it is: see the module docs.
    fn scope(&self, request: &mut Request, peer: Option<SocketAddr>) -> String {
        if let Some(subject) =
            crate::auth::claims_of(request, self.jwt.as_deref()).and_then(VerifiedClaims::subject)
        {
            return format!("subject:{subject}");
        }
        if let Some(credentials) = key::credentials_scope(request.headers()) {
            return credentials;
        }
        match (request.extensions().get::<ClientKey>(), peer) {
            (Some(ClientKey::Subject(subject)), _) => format!("subject:{subject}"),
            (Some(ClientKey::Ip(ip)), _) => format!("ip:{ip}"),
            (Some(ClientKey::Custom(custom)), _) => format!("custom:{custom}"),
            (Some(ClientKey::Unknown) | None, Some(peer)) => format!("ip:{}", peer.ip()),
            (Some(ClientKey::Unknown) | None, None) => "anonymous".to_owned(),
        }
    }

    /// A request with a key: see the module docs.
    async fn keyed(&self, mut request: Request, next: Next, key: String) -> Response {
        let scope = self.scope(&mut request, next.peer_addr());
        let body = match next.settings().read_request_body(&mut request).await {
            Ok(body) => body,
            Err(rejection) => return rejection.into_response(),
        };
        let target = request
            .uri()
            .path_and_query()
            .map_or(request.uri().path(), |pq| pq.as_str());
        let fingerprint = key::fingerprint(request.method(), target, &body);
        *request.body_mut() = Body::full(body);
        let record = RecordKey { scope, key };
        let begun = tokio::time::timeout(
            self.store_timeout,
            self.store.begin(&record, fingerprint, self.lease),
        )
        .await
        .unwrap_or(Err(StoreError::TimedOut));
        let outcome = match &begun {
            Ok(Begin::Started(_)) => STARTED,
            Ok(Begin::Done(_)) => REPLAYED,
            Ok(Begin::Running { .. }) => IN_FLIGHT,
            Ok(Begin::Mismatch) => MISMATCH,
            Err(_) => STORE_ERROR,
        };
        self.count(outcome);
        match begun {
            Ok(Begin::Started(token)) => {
                let attempt = Arc::new(Attempt {
                    store: Arc::clone(&self.store),
                    record,
                    token,
                    ttl: self.ttl,
                    lease: self.lease,
                    store_timeout: self.store_timeout,
                    max_response: self.max_response,
                    keep_server_errors: self.keep_server_errors,
                });
                request
                    .extensions_mut()
                    .insert(Idempotent(Arc::clone(&attempt)));
                attempt.run(request, next).await
            }
            Ok(Begin::Running { retry_after }) => refused(
                ApiError::conflict(
                    "a request with this Idempotency-Key is still being processed; retry later",
                )
                .with_header(RETRY_AFTER, HeaderValue::from(whole_secs(retry_after)))
                .into_response(),
            ),
            Ok(Begin::Done(stored)) => replay(stored),
            Ok(Begin::Mismatch) => refused(
                ApiError::unprocessable(
                    "this Idempotency-Key was already used with a different request",
                )
                .into_response(),
            ),
            Err(error) => {
                tracing::error!(error = %error, "idempotency store unavailable; request refused");
                refused(
                    ApiError::unavailable("the service is unavailable; retry later")
                        .with_header(RETRY_AFTER, HeaderValue::from(1))
                        .into_response(),
                )
            }
        }
    }
}

/// Seconds to wait, rounded up, at least one.
fn whole_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

impl Middleware for Idempotency {
    /// The common path, a request without a key, is a method check and one
    /// header lookup, and its future holds nothing but the next layer's:
    /// a plain fn rather than an `async fn`, whose state would keep the
    /// request and `next` too.
    fn call(&self, request: Request, next: Next) -> impl Future<Output = Response> + Send {
        // A request no route takes (404, 405) is answered as such, its key
        // unread: it could change nothing.
        if self.honours(request.method(), request.uri().path())
            && (request.headers().contains_key(key::IDEMPOTENCY_KEY)
                || self.requires(request.uri().path()))
            && next.route_for(&request).is_some()
        {
            Either::Checked {
                future: self.checked(request, next),
            }
        } else {
            Either::Passed {
                future: next.run(request),
            }
        }
    }

    /// `Idempotency-Key` on the methods and paths it honours: 400 for a
    /// malformed key, 409 while the first attempt runs, 422 for a key
    /// reused with another request, `Idempotent-Replayed` on a replay.
    /// `portico_idempotency_requests{outcome}`: what keyed requests came
    /// to — `started`, `replayed`, `in_flight` (409), `mismatch` (422),
    /// `bad_key` (400) or `store_error` (503).
    fn collect(&self, out: &mut Exposition<'_>) -> std::fmt::Result {
        let labels = OUTCOMES.map(|outcome| [("outcome", outcome)]);
        out.counter(
            "portico.idempotency.requests",
            "Requests with an Idempotency-Key, by what they came to.",
            labels
                .iter()
                .zip(self.outcomes.iter())
                .map(|(labels, count)| (&labels[..], count.load(Ordering::Relaxed))),
        )
    }

    fn describe(&self, op: &mut Operation<'_>) {
        if !self.honours(op.method(), op.path()) {
            return;
        }
        let required = self.requires(op.path());
        op.header(
            "Idempotency-Key",
            required,
            // Bare, or an RFC 8941 string: 1 to 255 printable ASCII
            // characters either way.
            serde_json::json!({"type": "string", "anyOf": [
                {"pattern": r#"^[!#-\[\]-~]{1,255}$"#},
                {"pattern": r#"^"([ !#-\[\]-~]|\\["\\]){1,255}"$"#},
            ]}),
            "a unique key per change: a retry with the same key gets the first answer back",
        );
        op.error(400, "a malformed `Idempotency-Key`");
        let mut retry = serde_json::Map::new();
        retry.insert(
            "Retry-After".into(),
            serde_json::json!({"description": "seconds to wait", "schema": {"type": "integer"}}),
        );
        op.error_with(
            409,
            "a request with this key is still being processed",
            retry,
        );
        op.error(422, "this key was already used with a different request");
        op.success_header(
            "Idempotent-Replayed",
            "`true` on an answer replayed for a retried key",
        );
    }
}

pin_project_lite::pin_project! {
    /// One of the two paths of [`Idempotency::call`].
    #[project = EitherProj]
    enum Either<C, P> {
        Checked { #[pin] future: C },
        Passed { #[pin] future: P },
    }
}

impl<C, P> Future for Either<C, P>
where
    C: Future<Output = Response>,
    P: Future<Output = Response>,
{
    type Output = Response;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Response> {
        match self.project() {
            EitherProj::Checked { future } => future.poll(cx),
            EitherProj::Passed { future } => future.poll(cx),
        }
    }
}

impl Idempotency {
    fn count(&self, outcome: usize) {
        self.outcomes[outcome].fetch_add(1, Ordering::Relaxed);
    }

    fn requires(&self, path: &str) -> bool {
        self.required.iter().any(|p| covers(p, path))
    }

    /// A request that carries a key or needs one. Boxed out of line: the
    /// common path's future stays as small as a pass-through layer's.
    #[inline(never)]
    fn checked(
        &self,
        request: Request,
        next: Next,
    ) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send + '_>> {
        Box::pin(async move {
            let error = match key::parse(request.headers()) {
                Ok(Some(key)) => return self.keyed(request, next, key).await,
                Ok(None) => KeyError::Missing,
                Err(error) => error,
            };
            self.count(BAD_KEY);
            bad_key(&error)
        })
    }
}

fn bad_key(error: &KeyError) -> Response {
    refused(ApiError::bad_request(error.to_string()).into_response())
}

/// The stored answer, sent again.
fn replay(stored: StoredResponse) -> Response {
    let mut response = http::Response::new(Body::full(stored.body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(name, value);
        }
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// One started attempt at a key.
struct Attempt {
    store: Arc<dyn IdempotencyStore>,
    record: RecordKey,
    token: Token,
    ttl: Duration,
    lease: Duration,
    store_timeout: Duration,
    max_response: usize,
    keep_server_errors: bool,
}

impl Attempt {
    /// Runs the request to its end in a task of its own, so that a client
    /// going away does not cut it short before its answer is stored, and
    /// settles the record.
    async fn run(self: Arc<Self>, request: Request, next: Next) -> Response {
        let attempt = Arc::clone(&self);
        // In the request's span and trace, so the handler's logs carry its
        // request id and what it enqueues its trace.
        let task = tokio::spawn(
            crate::trace::carried(async move {
                let response = attempt.renewing(next.run(request)).await;
                attempt.settle(response).await
            })
            .in_current_span(),
        );
        match task.await {
            Ok(response) => response,
            Err(_) => {
                // A layer inside panicked outside the handler's own guard.
                self.release().await;
                Rejection::Panic.into_response()
            }
        }
    }

    /// Awaits `handling`, renewing the lease every third of it meanwhile.
    async fn renewing(&self, handling: impl Future<Output = Response>) -> Response {
        let every = self.lease / 3;
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tokio::pin!(handling);
        loop {
            tokio::select! {
                response = &mut handling => return response,
                _ = renew.tick() => {
                    let renewed = tokio::time::timeout(
                        self.store_timeout,
                        self.store.renew(&self.record, self.token, self.lease),
                    )
                    .await;
                    if !matches!(renewed, Ok(Ok(true))) {
                        tracing::warn!("idempotency lease not renewed; a retry may run the request again");
                    }
                }
            }
        }
    }

    /// Stores `response` for replay, or frees the key; see the module docs.
    async fn settle(&self, response: Response) -> Response {
        if response.extensions().get::<Recorded>().is_some() {
            return response;
        }
        if response.extensions().get::<Refused>().is_some()
            || (response.status().is_server_error() && !self.keep_server_errors)
        {
            self.release().await;
            return response;
        }
        let (stored, response) = match self.capture(response).await {
            Ok(captured) => captured,
            Err(response) => {
                tracing::warn!(
                    limit = self.max_response,
                    "answer too large or streamed: not stored for replay; the key is freed"
                );
                self.release().await;
                return response;
            }
        };
        let completed = tokio::time::timeout(
            self.store_timeout,
            self.store
                .complete(&self.record, self.token, &stored, self.ttl),
        )
        .await;
        match completed {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tracing::warn!("idempotency lease lost before the answer was stored");
            }
            Ok(Err(error)) => {
                tracing::error!(error = %error, "idempotency store failed to store an answer");
            }
            Err(_) => tracing::error!("idempotency store timed out storing an answer"),
        }
        response
    }

    /// The response as stored, and the response to send; the response
    /// back when its body cannot be stored.
    async fn capture(&self, response: Response) -> Result<(StoredResponse, Response), Response> {
        let (parts, body) = response.into_parts();
        let bytes = match body.size_hint().exact() {
            Some(len) if len <= self.max_response as u64 => {
                match tokio::time::timeout(self.store_timeout, body.collect()).await {
                    Ok(Ok(collected)) => collected.to_bytes(),
                    _ => {
                        return Err(
                            ApiError::internal("the response could not be read").into_response()
                        );
                    }
                }
            }
            _ => return Err(Response::from_parts(parts, body)),
        };
        let stored = stored(parts.status, &parts.headers, bytes.clone());
        Ok((stored, Response::from_parts(parts, Body::full(bytes))))
    }

    async fn release(&self) {
        let released = tokio::time::timeout(
            self.store_timeout,
            self.store.release(&self.record, self.token),
        )
        .await;
        if !matches!(released, Ok(Ok(()))) {
            tracing::warn!("idempotency key not released; it is free again when its lease lapses");
        }
    }
}

fn stored(status: StatusCode, headers: &http::HeaderMap, body: Bytes) -> StoredResponse {
    StoredResponse {
        status: status.as_u16(),
        headers: CONTENT_HEADERS
            .iter()
            .flat_map(|name| {
                headers.get_all(name).iter().filter_map(move |value| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
            })
            .collect(),
        body,
    }
}

/// Marks an answer a handler recorded in its own transaction.
#[derive(Debug, Clone, Copy)]
struct Recorded;

/// The idempotency attempt a request runs under, for a handler that
/// records its answer in its own database transaction: then "the write
/// happened" and "the key is recorded" commit together or not at all.
/// Take it as `Option<Idempotent>`: requests without a key have none.
///
/// The store must keep its records in the same database
/// (`SqliteStore`, `PostgresStore`).
#[derive(Clone)]
pub struct Idempotent(Arc<Attempt>);

impl std::fmt::Debug for Idempotent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotent")
            .field("key", &self.0.record.key)
            .field("token", &self.0.token)
            .finish()
    }
}

/// Why an answer could not be recorded in a transaction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The layer's store keeps its records elsewhere (in memory, or in
    /// the other database engine).
    #[error("the idempotency store does not keep its records in this database")]
    OtherStore,
    /// The attempt's lease lapsed and a newer attempt took the key: roll
    /// back, the newer attempt does the work.
    #[error("the idempotency lease was lost to a newer attempt")]
    LeaseLost,
    /// The answer's body is streamed, or larger than the layer stores.
    #[error("the answer cannot be stored: its body is streamed or too large")]
    NotStorable,
    /// The database failed.
    #[error("the database failed: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<RecordError> for ApiError {
    fn from(error: RecordError) -> Self {
        match error {
            RecordError::LeaseLost => ApiError::conflict(
                "a newer attempt with this Idempotency-Key is running; retry later",
            ),
            other => {
                tracing::error!(error = %other, "recording an idempotent answer failed");
                ApiError::internal("internal server error")
            }
        }
    }
}

impl Idempotent {
    /// The key, as the client sent it (unquoted).
    pub fn key(&self) -> &str {
        &self.0.record.key
    }

    /// Renders `response` and its record, checking the store's engine.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    fn render(
        &self,
        engine: SqlEngine,
        response: impl IntoResponse,
    ) -> Result<(StoredResponse, Response), RecordError> {
        if self.0.store.engine() != Some(engine) {
            return Err(RecordError::OtherStore);
        }
        let (mut parts, body) = response.into_response().into_parts();
        let bytes = body
            .in_memory()
            .filter(|b| b.len() <= self.0.max_response)
            .ok_or(RecordError::NotStorable)?;
        parts.extensions.insert(Recorded);
        let stored = stored(parts.status, &parts.headers, bytes.clone());
        Ok((stored, Response::from_parts(parts, Body::full(bytes))))
    }

    /// Records `response` as this key's answer inside `tx`, the handler's
    /// SQLite transaction, and returns it to be sent: commit `tx` after.
    /// A [`RecordError`] comes back inside rusqlite's
    /// `UserFunctionError`, so that `?` in a `SqliteConnection::call`
    /// closure rolls the transaction back.
    #[cfg(feature = "sqlite")]
    pub fn record_sqlite<R: IntoResponse>(
        &self,
        tx: &rusqlite::Transaction<'_>,
        response: R,
    ) -> rusqlite::Result<Rendered<R>> {
        let user = |e: RecordError| rusqlite::Error::UserFunctionError(Box::new(e));
        let (stored, response) = self.render(SqlEngine::Sqlite, response).map_err(user)?;
        let a = &self.0;
        if sql::sqlite_complete(tx, &a.record, a.token, &stored, a.ttl)? {
            Ok(Rendered::from_response(response))
        } else {
            Err(user(RecordError::LeaseLost))
        }
    }

    /// Records `response` as this key's answer inside `tx`, the handler's
    /// PostgreSQL transaction, and returns it to be sent: commit `tx` after.
    #[cfg(feature = "postgres")]
    pub async fn record_postgres<R: IntoResponse>(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        response: R,
    ) -> Result<Rendered<R>, RecordError> {
        let (stored, response) = self.render(SqlEngine::Postgres, response)?;
        let a = &self.0;
        match sql::postgres_complete(tx, &a.record, a.token, &stored, a.ttl).await {
            Ok(true) => Ok(Rendered::from_response(response)),
            Ok(false) => Err(RecordError::LeaseLost),
            Err(error) => Err(RecordError::Database(Box::new(error))),
        }
    }
}

impl FromRequest for Idempotent {
    type Rejection = Rejection;

    async fn from_request(ctx: &mut RequestContext<'_>) -> Result<Self, Rejection> {
        ctx.extensions()
            .get::<Idempotent>()
            .cloned()
            .ok_or(Rejection::MissingExtension("Idempotent"))
    }
}
