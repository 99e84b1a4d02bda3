//! What the runtime counts, and how it is written out: lock-free
//! [`Histogram`]s and counters that each part keeps for itself, and the
//! [`Exposition`] that writes them in the Prometheus / OpenMetrics text
//! when `/metrics` is scraped.
//!
//! Counting is the hot path (a request pays a few adds, into counters its
//! thread owns where it can); naming, labelling and formatting happen
//! only at a scrape. Names follow the OpenTelemetry semantic conventions as
//! Prometheus spells them
//! (`http.server.request.duration` in seconds is
//! `http_server_request_duration_seconds`); Portico's own parts use
//! `portico_*`.

mod exposition;
mod family;
mod histogram;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
pub(crate) mod shard;

pub use exposition::Exposition;
pub use family::Labels;
pub(crate) use histogram::{DURATION_BOUNDS, SIZE_BOUNDS};
pub use histogram::{Histogram, Unit};

use std::sync::atomic::{AtomicU64, Ordering};

/// What the server and the pipeline count about connections and crashes,
/// for the `portico_server_*` metrics.
#[derive(Debug, Default)]
pub(crate) struct ServerStats {
    /// Connections accepted, ever.
    pub(crate) accepted: AtomicU64,
    /// Connections closed, ever (open = accepted − closed).
    pub(crate) closed: AtomicU64,
    /// Accepts that waited for a free slot at `max_connections`.
    pub(crate) at_capacity: AtomicU64,
    /// Connections cut for idling past the header timeout.
    pub(crate) cut_idle: AtomicU64,
    /// Connections cut because their requests made no progress.
    pub(crate) cut_stalled: AtomicU64,
    /// Panics in handlers, request-scoped factories or layers, answered
    /// with a 500.
    pub(crate) panics: AtomicU64,
}

impl ServerStats {
    #[inline]
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn write(&self, out: &mut Exposition<'_>) -> std::fmt::Result {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let accepted = load(&self.accepted);
        out.gauge(
            "portico.server.connections.open",
            "Connections open now.",
            [(&[][..], accepted.saturating_sub(load(&self.closed)) as f64)],
        )?;
        out.counter(
            "portico.server.connections.accepted",
            "Connections accepted.",
            [(&[][..], accepted)],
        )?;
        out.counter(
            "portico.server.connections.at_capacity",
            "Connections that waited in the listen backlog because max_connections were open.",
            [(&[][..], load(&self.at_capacity))],
        )?;
        out.counter(
            "portico.server.connections.cut",
            "Connections the server closed: idle past the header timeout, or whose requests made no progress.",
            [
                (&[("reason", "idle")][..], load(&self.cut_idle)),
                (&[("reason", "stalled")][..], load(&self.cut_stalled)),
            ],
        )?;
        out.counter(
            "portico.server.panics",
            "Panics caught in handlers and layers, each answered with a 500.",
            [(&[][..], load(&self.panics))],
        )
    }
}
