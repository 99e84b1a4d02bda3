//! One accepted connection: HTTP/1.1 or HTTP/2 chosen by its first bytes
//! (peeked; read and replayed only when they stop part-way into the
//! HTTP/2 preface), served by hyper, and the little state the server's
//! sweeper watches it through ([`Conn`]): a request only bumps two
//! counters, and a signal from the sweeper wakes the connection's task.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ServerConfig;
use super::canned::Enveloped;
use crate::body::Body;
use crate::metrics::ServerStats;
use crate::response::Rejection;
use crate::service::{Holder, Pipeline, Service, answer};

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Signal bits: drain gracefully (shutdown), or close now (timed out);
/// and, set by the connection itself, that it has begun draining.
const DRAIN: u8 = 1;
const CUT: u8 = 2;
const DRAINING: u8 = 4;

/// What a connection and the server's sweeper share.
pub(super) struct Conn {
    service: Service,
    peer: SocketAddr,
    /// The server's connection slots; this one's is given back when its
    /// [`Open`] drops (kept here, where it costs no room, rather than as
    /// a permit in every connection's task).
    slots: Arc<Semaphore>,
    /// [`wire_check`]'s bound on an HTTP/2 request's header fields.
    max_headers: u32,
    /// Requests begun and ended; equal when none is in flight.
    begun: AtomicU32,
    ended: AtomicU32,
    signals: AtomicU8,
    /// The connection task's waker, so a signal is acted on at once.
    waker: Mutex<Option<Waker>>,
}

impl Conn {
    fn new(service: Service, peer: SocketAddr, slots: Arc<Semaphore>, max_headers: u32) -> Self {
        Conn {
            service,
            peer,
            slots,
            max_headers,
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
    pub(super) fn cut(&self) {
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
    /// Inlined into every wake-up of the connection; the registering,
    /// rare, is not.
    #[inline(always)]
    fn poll_signals(&self, registered: &mut Option<Waker>, cx: &Context<'_>) -> u8 {
        if !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.register(registered, cx);
        }
        self.signals.load(Ordering::SeqCst)
    }

    #[cold]
    #[inline(never)]
    fn register(&self, registered: &mut Option<Waker>, cx: &Context<'_>) {
        let waker = cx.waker().clone();
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker.clone());
        *registered = Some(waker);
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

    /// What the server counts about it.
    pub(super) fn stats(&self) -> &ServerStats {
        self.service.stats()
    }

    /// (begun, ended) request counts.
    pub(super) fn requests(&self) -> (u32, u32) {
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
    max_headers: u32,
}

impl Protocols {
    pub(super) fn new(config: &ServerConfig) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .max_headers(config.max_headers)
            .max_buf_size(config.max_header_bytes)
            .keep_alive(config.keep_alive)
            .writev(config.vectored_writes)
            // The sweeper enforces it; hyper's timer stays off.
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
            max_headers: u32::try_from(config.max_headers).unwrap_or(u32::MAX),
        }
    }
}

/// An open connection's hold on the server: its place under
/// `max_connections` and the state the sweeper watches it through.
/// Counted closed, and its slot given back, when dropped — whether its
/// task ended or was dropped.
pub(super) struct Open {
    conn: Arc<Conn>,
}

impl Open {
    pub(super) fn new(
        service: Service,
        peer: SocketAddr,
        protocols: &Protocols,
        slot: OwnedSemaphorePermit,
    ) -> Self {
        let slots = Arc::clone(slot.semaphore());
        slot.forget();
        let conn = Conn::new(service, peer, slots, protocols.max_headers);
        Open {
            conn: Arc::new(conn),
        }
    }

    /// What the sweeper watches the connection through.
    pub(super) fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.conn.slots.add_permits(1);
        ServerStats::count(&self.conn.service.stats().closed);
    }
}

