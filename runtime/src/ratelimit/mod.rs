//! Rate limiting: a token bucket per client key, as a layer.
//!
//! The key is the authenticated subject when there is one, else the
//! client's IP (`X-Forwarded-For`/`Forwarded` honoured only from trusted
//! proxies), or whatever a custom key function says. Every answer carries
//! the IETF `RateLimit-Policy` and `RateLimit` fields; a refused request is
//! a 429 envelope with `Retry-After`.

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
mod store;

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use store::{Checked, ClientKey, Decision, MemoryStore, RateLimitStore, StoreError};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use http::HeaderValue;
use http::header::{HeaderName, RETRY_AFTER};

use crate::auth::{Jwt, VerifiedClaims};
use crate::metrics::Exposition;
use crate::openapi::Operation;
use crate::response::{ApiError, IntoResponse, Response, refused};
use crate::router::covers;
use crate::service::{Middleware, Next, Request};

/// A bucket's size and refill rate, with a name for the headers.
#[derive(Debug, Clone)]
pub struct Policy {
    id: u16,
    capacity: u32,
    /// Nanoseconds per token.
    interval_ns: u64,
    header: HeaderValue,
    /// `"name";r=`: how every `RateLimit` header value begins.
    state_prefix: Box<[u8]>,
    name: Arc<str>,
    /// Requests allowed and limited under it, shared by its clones.
    decisions: Arc<[AtomicU64; 2]>,
}

/// Why a rate-limit policy cannot be honoured.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A bucket of no tokens would refuse everything forever.
    #[error("a rate-limit policy needs a capacity of at least 1")]
    ZeroCapacity,
    /// The refill rate is zero, negative or not a number.
    #[error("refill_per_sec must be a positive number, found {0}")]
    Refill(f64),
    /// The bucket would take longer to refill than the limiter can count.
    #[error(
        "{capacity} tokens at {refill_per_sec} per second take more than {MAX_FILL_YEARS} years to refill; use a higher rate"
    )]
    TooSlow {
        /// The capacity asked for.
        capacity: u32,
        /// The refill rate asked for.
        refill_per_sec: f64,
    },
}

/// The longest a bucket may take to fill: its state is nanoseconds in a
/// `u64` (584 years), and this leaves room for the clock.
const MAX_FILL_YEARS: u64 = 100;
const MAX_FILL_NS: f64 = MAX_FILL_YEARS as f64 * 365.25 * 86_400.0 * 1e9;

impl Policy {
    /// `capacity` tokens, `refill_per_sec` tokens back each second.
    ///
    /// # Panics
    /// When [`try_new`](Policy::try_new) refuses the policy, with its reason.
    pub fn new(name: &str, capacity: u32, refill_per_sec: f64) -> Self {
        Self::try_new(name, capacity, refill_per_sec).unwrap_or_else(|err| panic!("{err}"))
    }

    /// `capacity` tokens, `refill_per_sec` tokens back each second; refused
    /// when no bucket could honour it (no tokens, no refill, or a refill
    /// so slow that filling the bucket would take over a hundred years).
    pub fn try_new(name: &str, capacity: u32, refill_per_sec: f64) -> Result<Self, PolicyError> {
        if capacity == 0 {
            return Err(PolicyError::ZeroCapacity);
        }
        if !(refill_per_sec > 0.0 && refill_per_sec.is_finite()) {
            return Err(PolicyError::Refill(refill_per_sec));
        }
        let interval = (1e9 / refill_per_sec).round().max(1.0);
        if interval * f64::from(capacity) > MAX_FILL_NS {
            return Err(PolicyError::TooSlow {
                capacity,
                refill_per_sec,
            });
        }
        Ok(Self::checked(
            name,
            capacity,
            refill_per_sec,
            interval as u64,
        ))
    }

    fn checked(name: &str, capacity: u32, refill_per_sec: f64, interval_ns: u64) -> Self {
        static NEXT_ID: AtomicU16 = AtomicU16::new(0);
        let window = (f64::from(capacity) / refill_per_sec).ceil() as u64;
        let header = HeaderValue::try_from(format!("\"{name}\";q={capacity};w={window}"))
            .unwrap_or_else(|_| HeaderValue::from_static("\"default\""));
        Policy {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            capacity,
            interval_ns,
            header,
            state_prefix: format!("\"{name}\";r=").into_bytes().into(),
            name: name.into(),
            decisions: Arc::default(),
        }
    }

