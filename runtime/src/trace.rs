//! W3C Trace Context: the trace a request belongs to — the `traceparent`
//! (and `tracestate`) it arrived with, or a new trace — kept for the
//! request's duration so that its logs, its request id and the tasks it
//! enqueues carry it, and a task's run continues it.

use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderValue;

/// The longest `tracestate` kept (the W3C limit a vendor must propagate).
const MAX_TRACESTATE: usize = 512;

/// One request's (or task run's) place in a trace: the trace id, this
/// span's id, the caller's span id when the trace came in from outside,
/// the sampled flag, and the caller's `tracestate`.
///
/// The request id middleware ([`RequestId`](crate::middleware::RequestId))
/// makes it current for the request ([`current`]); a handler reads it
/// there to propagate it to the services it calls
/// ([`traceparent`](Trace::traceparent)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    trace_id: u128,
    span_id: u64,
    /// The caller's span; 0 (an id W3C forbids) when there is none.
    parent_id: u64,
    flags: u8,
    /// Boxed: most requests bring none, and a trace moves with its
    /// request's future.
    state: Option<Box<HeaderValue>>,
}

impl Trace {
    /// A new trace, sampled, with no parent.
    pub fn root() -> Self {
        let (high, low) = (next_id(), next_id());
        Trace {
            trace_id: (u128::from(high) << 64) | u128::from(low),
            span_id: next_id(),
            parent_id: 0,
            flags: 1,
            state: None,
        }
    }

    /// The trace an incoming `traceparent` (and `tracestate`) names, with
    /// a new span of this service under the caller's; `None` when the
    /// `traceparent` is malformed (the request then starts a new trace,
    /// and its `tracestate` is dropped, as the specification says).
    pub fn from_headers(
        traceparent: Option<&HeaderValue>,
        tracestate: Option<&HeaderValue>,
    ) -> Option<Self> {
        Self::continued(traceparent?, || tracestate)
    }

    /// [`from_headers`](Trace::from_headers), reading the `tracestate`
    /// only when the `traceparent` is good.
    pub(crate) fn continued<'h>(
        traceparent: &HeaderValue,
        tracestate: impl FnOnce() -> Option<&'h HeaderValue>,
    ) -> Option<Self> {
        let (trace_id, parent_id, flags) = parse(traceparent.as_bytes())?;
        let state = tracestate()
            .filter(|state| state.len() <= MAX_TRACESTATE && state.to_str().is_ok())
            .map(|state| Box::new(state.clone()));
        Some(Trace {
            trace_id,
            span_id: next_id(),
            parent_id,
            flags,
            state,
        })
    }

    /// A span under this one, in the same trace (a task's run under the
    /// request that enqueued it).
    pub fn child(&self) -> Self {
        Trace {
            span_id: next_id(),
            parent_id: self.span_id,
            state: self.state.clone(),
            ..*self
        }
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// This span's id, 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The caller's span id, when the trace came from outside.
    pub fn parent_id(&self) -> Option<String> {
        (self.parent_id != 0).then(|| format!("{:016x}", self.parent_id))
    }

    /// Whether the caller asked for this trace to be recorded.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The `traceparent` to send to a service called on this span's behalf.
    pub fn traceparent(&self) -> HeaderValue {
        let text = format!(
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        );
        // Hex digits and dashes only.
        HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The caller's `tracestate`, to send on unchanged.
    pub fn tracestate(&self) -> Option<&HeaderValue> {
        self.state.as_deref()
    }

    /// The trace id as a header value (the request id of a request that
    /// brought none).
    pub(crate) fn trace_id_header(&self) -> HeaderValue {
        HeaderValue::from_bytes(&to_hex::<32>(self.trace_id))
            .unwrap_or_else(|_| HeaderValue::from_static("0"))
    }

    /// How a task record keeps it: the `traceparent`, then the
    /// `tracestate` after a line feed (which neither may contain).
    pub(crate) fn to_record(&self) -> String {
        let parent = self.traceparent();
        let parent = parent.to_str().unwrap_or_default();
        match self.state.as_deref().and_then(|state| state.to_str().ok()) {
            Some(state) => format!("{parent}\n{state}"),
            None => parent.to_owned(),
        }
    }

    /// A task record's trace, as [`to_record`](Trace::to_record) wrote
    /// it; a span of the task's run under the enqueuing one.
    pub(crate) fn from_record(text: &str) -> Option<Self> {
        let (parent, state) = match text.split_once('\n') {
            Some((parent, state)) => (parent, Some(state)),
            None => (text, None),
        };
        let parent = HeaderValue::try_from(parent).ok()?;
        let state = state.and_then(|state| HeaderValue::try_from(state).ok());
        Trace::from_headers(Some(&parent), state.as_ref())
    }
}

/// `version-traceid-parentid-flags`, as W3C Trace Context level 1 reads
/// it: lowercase hex, neither id all zeros, version `ff` invalid, and a
/// later version's extra fields (after a dash) ignored.
fn parse(text: &[u8]) -> Option<(u128, u64, u8)> {
    if text.len() < 55 || text[2] != b'-' || text[35] != b'-' || text[52] != b'-' {
        return None;
    }
    let version = hex(&text[..2])? as u8;
    let exact = text.len() == 55;
    if version == 0xff || (version == 0 && !exact) || (!exact && text[55] != b'-') {
        return None;
    }
    let trace_id = hex(&text[3..35])?;
    let parent_id = hex(&text[36..52])? as u64;
    let flags = hex(&text[53..55])? as u8;
    (trace_id != 0 && parent_id != 0).then_some((trace_id, parent_id, flags))
}

/// Lowercase hex digits (at most 32) as a number.
fn hex(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |value, &digit| {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        Some((value << 4) | u128::from(nibble))
    })
}