/// Serves `stream` until it closes, is cut, or drains on shutdown.
///
/// Every open connection's task is allocated at this future's largest
/// state for the connection's life, so it is written to keep no more
/// than the connection itself: an `async move` block that only borrows
/// what it captures (an `async fn` would move its arguments into a second
/// copy of each), the socket captured boxed (a capture keeps its room for
/// the task's life even once moved out: 8 bytes rather than the socket's
/// 40, for one small allocation per connection), and an opening taken
/// apart before the connection is awaited (a binding still live there,
/// even moved out of, keeps its room beside the connection's).
pub(super) fn serve(
    protocols: Arc<Protocols>,
    open: Open,
    stream: TcpStream,
) -> impl Future<Output = ()> + Send + 'static {
    let stream = Box::new(stream);
    async move {
        // The common openings leave the socket as it is; only one that
        // began like the preface and had to be read on pays for the
        // replay, its (rare, larger) state boxed so that the common ones
        // set the task's size. HTTP/1.1's parse errors, which
        // hyper answers itself, get the envelope on their way out (HTTP/2
        // reports them as stream errors).
        let (socket, is_h2) = match tokio::select! {
            biased;
            () = open.conn.signalled() => None,
            opening = detect_http2(*stream, protocols.header_timeout) => opening,
        } {
            None => return,
            Some(Opening::Peeked { stream, is_h2 }) => (Socket::Plain(stream), is_h2),
            Some(Opening::Read { stream, is_h2 }) => (Socket::Rewound(Box::new(stream)), is_h2),
        };
        if is_h2 {
            http2(&protocols, &open.conn, socket).await;
        } else {
            http1(&protocols, &open.conn, Enveloped::new(socket)).await;
        }
    }
}

/// A connection's socket: as accepted, or with its first bytes read and
/// replayed (boxed: rare, and larger).
///
/// One type for both, so that hyper's HTTP/1.1 and HTTP/2 connections
/// are each compiled once. With a type per kind, the compiler kept one
/// copy of the shared parts of hyper's writer out of line for the two
/// callers, where one caller gets them inlined: ~37 instructions per
/// request (callgrind), for a `match` per read or write.
enum Socket {
    Plain(TcpStream),
    Rewound(Box<Rewind>),
}

impl tokio::io::AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Socket::Rewound(io) => Pin::new(&mut **io).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Socket::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Socket::Rewound(io) => Pin::new(&mut io.io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Socket::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Socket::Rewound(io) => Pin::new(&mut io.io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Socket::Plain(io) => io.is_write_vectored(),
            Socket::Rewound(io) => io.io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(io) => Pin::new(io).poll_flush(cx),
            Socket::Rewound(io) => Pin::new(&mut io.io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Socket::Rewound(io) => Pin::new(&mut io.io).poll_shutdown(cx),
        }
    }
}

/// The service hyper calls for each request of connection `$conn`.
macro_rules! requests {
    ($conn:expr) => {{
        let requests = Arc::clone($conn);
        hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let in_flight = InFlight::begin(&requests);
            let peer = Some(requests.peer);
            let request = request.map(Body::incoming);
            let refused = wire_check(&request, requests.max_headers);
            answer(in_flight, request, peer, refused)
        })
    }};
}

// Plain fns returning the connection inside its [`Watched`], rather than
// `async fn`s awaiting it: an `async fn` would keep its arguments and
// locals beside the connection, and every open connection's task is
// allocated at that size for the connection's life.
fn http1<'c, I>(protocols: &Protocols, conn: &'c Arc<Conn>, io: I) -> impl Future<Output = ()> + 'c
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = protocols
        .http1
        .serve_connection(TokioIo::new(io), requests!(conn));
    Watched::new(conn, connection, |c: Pin<&mut _>| c.graceful_shutdown())
}

fn http2<'c, I>(protocols: &Protocols, conn: &'c Arc<Conn>, io: I) -> impl Future<Output = ()> + 'c
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = protocols
        .http2
        .serve_connection(TokioIo::new(io), requests!(conn));
    Watched::new(conn, connection, |c: Pin<&mut _>| c.graceful_shutdown())
}

pin_project_lite::pin_project! {
    /// Drives a hyper connection to its end, acting on the server's
    /// signals: drain starts hyper's graceful shutdown, cut drops the
    /// connection. How it ended is logged when it did not end well.
    struct Watched<'c, C, G> {
        #[pin]
        connection: C,
        conn: &'c Conn,
        graceful_shutdown: G,
        registered: Option<Waker>,
    }
}

impl<'c, C, G: Fn(Pin<&mut C>)> Watched<'c, C, G> {
    fn new(conn: &'c Conn, connection: C, graceful_shutdown: G) -> Self {
        Watched {
            connection,
            conn,
            graceful_shutdown,
            registered: None,
        }
    }
}

impl<C, G> Future for Watched<'_, C, G>
where
    C: Future<Output = hyper::Result<()>>,
    G: Fn(Pin<&mut C>),
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let signals = this.conn.poll_signals(this.registered, cx);
        if signals & CUT != 0 {
            tracing::debug!(peer = %this.conn.peer, "closed by the server: idle or stalled too long, or past the shutdown grace period");
            return Poll::Ready(());
        }
        if signals & (DRAIN | DRAINING) == DRAIN {
            this.conn.signals.fetch_or(DRAINING, Ordering::SeqCst);
            (this.graceful_shutdown)(this.connection.as_mut());
        }
        this.connection.poll(cx).map(|ended| {
            if let Err(err) = ended {
                tracing::debug!(error = %err, peer = %this.conn.peer, "connection ended with an error");
            }
        })
    }
}

