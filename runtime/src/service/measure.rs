//! The pipeline's HTTP server metrics, by the OpenTelemetry semantic
//! conventions: `http.server.request.duration`, `http.server.active_requests`,
//! `http.server.request.body.size` and `http.server.response.body.size`.
//!
//! Every label set is fixed in advance: a series per route (its template,
//! never the raw path), request method (the route's own, or HEAD answered
//! by a GET route) and status code, made the first time it is seen and
//! found again by indexing, so a request pays two clock reads and a few
//! adds into its thread's shard — no map lookup, no label allocation, and
//! nothing counted out per request (requests in flight are worked out at
//! a scrape). A request no route takes counts under no `http_route` and
//! its method (`_OTHER` for one outside RFC 9110), so a scanner's random
//! paths make no series.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use http::Method;

use crate::body::Body;
use crate::handler::Route;
use crate::metrics::shard::{self, Shard};
use crate::metrics::{DURATION_BOUNDS, Exposition, Histogram, SIZE_BOUNDS, Unit};
use crate::response::Response;

/// The methods RFC 9110 defines, then `_OTHER` for any other.
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

/// Status codes in the IANA registry: each has its own series slot; a code
/// outside it (a handler's 299) is counted on a slower path.
const REGISTERED: [u16; 62] = [
    100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
    305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
    416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505,
    506, 507, 508, 510, 511,
];

/// Status code − 100 → its slot in [`REGISTERED`], or `NONE`.
const SLOT: [u8; 500] = {
    let mut slots = [NONE; 500];
    let mut i = 0;
    while i < REGISTERED.len() {
        slots[REGISTERED[i] as usize - 100] = i as u8;
        i += 1;
    }
    slots
};
const NONE: u8 = u8::MAX;

/// [`METHODS`]' index of HEAD.
const HEAD: usize = 1;

fn method_slot(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => HEAD,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

/// One label set's figures: a shard per counting thread (see
/// [`shard`](crate::metrics::shard)), on cache lines of its own.
#[derive(Debug)]
struct Series(Box<[Figures]>);

#[derive(Debug)]
#[repr(align(64))]
struct Figures {
    duration: Histogram<15>,
    request_size: Histogram<11>,
    response_size: Histogram<11>,
}

/// What is known of a request once answered.
#[derive(Clone, Copy)]
struct Done<'r> {
    nanos: u64,
    request_size: Option<u64>,
    response: &'r Response,
}

impl Figures {
    #[inline]
    fn record<const SHARED: bool>(&self, done: Done<'_>) {
        self.duration.observe_in::<SHARED>(done.nanos);
        if let Some(size) = done.request_size {
            self.request_size.observe_in::<SHARED>(size);
        }
        if let Some(size) = done.response.body().exact_len() {
            self.response_size.observe_in::<SHARED>(size);
        }
    }
}

impl Series {
    fn new() -> Box<Self> {
        let figures = (0..shard::count()).map(|_| Figures {
            duration: Histogram::new(&DURATION_BOUNDS),
            request_size: Histogram::new(&SIZE_BOUNDS),
            response_size: Histogram::new(&SIZE_BOUNDS),
        });
        Box::new(Series(figures.collect()))
    }

    /// Counts a request, in `shard`.
    #[inline]
    fn record(&self, shard: Shard, done: Done<'_>) {
        let figures = &self.0[shard.index];
        if shard.shared() {
            figures.record::<true>(done);
        } else {
            figures.record::<false>(done);
        }
    }

    /// The shards summed, for a scrape.
    fn summed(&self) -> Figures {
        Figures {
            duration: Histogram::summed(&DURATION_BOUNDS, self.0.iter().map(|f| &f.duration)),
            request_size: Histogram::summed(&SIZE_BOUNDS, self.0.iter().map(|f| &f.request_size)),
            response_size: Histogram::summed(&SIZE_BOUNDS, self.0.iter().map(|f| &f.response_size)),
        }
    }
}

/// Requests counted by method, in one shard.
#[derive(Debug)]
#[repr(align(64))]
struct ByMethod([AtomicU64; METHODS.len()]);