/// An id unique in the process and unpredictable across runs: a counter
/// mixed with a per-process random key by a bijection, so ids cannot
/// repeat before the counter wraps; never zero (zero is invalid).
fn next_id() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    static KEY: OnceLock<u64> = OnceLock::new();
    let key = *KEY.get_or_init(|| {
        // `RandomState` is seeded randomly per process.
        std::collections::hash_map::RandomState::new().hash_one(0u8)
    });
    loop {
        let id = mix(COUNTER.fetch_add(1, Ordering::Relaxed) ^ key);
        if id != 0 {
            return id;
        }
    }
}

/// The SplitMix64 finalizer: a bijection on `u64` that scatters bits.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

tokio::task_local! {
    static CURRENT: Trace;
}

/// The trace of the request (or task run) being handled on this task, if
/// [`RequestId`](crate::middleware::RequestId) or a worker set one.
pub fn current() -> Option<Trace> {
    CURRENT.try_with(Trace::clone).ok()
}

/// Runs `future` with `trace` as [`current`].
pub(crate) fn scope<F: std::future::Future>(
    trace: Trace,
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    CURRENT.scope(trace, future)
}

/// `future`, run with the trace current where it is made: for work that
/// moves to a task of its own (the idempotency layer's), where the
/// request's task-local trace would not follow.
pub(crate) fn carried<F: std::future::Future>(
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    let trace = current();
    async move {
        match trace {
            Some(trace) => scope(trace, future).await,
            None => future.await,
        }
    }
}

/// Hex digits of an id for a log field, formatted where the field is
/// written (nothing is made when no subscriber wants it).
pub(crate) struct Hex<T>(pub(crate) T);

/// The low `N` hex digits of `value` (`N` even), lowercase, most
/// significant first: two table lookups per byte, where `{:032x}` pads and
/// loops through the formatter (a third of a log line's cost, measured).
fn to_hex<const N: usize>(value: u128) -> [u8; N] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = value.to_be_bytes();
    let mut text = [0u8; N];
    for (pair, byte) in text.chunks_exact_mut(2).zip(&bytes[16 - N / 2..]) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
    text
}

fn write_hex<const N: usize>(f: &mut std::fmt::Formatter<'_>, value: u128) -> std::fmt::Result {
    let text = to_hex::<N>(value);
    f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?)
}

impl std::fmt::Display for Hex<u128> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_hex::<32>(f, self.0)
    }
}

impl std::fmt::Display for Hex<u64> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_hex::<16>(f, u128::from(self.0))
    }
}

impl Trace {
    /// The ids as log fields: trace, span, and parent (or none).
    pub(crate) fn fields(&self) -> (Hex<u128>, Hex<u64>, Option<Hex<u64>>) {
        (
            Hex(self.trace_id),
            Hex(self.span_id),
            (self.parent_id != 0).then_some(Hex(self.parent_id)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &'static str) -> Option<HeaderValue> {
        Some(HeaderValue::from_static(text))
    }

    #[test]
    fn a_valid_traceparent_continues_its_trace_under_a_new_span() {
        let incoming = header("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let state = header("congo=t61rcWkgMzE");
        let trace = Trace::from_headers(incoming.as_ref(), state.as_ref()).unwrap();
        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace.parent_id().as_deref(), Some("00f067aa0ba902b7"));
        assert_ne!(trace.span_id(), "00f067aa0ba902b7");
        assert!(trace.sampled());
        assert_eq!(trace.tracestate(), state.as_ref());
        let sent = trace.traceparent();
        let sent = sent.to_str().unwrap();
        assert!(sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(sent.ends_with("-01"));
        let back = Trace::from_record(&trace.to_record()).unwrap();
        assert_eq!(back.trace_id(), trace.trace_id());
        assert_eq!(back.parent_id(), Some(trace.span_id()));
        assert_eq!(back.tracestate(), state.as_ref());
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            let value = HeaderValue::from_str(bad).unwrap();
            assert!(Trace::from_headers(Some(&value), None).is_none(), "{bad:?}");
        }
        // A later version may add fields after a dash.
        let later = header("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what");
        assert!(Trace::from_headers(later.as_ref(), None).is_some());
    }

    #[test]
    fn new_traces_are_distinct_and_well_formed() {
        let a = Trace::root();
        let b = Trace::root();
        assert_ne!(a.trace_id(), b.trace_id());
        let parent = a.traceparent();
        let again = Trace::from_headers(Some(&parent), None).unwrap();
        assert_eq!(again.trace_id(), a.trace_id());
        assert_eq!(again.parent_id(), Some(a.span_id()));
    }

    #[test]
    fn log_fields_are_the_ids_in_fixed_width_lowercase_hex() {
        for value in [
            0,
            1,
            0xabc,
            u128::from(u64::MAX),
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ] {
            assert_eq!(Hex(value).to_string(), format!("{value:032x}"));
            let low = value as u64;
            assert_eq!(Hex(low).to_string(), format!("{low:016x}"));
        }
        let trace = Trace::root();
        assert_eq!(trace.fields().0.to_string(), trace.trace_id());
        assert_eq!(trace.trace_id_header().to_str().unwrap(), trace.trace_id());
    }
}
