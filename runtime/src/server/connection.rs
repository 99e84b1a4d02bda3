//! One accepted connection: HTTP/1.1 or HTTP/2 chosen by its first bytes
//! (peeked; read and replayed only when they stop part-way into the
//! HTTP/2 preface), served by hyper, and the little state the server's
//! accept loop watches it through ([`Conn`]).
//!
//! hyper can enforce the header read timeout itself, and hyper-util can
//! drain connections on shutdown, but both poll a timer or a channel each
//! time the connection's task wakes, that is on every request (measured
//! with callgrind: ~290 instructions per request, 4 % of all that raw
//! hyper executes for one). Here a request only bumps two counters; the
//! accept loop sweeps all connections a few times per timeout period,
//! cuts those that stayed idle for the header timeout or whose requests
//! made no progress for the request timeout, and on shutdown flags each
//! one and wakes it.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::ServerConfig;
use super::canned::Enveloped;
use crate::body::Body;
use crate::metrics::ServerStats;
use crate::response::Rejection;
use crate::service::{Holder, Pipeline, Service, answer};

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Signal bits: drain gracefully (shutdown), or close now (timed out).
const DRAIN: u8 = 1;
const CUT: u8 = 2;

/// What a connection and the server's accept loop share.
pub(super) struct Conn {
    service: Service,
    peer: SocketAddr,
    /// Requests begun and ended; equal when none is in flight.
    begun: AtomicU32,
    ended: AtomicU32,
    signals: AtomicU8,
    /// The connection task's waker, so a signal is acted on at once.
    waker: Mutex<Option<Waker>>,
}

impl Conn {
    pub(super) fn new(service: Service, peer: SocketAddr) -> Self {
        Conn {
            service,
            peer,
            begun: AtomicU32::new(0),
            ended: AtomicU32::new(0),
            signals: AtomicU8::new(0),
            waker: Mutex::new(None),
        }
    }

    /// Asks the connection to finish its in-flight requests and close
    /// (HTTP/2 clients get GOAWAY).
    pub(super) fn drain(&self) {
        self.signal(DRAIN);
    }

    /// Closes the connection now.
    fn cut(&self) {
        self.signal(CUT);
    }

    fn signal(&self, bit: u8) {
        self.signals.fetch_or(bit, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(waker) = waker.as_ref() {
            waker.wake_by_ref();
        }
    }

    /// Records the task's waker (once, unless the task's waker changes)
    /// and returns the signals set so far. Registering before reading
    /// means a signal set meanwhile either is seen here or wakes us.
    fn poll_signals(&self, registered: &mut Option<Waker>, cx: &Context<'_>) -> u8 {
        if !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            let waker = cx.waker().clone();
            *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker.clone());
            *registered = Some(waker);
        }
        self.signals.load(Ordering::SeqCst)
    }

    /// Completes when any signal is set.
    async fn signalled(&self) {
        let mut registered = None;
        poll_fn(|cx| match self.poll_signals(&mut registered, cx) {
            0 => Poll::Pending,
            _ => Poll::Ready(()),
        })
        .await;
    }

    /// (begun, ended) request counts.
    fn requests(&self) -> (u32, u32) {
        (
            self.begun.load(Ordering::Relaxed),
            self.ended.load(Ordering::Relaxed),
        )
    }
}

/// One request in flight on a connection; counted as ended when dropped
/// (answered, or abandoned by a client that went away).
struct InFlight(Arc<Conn>);

impl InFlight {
    fn begin(conn: &Arc<Conn>) -> Self {
        conn.begun.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(conn))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, Ordering::Relaxed);
    }
}

impl Holder for InFlight {
    fn pipeline(&self) -> &Arc<Pipeline> {
        self.0.service.pipeline()
    }
}

/// Builders for both protocols, made once per server.
pub(super) struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    header_timeout: Duration,
    max_headers: usize,
}