/// What the wire itself requires of a request before the app sees it:
/// RFC 9112 §3.2, an HTTP/1.1 request carries exactly one `Host`; an
/// HTTP/2 one no more header fields than an HTTP/1.1 head may (hyper
/// enforces that count for HTTP/1.1 as it parses).
#[inline(always)]
fn wire_check(request: &http::Request<Body>, max_headers: u32) -> Option<Rejection> {
    match request.version() {
        http::Version::HTTP_11 => {
            let hosts = host_fields(request.headers());
            if hosts != 1 {
                return Some(Rejection::HostHeader { found: hosts });
            }
        }
        http::Version::HTTP_2 if request.headers().len() > max_headers as usize => {
            return Some(Rejection::TooManyHeaders {
                found: request.headers().len(),
                max: max_headers as usize,
            });
        }
        _ => {}
    }
    None
}

/// How many `Host` fields `headers` holds. Finding a name in the map
/// hashes it first (FNV, a byte at a time over the name's
/// representation): dearer than comparing it with each name of a short
/// head, as most requests have. When no name repeats (the map holds as
/// many names as values), those names are all there is to compare: a
/// plain scan of its entries, without the walk over repeated values.
#[inline(always)]
fn host_fields(headers: &http::HeaderMap) -> usize {
    const SHORT: usize = 8;
    if headers.len() <= SHORT && headers.len() == headers.keys_len() {
        usize::from(headers.keys().any(|name| name == http::header::HOST))
    } else {
        host_fields_found(headers)
    }
}

/// [`host_fields`] in a long head or one with repeated names: out of
/// line, so that the common scan inlined where requests arrive stays
/// small.
#[inline(never)]
fn host_fields_found(headers: &http::HeaderMap) -> usize {
    headers.get_all(http::header::HOST).iter().count()
}

/// How a connection opens.
enum Opening {
    /// Its first bytes are told apart by a peek, still unread: the whole
    /// HTTP/2 preface, or bytes that are not one.
    Peeked { stream: TcpStream, is_h2: bool },
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
            return Some(Opening::Peeked {
                stream,
                is_h2: false,
            });
        }
        if n == PREFACE.len() {
            return Some(Opening::Peeked {
                stream,
                is_h2: true,
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The scan of a short head and the map's lookup in a long one, or in
    /// one where some name repeats, count the same `Host` fields, wherever
    /// they are.
    #[test]
    fn host_fields_are_counted_in_short_and_long_heads() {
        for others in 0..12 {
            for hosts in 0..3 {
                for at in 0..=others {
                    let mut headers = http::HeaderMap::new();
                    for i in 0..others {
                        if i == 2 {
                            headers.append(http::header::ACCEPT, "*/*".parse().unwrap());
                            headers.append(http::header::ACCEPT, "*/*".parse().unwrap());
                        }
                        if i == at {
                            for _ in 0..hosts {
                                headers.append(http::header::HOST, "a".parse().unwrap());
                            }
                        }
                        headers.append(
                            format!("x-{i}").parse::<http::HeaderName>().unwrap(),
                            "v".parse().unwrap(),
                        );
                    }
                    if at == others {
                        for _ in 0..hosts {
                            headers.append(http::header::HOST, "a".parse().unwrap());
                        }
                    }
                    assert_eq!(
                        host_fields(&headers),
                        hosts,
                        "{others} others, Host at {at}"
                    );
                }
            }
        }
    }

    /// A connection's task is allocated at its largest state and kept for
    /// the connection's life. Its largest state is an HTTP/2 connection's,
    /// and it must hold little beyond hyper's own: no second copy of the
    /// socket, of hyper's connection or of the opening, no permit.
    #[tokio::test]
    async fn a_connections_task_stays_near_hyper_s_own() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let service = crate::App::new().build().await.unwrap();
        let protocols = Arc::new(Protocols::new(&ServerConfig::default()));
        let slot = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let open = Open::new(service, peer, &protocols, slot);
        let task = serve(Arc::clone(&protocols), open, server);
        let hello = hyper::service::service_fn(|_: http::Request<Incoming>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
        });
        let hyper_h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(client), hello);
        let (ours, theirs) = (
            std::mem::size_of_val(&task),
            std::mem::size_of_val(&hyper_h2),
        );
        // Today 88 bytes more: the request service's handle on the
        // connection, the signal watch, and the task's own captures.
        assert!(
            ours <= theirs + 128,
            "{ours} bytes against hyper's {theirs}"
        );
    }
}