impl ByMethod {
    fn new() -> Self {
        ByMethod(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// A series per registered status code, made when first needed.
#[derive(Debug)]
struct Statuses([OnceLock<Box<Series>>; REGISTERED.len()]);

impl Statuses {
    fn new() -> Self {
        Statuses([const { OnceLock::new() }; REGISTERED.len()])
    }
}

/// A route's series: its own method, and HEAD when a GET route answers it.
#[derive(Debug)]
struct RouteSeries {
    template: &'static str,
    /// The route's method, as a [`METHODS`] index.
    method: usize,
    by_method: [Statuses; 2],
}

/// The HTTP server metrics of one app.
#[derive(Debug)]
pub(crate) struct HttpMetrics {
    clock: quanta::Clock,
    routes: Box<[RouteSeries]>,
    unmatched: [Statuses; METHODS.len()],
    /// Requests started and requests cancelled unanswered, a shard per
    /// counting thread. In flight are those neither answered (counted in
    /// their series) nor cancelled: worked out at a scrape, so that
    /// answering one costs no add.
    started: Box<[ByMethod]>,
    cancelled: Box<[ByMethod]>,
    /// Series of unregistered status codes.
    rare: Mutex<Vec<(RareKey, Box<Series>)>>,
}

/// An unregistered status code's series: route, method slot, code.
type RareKey = (Option<usize>, usize, u16);

/// Where a request was counted from: made as it enters the pipeline,
/// finished with its response. Dropped unfinished (the client went away
/// and the request was cancelled), it is counted as cancelled.
pub(crate) struct Watch<'m> {
    metrics: &'m HttpMetrics,
    /// The clock's raw reading: scaled only for the difference.
    started: u64,
    method: usize,
    request_size: Option<u64>,
}

impl HttpMetrics {
    pub(crate) fn new(routes: &[Route]) -> Self {
        HttpMetrics {
            clock: quanta::Clock::new(),
            routes: routes
                .iter()
                .map(|route| RouteSeries {
                    template: route.path(),
                    method: method_slot(route.method()),
                    by_method: [Statuses::new(), Statuses::new()],
                })
                .collect(),
            unmatched: std::array::from_fn(|_| Statuses::new()),
            started: (0..shard::count()).map(|_| ByMethod::new()).collect(),
            cancelled: (0..shard::count()).map(|_| ByMethod::new()).collect(),
            rare: Mutex::new(Vec::new()),
        }
    }

    /// Starts counting `request`.
    #[inline]
    pub(crate) fn start(&self, request: &http::Request<Body>) -> Watch<'_> {
        let method = method_slot(request.method());
        let shard = Shard::current();
        shard.add(&self.started[shard.index].0[method], 1);
        Watch {
            metrics: self,
            started: self.clock.raw(),
            method,
            request_size: request.body().exact_len(),
        }
    }

    fn statuses(&self, route: Option<usize>, method: usize) -> &Statuses {
        match route.and_then(|index| self.routes.get(index)) {
            // A request routed here has the route's method, or is a HEAD
            // a GET route answers.
            Some(series) => &series.by_method[usize::from(method != series.method)],
            None => &self.unmatched[method],
        }
    }

    #[cold]
    fn record_rare(&self, at: RareKey, shard: Shard, done: Done<'_>) {
        let mut rare = self
            .rare
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let index = rare.iter().position(|(key, _)| *key == at);
        let index = index.unwrap_or_else(|| {
            rare.push((at, Series::new()));
            rare.len() - 1
        });
        rare[index].1.record(shard, done);
    }

    /// Writes the four families.
    pub(crate) fn write(&self, out: &mut Exposition<'_>) -> std::fmt::Result {
        let codes: Vec<String> = (100u16..600).map(|code| code.to_string()).collect();
        let rare = self
            .rare
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut samples: Vec<(Vec<(&str, &str)>, Figures)> = Vec::new();
        // Read before the requests started, so that a request answered
        // meanwhile is never counted out without having been counted in.
        let mut answered = [0u64; METHODS.len()];
        let mut add = |route: Option<&'static str>, method: usize, code: u16, series: &Series| {
            let text = codes[usize::from(code) - 100].as_str();
            let figures = series.summed();
            answered[method] += figures.duration.count();
            samples.push((labels(route, METHODS[method], text, code >= 500), figures));
        };
        for route in &self.routes {
            for (own, statuses) in route.by_method.iter().enumerate() {
                let method = if own == 0 { route.method } else { HEAD };
                for (slot, series) in statuses.0.iter().enumerate() {
                    if let Some(series) = series.get() {
                        add(Some(route.template), method, REGISTERED[slot], series);
                    }
                }
            }
        }
        for (method, statuses) in self.unmatched.iter().enumerate() {
            for (slot, series) in statuses.0.iter().enumerate() {
                if let Some(series) = series.get() {
                    add(None, method, REGISTERED[slot], series);
                }
            }
        }
        for ((route, method, code), series) in rare.iter() {
            let template = route
                .and_then(|index| self.routes.get(index))
                .map(|route| route.template);
            add(template, *method, *code, series);
        }
        out.histogram(
            "http.server.request.duration",
            "Duration of HTTP server requests: from the request entering the pipeline to its response head.",
            Unit::Seconds,
            samples.iter().map(|(labels, series)| (labels.as_slice(), &series.duration)),
        )?;
        out.histogram(
            "http.server.request.body.size",
            "Size of HTTP server request bodies whose length was declared.",
            Unit::Bytes,
            samples
                .iter()
                .map(|(labels, series)| (labels.as_slice(), &series.request_size)),
        )?;
        out.histogram(
            "http.server.response.body.size",
            "Size of HTTP server response bodies whose length was known.",
            Unit::Bytes,
            samples
                .iter()
                .map(|(labels, series)| (labels.as_slice(), &series.response_size)),
        )?;
        let active: Vec<[(&str, &str); 2]> = METHODS
            .iter()
            .map(|&method| [("http.request.method", method), ("url.scheme", "http")])
            .collect();
        out.gauge(
            "http.server.active_requests",
            "HTTP server requests being answered now.",
            active.iter().enumerate().map(|(method, labels)| {
                let sum = |shards: &[ByMethod]| -> u64 {
                    shards
                        .iter()
                        .map(|shard| shard.0[method].load(Ordering::Relaxed))
                        .sum()
                };
                let ended = answered[method] + sum(&self.cancelled);
                let count = sum(&self.started).saturating_sub(ended);
                (&labels[..], count as f64)
            }),
        )
    }
}