    /// The `RateLimit` header value after a check: `"name";r=2;t=5`.
    /// Written by hand: `format!` costs more than the check itself.
    fn state(&self, remaining: u32, reset_secs: u64) -> Option<HeaderValue> {
        let (mut r, mut t) = (itoa::Buffer::new(), itoa::Buffer::new());
        let (r, t) = (
            r.format(remaining).as_bytes(),
            t.format(reset_secs).as_bytes(),
        );
        let mut value = Vec::with_capacity(self.state_prefix.len() + r.len() + 3 + t.len());
        value.extend_from_slice(&self.state_prefix);
        value.extend_from_slice(r);
        value.extend_from_slice(b";t=");
        value.extend_from_slice(t);
        HeaderValue::from_maybe_shared(bytes::Bytes::from(value)).ok()
    }

    /// The capacity.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }
}

type KeyFn = Arc<dyn Fn(&Request, Option<SocketAddr>) -> Option<ClientKey> + Send + Sync>;

/// The rate-limiting layer.
///
/// ```
/// use portico_runtime::ratelimit::RateLimit;
///
/// let limit = RateLimit::per_client(5, 2.0)          // 5 at once, 2 per second after
///     .route("/login", "login", 3, 0.1)              // stricter for logins
///     .trust_proxy("10.0.0.1".parse().unwrap());     // X-Forwarded-For from it only
/// # let _ = limit;
/// ```
#[derive(Clone)]
pub struct RateLimit {
    default: Policy,
    routes: Vec<(String, Policy)>,
    exempt: Vec<String>,
    trusted: Vec<IpAddr>,
    ipv6_prefix: u8,
    store: Arc<dyn RateLimitStore>,
    key: Option<KeyFn>,
    jwt: Option<Arc<Jwt>>,
    /// What happens while a shared store cannot answer.
    outage: Arc<Outage>,
}

/// A shared store's outage policy and state, shared by the layer's clones.
struct Outage {
    /// Refuse (503) instead of falling back to local buckets.
    fail_closed: bool,
    /// The longest a check waits for the store.
    timeout: Duration,
    /// The buckets used meanwhile, in this process.
    local: MemoryStore,
    /// Whether the last check failed: the log tells of each change once.
    failing: AtomicBool,
    /// Checks the store failed, ever.
    failures: AtomicU64,
}