impl Protocols {
    pub(super) fn new(config: &ServerConfig) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .max_headers(config.max_headers)
            .max_buf_size(config.max_header_bytes)
            .keep_alive(config.keep_alive)
            .writev(config.vectored_writes)
            // The accept loop's sweep enforces it; hyper's timer stays off.
            .header_read_timeout(None);
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(config.h2_max_concurrent_streams)
            // The same head limits as HTTP/1.1: bytes here (hyper counts
            // each field's name, value and 32 bytes), fields in `wire_check`.
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));
        Protocols {
            http1,
            http2,
            header_timeout: config.header_read_timeout,
            max_headers: config.max_headers,
        }
    }
}

/// Serves `stream` until it closes, is cut, or drains on shutdown.
pub(super) async fn serve(protocols: Arc<Protocols>, conn: Arc<Conn>, stream: TcpStream) {
    let opening = tokio::select! {
        biased;
        () = conn.signalled() => return,
        opening = detect_http2(stream, protocols.header_timeout) => match opening {
            Some(opening) => opening,
            None => return,
        },
    };
    // The common openings leave the socket as it is; only one that began
    // like the preface and had to be read on pays for the replay.
    // HTTP/1.1's parse errors, which hyper answers itself, get the
    // envelope on their way out (HTTP/2 reports them as stream errors).
    // Each protocol is served by a function of its own, and HTTP/2's
    // future is boxed: the task of an HTTP/1.1 connection (the common
    // kind) then holds only what HTTP/1.1 needs, not room for HTTP/2's
    // larger connection state as well.
    match opening {
        Opening::Http1(stream) => serve_http1(&protocols, &conn, Enveloped::new(stream)).await,
        Opening::Http2(stream) => Box::pin(serve_http2(&protocols, &conn, stream)).await,
        Opening::Read {
            stream,
            is_h2: true,
        } => Box::pin(serve_http2(&protocols, &conn, stream)).await,
        Opening::Read {
            stream,
            is_h2: false,
        } => serve_http1(&protocols, &conn, Enveloped::new(stream)).await,
    }
}

/// The service hyper calls for each request of connection `$conn`.
macro_rules! requests {
    ($protocols:expr, $conn:expr) => {{
        let requests = Arc::clone($conn);
        let max_headers = $protocols.max_headers;
        hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let in_flight = InFlight::begin(&requests);
            let peer = Some(requests.peer);
            let request = request.map(Body::incoming);
            let refused = wire_check(&request, max_headers);
            answer(in_flight, request, peer, refused)
        })
    }};
}

async fn serve_http1<I>(protocols: &Protocols, conn: &Arc<Conn>, io: I)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = requests!(protocols, conn);
    let connection = pin!(protocols.http1.serve_connection(TokioIo::new(io), service));
    ended(
        conn.peer,
        watched(conn, connection, |c| c.graceful_shutdown()).await,
    );
}

async fn serve_http2<I>(protocols: &Protocols, conn: &Arc<Conn>, io: I)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = requests!(protocols, conn);
    let connection = pin!(protocols.http2.serve_connection(TokioIo::new(io), service));
    ended(
        conn.peer,
        watched(conn, connection, |c| c.graceful_shutdown()).await,
    );
}

/// Logs how a connection ended, when it did not end well.
fn ended(peer: SocketAddr, result: Option<hyper::Result<()>>) {
    match result {
        Some(Err(err)) => tracing::debug!(error = %err, %peer, "connection ended with an error"),
        None => {
            tracing::debug!(%peer, "no complete request within the header read timeout; closed")
        }
        Some(Ok(())) => {}
    }
}