impl Watch<'_> {
    /// Counts the request as answered by `response`, by route `route`
    /// (`None`: no route took it).
    #[inline]
    pub(crate) fn finish(self, route: Option<usize>, response: &Response) {
        let metrics = self.metrics;
        let done = Done {
            nanos: metrics
                .clock
                .delta_as_nanos(self.started, metrics.clock.raw()),
            request_size: self.request_size,
            response,
        };
        let shard = Shard::current();
        let code = response.status().as_u16();
        match SLOT.get(usize::from(code).wrapping_sub(100)) {
            Some(&slot) if slot != NONE => metrics.statuses(route, self.method).0
                [usize::from(slot)]
            .get_or_init(Series::new)
            .record(shard, done),
            _ => metrics.record_rare((route, self.method, code), shard, done),
        }
        // Answered: the drop would count it as cancelled.
        std::mem::forget(self);
    }
}

impl Drop for Watch<'_> {
    #[inline]
    fn drop(&mut self) {
        let shard = Shard::current();
        shard.add(&self.metrics.cancelled[shard.index].0[self.method], 1);
    }
}

/// A sample's labels, by the conventions' attribute names as Prometheus
/// spells them; `error_type` is the status code of a 5xx.
fn labels<'a>(
    route: Option<&'a str>,
    method: &'a str,
    code: &'a str,
    error: bool,
) -> Vec<(&'a str, &'a str)> {
    [
        Some(("http.request.method", method)),
        Some(("url.scheme", "http")),
        route.map(|route| ("http.route", route)),
        Some(("http.response.status_code", code)),
        error.then_some(("error.type", code)),
    ]
    .into_iter()
    .flatten()
    .collect()
}
