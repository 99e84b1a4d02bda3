//! `ServerConfig`: the limits and timeouts of the HTTP server.

use std::time::Duration;

/// Limits and timeouts of the server, with production defaults.
///
/// ```
/// use std::time::Duration;
/// use portico_runtime::server::ServerConfig;
///
/// let config = ServerConfig::default()
///     .header_read_timeout(Duration::from_secs(5))
///     .max_connections(1024)
///     .grace_period(Duration::from_secs(10));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ServerConfig {
    pub(crate) header_read_timeout: Duration,
    pub(crate) max_headers: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_connections: usize,
    pub(crate) keep_alive: bool,
    pub(crate) grace_period: Duration,
    pub(crate) h2_max_concurrent_streams: u32,
    pub(crate) vectored_writes: bool,
    pub(crate) body_idle_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) request_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_read_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_header_bytes: 16 * 1024,
            max_connections: 10_000,
            keep_alive: true,
            grace_period: Duration::from_secs(30),
            h2_max_concurrent_streams: 200,
            vectored_writes: false,
            body_idle_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl ServerConfig {
    /// How long an HTTP/1.1 client has to send a whole request head; a
    /// slower one (a slowloris) has its connection closed. The same timer
    /// closes a keep-alive connection idle for that long. Default: 10 s.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// The most request headers; more is a 431. Default: 100.
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// The most bytes of an HTTP/1.1 request head; more is a 431. At
    /// least 8 KiB (smaller values are raised to it). Default: 16 KiB.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes.max(8 * 1024);
        self
    }

    /// The most connections served at once. Further clients wait in the
    /// listen backlog (their connect succeeds, nothing is read) and are
    /// served, in order, as connections close. Default: 10 000.
    pub fn max_connections(mut self, count: usize) -> Self {
        self.max_connections = count.max(1);
        self
    }

    /// Whether HTTP/1.1 connections stay open between requests. Default: on.
    pub fn keep_alive(mut self, enabled: bool) -> Self {
        self.keep_alive = enabled;
        self
    }

    /// How long in-flight requests may run on once shutdown begins; then
    /// whatever remains is cut. Default: 30 s.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// How long a body extractor waits for the next piece of the request
    /// body, and how long it may take to read all of it: a client that
    /// sends its body slowly or not at all (slow POST) gets a 408.
    /// Defaults: 10 s between pieces, 30 s in all.
    pub fn body_read_timeout(mut self, between_pieces: Duration, total: Duration) -> Self {
        self.body_idle_timeout = between_pieces;
        self.body_timeout = total;
        self
    }

    /// How long a connection may go without progress while a request is
    /// in flight (for HTTP/1.1: how long one request may take, from its
    /// head to its response) before it is cut. Default: 60 s; long polls
    /// need more.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The most concurrent streams on one HTTP/2 connection. Default: 200.
    pub fn h2_max_concurrent_streams(mut self, streams: u32) -> Self {
        self.h2_max_concurrent_streams = streams;
        self
    }

    /// How HTTP/1.1 responses are written. Off (the default): each
    /// response's head and body are copied into one buffer and written
    /// with one `write` — the cheapest for the small bodies APIs send
    /// (measured: ~500 fewer instructions per request on a 27-byte JSON
    /// body). On: head and body go out in one `writev` without copying
    /// the body — better for large bodies (downloads), which flattening
    /// copies and whose size the connection's buffer then keeps.
    pub fn vectored_writes(mut self, enabled: bool) -> Self {
        self.vectored_writes = enabled;
        self
    }
}