/// Drives a hyper connection, acting on the server's signals: drain
/// starts hyper's graceful shutdown, cut drops the connection (`None`).
///
/// The connection is pinned by the caller and borrowed here: an `async
/// fn` taking it by value would keep it twice in the connection task's
/// state (the argument and its pinned copy), and every open connection
/// would pay for the second.
fn watched<'c, C>(
    conn: &'c Conn,
    mut connection: Pin<&'c mut C>,
    graceful_shutdown: impl Fn(Pin<&mut C>) + 'c,
) -> impl Future<Output = Option<hyper::Result<()>>> + 'c
where
    C: Future<Output = hyper::Result<()>>,
{
    let mut registered = None;
    let mut draining = false;
    poll_fn(move |cx| {
        let signals = conn.poll_signals(&mut registered, cx);
        if signals & CUT != 0 {
            return Poll::Ready(None);
        }
        if signals & DRAIN != 0 && !draining {
            draining = true;
            graceful_shutdown(connection.as_mut());
        }
        connection.as_mut().poll(cx).map(Some)
    })
}

/// What the wire itself requires of a request before the app sees it:
/// RFC 9112 §3.2, an HTTP/1.1 request carries exactly one `Host`; an
/// HTTP/2 one no more header fields than an HTTP/1.1 head may (hyper
/// enforces that count for HTTP/1.1 as it parses).
#[inline]
fn wire_check(request: &http::Request<Body>, max_headers: usize) -> Option<Rejection> {
    match request.version() {
        http::Version::HTTP_11 => {
            let hosts = request.headers().get_all(http::header::HOST).iter().count();
            if hosts != 1 {
                return Some(Rejection::HostHeader { found: hosts });
            }
        }
        http::Version::HTTP_2 if request.headers().len() > max_headers => {
            return Some(Rejection::TooManyHeaders {
                found: request.headers().len(),
                max: max_headers,
            });
        }
        _ => {}
    }
    None
}

/// How a connection opens.
enum Opening {
    /// Its first bytes are no HTTP/2 preface (they are still unread).
    Http1(TcpStream),
    /// It opens with the whole preface (still unread).
    Http2(TcpStream),
    /// It began like the preface and the rest had to be waited for: the
    /// bytes read so far are replayed before the socket's.
    Read { stream: Rewind, is_h2: bool },
}

/// Tells the protocol from the connection's first bytes; `None` when the
/// client closes or sends nothing in time.
///
/// The first look is a peek, which leaves the bytes to hyper: nearly every
/// connection is decided by it. When the bytes so far are only part of the
/// HTTP/2 preface, peeking again would find the same bytes at once (a busy
/// loop, and a client that closed would never be noticed), so they are
/// read instead: each read waits for the socket to be readable, a stalled
/// client costs nothing while it waits, and one that closes is dropped at
/// once. What was read is replayed to hyper ([`Rewind`]).
async fn detect_http2(stream: TcpStream, timeout: Duration) -> Option<Opening> {
    let detect = async {
        let mut start = Start::default();
        let n = stream.peek(&mut start.bytes).await.ok()?;
        if n == 0 {
            return None;
        }
        if start.bytes[..n] != PREFACE[..n] {
            return Some(Opening::Http1(stream));
        }
        if n == PREFACE.len() {
            return Some(Opening::Http2(stream));
        }
        let mut stream = stream;
        loop {
            let n = stream.read(&mut start.bytes[start.len..]).await.ok()?;
            if n == 0 {
                return None;
            }
            start.len += n;
            let is_h2 = if start.bytes[..start.len] != PREFACE[..start.len] {
                false
            } else if start.len == PREFACE.len() {
                true
            } else {
                continue;
            };
            let stream = Rewind {
                start,
                at: 0,
                io: stream,
            };
            return Some(Opening::Read { stream, is_h2 });
        }
    };
    tokio::time::timeout(timeout, detect).await.ok().flatten()
}

/// The first bytes of a connection, read to tell the protocol.
#[derive(Default)]
struct Start {
    bytes: [u8; PREFACE.len()],
    len: usize,
}

pin_project_lite::pin_project! {
    /// A connection whose first bytes were already read: they come out of
    /// the first reads again, before the socket's.
    struct Rewind {
        start: Start,
        at: usize,
        #[pin]
        io: TcpStream,
    }
}