impl Default for Outage {
    fn default() -> Self {
        Outage {
            fail_closed: false,
            timeout: Duration::from_millis(250),
            local: MemoryStore::default(),
            failing: AtomicBool::new(false),
            failures: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("default", &self.default)
            .field("routes", &self.routes)
            .field("exempt", &self.exempt)
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

impl RateLimit {
    /// One bucket per client: `capacity` at once, `refill_per_sec` after.
    /// `/healthz`, `/ready` and `/metrics` are exempt.
    ///
    /// # Panics
    /// When the policy cannot be honoured; [`try_per_client`](RateLimit::try_per_client)
    /// says why instead, for settings read at run time.
    pub fn per_client(capacity: u32, refill_per_sec: f64) -> Self {
        Self::with_default(Policy::new("default", capacity, refill_per_sec))
    }

    /// [`per_client`](RateLimit::per_client), or why its policy cannot be
    /// honoured.
    pub fn try_per_client(capacity: u32, refill_per_sec: f64) -> Result<Self, PolicyError> {
        Ok(Self::with_default(Policy::try_new(
            "default",
            capacity,
            refill_per_sec,
        )?))
    }

    fn with_default(default: Policy) -> Self {
        RateLimit {
            default,
            routes: Vec::new(),
            exempt: vec!["/healthz".into(), "/ready".into(), "/metrics".into()],
            trusted: Vec::new(),
            ipv6_prefix: 64,
            store: Arc::new(MemoryStore::default()),
            key: None,
            jwt: None,
            outage: Arc::default(),
        }
    }

    /// A stricter policy, with buckets of its own, for paths under `prefix`.
    pub fn route(mut self, prefix: &str, name: &str, capacity: u32, refill_per_sec: f64) -> Self {
        self.routes.push((
            prefix.to_owned(),
            Policy::new(name, capacity, refill_per_sec),
        ));
        self
    }

    /// Requests for exactly `path` are never limited (not the paths under
    /// it: an exemption of `/healthz` must not open `/healthz/anything`).
    pub fn exempt(mut self, path: &str) -> Self {
        self.exempt.push(path.to_owned());
        self
    }

    /// How many leading bits of an IPv6 address make one client (default
    /// 64: a host is usually given a whole /64, and could rotate through
    /// it); 128 keys each address apart.
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.ipv6_prefix = bits.min(128);
        self
    }

    /// Honour `X-Forwarded-For` / `Forwarded` when the peer is `proxy`.
    pub fn trust_proxy(mut self, proxy: IpAddr) -> Self {
        self.trusted.push(proxy);
        self
    }

    /// Keys clients by a function of the request and the peer address;
    /// `None` falls back to the default key.
    pub fn key_fn(
        mut self,
        key: impl Fn(&Request, Option<SocketAddr>) -> Option<ClientKey> + Send + Sync + 'static,
    ) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// While the shared store cannot answer, refuse requests with a 503
    /// (and `Retry-After`) instead of limiting them with this process's
    /// own buckets (the default: the API stays up, each instance enforcing
    /// the limit on its own share of the traffic).
    pub fn fail_closed(mut self) -> Self {
        self.outage_mut().fail_closed = true;
        self
    }

    /// The longest a check waits for a shared store before counting it
    /// as down for that request (default 250 ms).
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.outage_mut().timeout = timeout;
        self
    }

    fn outage_mut(&mut self) -> &mut Outage {
        // Configured before the layer is cloned into an app.
        if Arc::get_mut(&mut self.outage).is_none() {
            self.outage = Arc::new(Outage {
                fail_closed: self.outage.fail_closed,
                timeout: self.outage.timeout,
                ..Outage::default()
            });
        }
        Arc::get_mut(&mut self.outage).expect("just made unique")
    }

    /// The decision of the store, or of the outage policy when a shared
    /// store cannot answer in time (`None`: refuse with a 503).
    async fn decide(&self, key: &ClientKey, policy: &Policy) -> Option<Decision> {
        let later = match self.store.check(key, policy) {
            Checked::Now(decision) => return Some(decision),
            Checked::Later(later) => later,
        };
        let outage = &*self.outage;
        let answer = tokio::time::timeout(outage.timeout, later)
            .await
            .unwrap_or(Err(StoreError::TimedOut));
        match answer {
            Ok(decision) => {
                if outage.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the rate-limit store answers again; shared buckets are back");
                }
                Some(decision)
            }
            Err(error) => {
                outage.failures.fetch_add(1, Ordering::Relaxed);
                if !outage.failing.swap(true, Ordering::Relaxed) {
                    let error = error.to_string();
                    tracing::warn!(
                        error = %crate::text::untrusted(&error),
                        fail_closed = outage.fail_closed,
                        "the rate-limit store cannot answer; {}",
                        if outage.fail_closed { "refusing requests" } else { "limiting with this process's buckets" }
                    );
                }
                (!outage.fail_closed).then(|| outage.local.check_now(key, policy))
            }
        }
    }

    /// Keeps buckets in `store` instead of in this process.
    pub fn store(mut self, store: impl RateLimitStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// Keys authenticated clients by their subject: a valid bearer token
    /// is verified here (once: its claims are kept for the handler).
    pub fn authenticate_with(mut self, jwt: Arc<Jwt>) -> Self {
        self.jwt = Some(jwt);
        self
    }

    fn policy(&self, path: &str) -> Option<&Policy> {
        if self.exempt.iter().any(|exempt| exempt == path) {
            return None;
        }
        Some(
            self.routes
                .iter()
                .find(|(p, _)| covers(p, path))
                .map_or(&self.default, |(_, policy)| policy),
        )
    }

    fn client_key(&self, request: &mut Request, peer: Option<SocketAddr>) -> ClientKey {
        if let Some(key) = self.key.as_ref().and_then(|key| key(request, peer)) {
            return key;
        }
        if let Some(subject) = crate::auth::claims_of(request, self.jwt.as_deref())
            .and_then(VerifiedClaims::shared_subject)
        {
            return ClientKey::Subject(Arc::clone(subject));
        }
        match peer {
            Some(peer) => ClientKey::Ip(self.masked(self.client_ip(request, peer.ip()))),
            None => ClientKey::Unknown,
        }
    }

    /// An address as a client key: IPv4 whole, IPv6 by its prefix.
    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.ipv6_prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
            v4 => v4,
        }
    }

    /// The client's address: the peer, or — when the peer is a trusted
    /// proxy — the nearest untrusted address in the forwarding chain.
    fn client_ip(&self, request: &Request, peer: IpAddr) -> IpAddr {
        if !self.trusted.contains(&peer) {
            return peer;
        }
        let forwarded = forwarded_chain(request);
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !self.trusted.contains(ip))
            .unwrap_or(peer)
    }
}

/// The addresses of `X-Forwarded-For`, else of `Forwarded`'s `for=`, in order.
fn forwarded_chain(request: &Request) -> Vec<IpAddr> {
    let headers = request.headers();
    let xff: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|ip| ip.trim().parse().ok())
        .collect();
    if !xff.is_empty() {
        return xff;
    }
    headers
        .get_all(http::header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                if !name.eq_ignore_ascii_case("for") {
                    return None;
                }
                let value = value.trim_matches('"');
                // `[2001:db8::1]:4711`, `192.0.2.60:80` or a bare address.
                let host = match value.strip_prefix('[') {
                    Some(v6) => v6.split(']').next()?,
                    None => value
                        .split(':')
                        .next()
                        .filter(|_| value.matches(':').count() <= 1)
                        .unwrap_or(value),
                };
                host.parse().ok()
            })
        })
        .collect()
}

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The idempotency layer's header (it sits above this module).
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

fn ceil_secs(d: std::time::Duration) -> u64 {
    let whole = d.as_secs();
    if d.subsec_nanos() > 0 {
        whole + 1
    } else {
        whole
    }
}

impl Middleware for RateLimit {
    async fn call(&self, mut request: Request, next: Next) -> Response {
        let Some(policy) = self.policy(request.uri().path()) else {
            return next.run(request).await;
        };
        let key = self.client_key(&mut request, next.peer_addr());
        let Some(decision) = self.decide(&key, policy).await else {
            return refused(
                ApiError::unavailable("the service is unavailable; retry later")
                    .with_header(RETRY_AFTER, HeaderValue::from(1))
                    .into_response(),
            );
        };
        policy.decisions[usize::from(!decision.allowed)].fetch_add(1, Ordering::Relaxed);
        // The idempotency layer scopes keys by the same client. Only
        // unsafe methods can carry a key it honours: a GET pays nothing.
        if !request.method().is_safe() && request.headers().contains_key(IDEMPOTENCY_KEY) {
            request.extensions_mut().insert(key);
        }
        let state = policy.state(decision.remaining, ceil_secs(decision.reset_after));
        let mut response = if decision.allowed {
            next.run(request).await
        } else {
            let retry = ceil_secs(decision.retry_after).max(1);
            refused(
                ApiError::too_many_requests("too many requests; retry later")
                    .with_header(RETRY_AFTER, HeaderValue::from(retry))
                    .into_response(),
            )
        };
        let headers = response.headers_mut();
        headers.insert(RATELIMIT_POLICY, policy.header.clone());
        if let Some(state) = state {
            headers.insert(RATELIMIT, state);
        }
        response
    }

    /// `portico_ratelimit_requests{policy, decision}`: requests each
    /// policy allowed and limited.
    fn collect(&self, out: &mut Exposition<'_>) -> std::fmt::Result {
        let policies: Vec<&Policy> = std::iter::once(&self.default)
            .chain(self.routes.iter().map(|(_, policy)| policy))
            .collect();
        let labels: Vec<[[(&str, &str); 2]; 2]> = policies
            .iter()
            .map(|policy| {
                let name = &*policy.name;
                [
                    [("policy", name), ("decision", "allowed")],
                    [("policy", name), ("decision", "limited")],
                ]
            })
            .collect();
        out.counter(
            "portico.ratelimit.requests",
            "Requests a rate-limit policy checked, by decision.",
            labels.iter().zip(&policies).flat_map(|(labels, policy)| {
                [0, 1].map(|i| (&labels[i][..], policy.decisions[i].load(Ordering::Relaxed)))
            }),
        )?;
        out.counter(
            "portico.ratelimit.store.failures",
            "Checks the shared bucket store could not answer in time (each decided by the outage policy).",
            [(&[][..], self.outage.failures.load(Ordering::Relaxed))],
        )
    }

    /// A 429 with `Retry-After`, and `RateLimit-Policy` / `RateLimit` on
    /// every answer, for the routes a policy covers.
    fn describe(&self, op: &mut Operation<'_>) {
        if self.policy(op.path()).is_none() {
            return;
        }
        let header = |description: &str| serde_json::json!({"description": description, "schema": {"type": "string"}});
        let mut headers = serde_json::Map::new();
        headers.insert("Retry-After".into(), header("seconds to wait"));
        headers.insert(
            "RateLimit-Policy".into(),
            header("the policy (RFC draft-ietf-httpapi-ratelimit-headers)"),
        );
        headers.insert(
            "RateLimit".into(),
            header("what is left, and when it refills"),
        );
        op.error_with(
            429,
            "too many requests from this client: retry after `Retry-After` seconds",
            headers,
        );
        op.success_header(
            "RateLimit-Policy",
            "the policy (RFC draft-ietf-httpapi-ratelimit-headers)",
        );
        op.success_header("RateLimit", "what is left, and when it refills");
    }
}