impl tokio::io::AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        if *this.at < this.start.len {
            let rest = &this.start.bytes[*this.at..this.start.len];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            *this.at += n;
            return Poll::Ready(Ok(()));
        }
        this.io.poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

/// The accept loop's view of the open connections: it cuts those that
/// stay idle (no request in flight, none begun) for the header read
/// timeout, and those whose requests in flight make no progress (none
/// begins or ends) for the request timeout; it drains them all on shutdown.
pub(super) struct Sweeper {
    open: Vec<Tracked>,
    /// How often [`sweep`](Sweeper::sweep) should run.
    pub(super) tick: Duration,
    /// Sweeps in a row a connection may stay idle.
    idle_limit: u32,
    /// Sweeps in a row a connection with requests in flight may go
    /// without one beginning or ending.
    stalled_limit: u32,
}

/// One open connection, and what the last sweep saw of it.
struct Tracked {
    conn: Arc<Conn>,
    seen: (u32, u32),
    idle_sweeps: u32,
}

impl Sweeper {
    pub(super) fn new(timeout: Duration, request_timeout: Duration) -> Self {
        // About eight sweeps per period. The first sweep that finds a
        // connection unchanged may come right after its last activity, so
        // one more than a period's worth are needed: it is cut between one
        // and one and a quarter periods after that activity.
        let tick = (timeout / 8).clamp(Duration::from_millis(5), Duration::from_secs(1));
        let sweeps = |period: Duration| {
            u32::try_from(period.as_nanos().div_ceil(tick.as_nanos()) + 1).unwrap_or(u32::MAX)
        };
        Sweeper {
            open: Vec::new(),
            tick,
            idle_limit: sweeps(timeout),
            stalled_limit: sweeps(request_timeout),
        }
    }

    pub(super) fn watch(&mut self, conn: Arc<Conn>) {
        self.open.push(Tracked {
            seen: conn.requests(),
            conn,
            idle_sweeps: 0,
        });
    }

    /// Forgets closed connections and cuts idle ones.
    pub(super) fn sweep(&mut self) {
        let (idle_limit, stalled_limit) = (self.idle_limit, self.stalled_limit);
        self.open.retain_mut(|tracked| {
            // Only this list holds it: the connection task has ended.
            if Arc::strong_count(&tracked.conn) == 1 {
                return false;
            }
            let now = tracked.conn.requests();
            if now != tracked.seen {
                tracked.seen = now;
                tracked.idle_sweeps = 0;
                return true;
            }
            tracked.idle_sweeps += 1;
            let in_flight = now.0 != now.1;
            let limit = if in_flight { stalled_limit } else { idle_limit };
            if tracked.idle_sweeps >= limit {
                let stats = tracked.conn.service.stats();
                ServerStats::count(if in_flight {
                    &stats.cut_stalled
                } else {
                    &stats.cut_idle
                });
                tracked.conn.cut();
                return false;
            }
            true
        });
    }

    /// Tells every open connection to drain.
    pub(super) fn drain_all(&mut self) {
        for tracked in self.open.drain(..) {
            tracked.conn.drain();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection's task is allocated at its largest state and kept for
    /// the connection's life: an HTTP/1.1 connection's must hold no room
    /// for HTTP/2's state, nor a second copy of hyper's connection.
    #[tokio::test]
    async fn an_http1_connections_task_stays_near_hyper_s_own() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let service = crate::App::new().build().await.unwrap();
        let protocols = Arc::new(Protocols::new(&ServerConfig::default()));
        let conn = Arc::new(Conn::new(service, peer));
        let task = serve(Arc::clone(&protocols), Arc::clone(&conn), server);
        let hello = hyper::service::service_fn(|_: http::Request<Incoming>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
        });
        let hyper_h1 = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(client), hello);
        let (ours, theirs) = (
            std::mem::size_of_val(&task),
            std::mem::size_of_val(&hyper_h1),
        );
        assert!(ours < 2 * theirs, "{ours} bytes against hyper's {theirs}");
    }
}
