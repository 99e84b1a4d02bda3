//! The HTTP server: HTTP/1.1 and HTTP/2 (h2c) on one port over hyper 1,
//! with limits and timeouts that hold against slow and hostile clients,
//! and graceful shutdown on SIGINT/SIGTERM.

mod config;
mod shutdown;

pub use config::ServerConfig;
pub use shutdown::Shutdown;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::HOST;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::app::Service;
use crate::body::Body;
use crate::response::{IntoResponse, Rejection, Response};

/// A bound server: the listener is open, nothing is served until
/// [`run`](Server::run) or [`run_until`](Server::run_until).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    service: Service,
    config: ServerConfig,
}

impl Server {
    pub(crate) async fn bind(
        service: Service,
        config: ServerConfig,
        addr: impl ToSocketAddrs,
    ) -> Result<Self, crate::Error> {
        let listener = TcpListener::bind(addr).await.map_err(crate::Error::Bind)?;
        let local_addr = listener.local_addr().map_err(crate::Error::Bind)?;
        Ok(Server {
            listener,
            local_addr,
            service,
            config,
        })
    }

    /// The address the listener is bound to (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The app being served.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully. The
    /// signal handlers are installed before anything is served, so a
    /// signal that arrives early is not lost (nor fatal).
    pub async fn run(self) -> Result<(), crate::Error> {
        let signals = Signals::install().map_err(crate::Error::Signals)?;
        self.run_until(signals.recv()).await
    }

    /// Serves until `signal` completes, then shuts down gracefully: the
    /// app's [`Shutdown`] begins (readiness fails, workers drain), the
    /// listener closes, idle connections close (HTTP/2 ones get GOAWAY),
    /// in-flight requests run on for the grace period, and whatever is
    /// left after it is cut.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<(), crate::Error> {
        let Server {
            listener,
            service,
            config,
            ..
        } = self;
        let builder = connection_builder(&config);
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(config.max_connections));
        let mut connections = JoinSet::new();
        tokio::pin!(signal);
        loop {
            // At the cap, stop accepting: new clients wait in the listen
            // backlog until a connection closes.
            let slot = tokio::select! {
                biased;
                () = &mut signal => break,
                slot = Arc::clone(&slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break, // never closed; nothing to wait for
                },
            };
            let (stream, peer) = tokio::select! {
                biased;
                () = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors and the like: back off
                        // instead of spinning, and keep serving.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(error = %err, %peer, "could not set TCP_NODELAY");
            }
            let service = service.clone();
            let hyper_service =
                hyper::service::service_fn(move |request: http::Request<Incoming>| {
                    let service = service.clone();
                    async move { Ok::<_, Infallible>(serve_request(&service, request, peer).await) }
                });
            let connection = builder.serve_connection(TokioIo::new(stream), hyper_service);
            let connection = graceful.watch(connection.into_owned());
            connections.spawn(async move {
                let _slot = slot;
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, %peer, "connection ended with an error");
                }
            });
            while connections.try_join_next().is_some() {}
        }
        service.shutdown().begin();
        drop(listener);
        tracing::info!(
            in_flight = connections.len(),
            "shutting down: waiting for in-flight requests"
        );
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(config.grace_period) => {
                tracing::warn!(grace_period = ?config.grace_period, remaining = connections.len(),
                    "grace period over; cutting the remaining connections");
                connections.abort_all();
            }
        }
        while connections.join_next().await.is_some() {}
        Ok(())
    }
}

fn connection_builder(config: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // hyper enforces the header read timeout only with a timer.
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_headers(config.max_headers)
        .max_buf_size(config.max_header_bytes)
        .keep_alive(config.keep_alive);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(config.h2_max_concurrent_streams);
    builder
}

/// RFC 9112 §3.2: an HTTP/1.1 request without exactly one `Host` is a 400.
async fn serve_request(
    service: &Service,
    request: http::Request<Incoming>,
    peer: SocketAddr,
) -> Response {
    if request.version() == http::Version::HTTP_11 {
        let hosts = request.headers().get_all(HOST).iter().count();
        if hosts != 1 {
            return Rejection::HostHeader { found: hosts }.into_response();
        }
    }
    service
        .call_from(request.map(Body::incoming), Some(peer))
        .await
}

/// SIGINT and SIGTERM handlers, installed when made.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {},
            _ = self.terminate.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    match Signals::install() {
        Ok(signals) => signals.recv().await,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for shutdown signals");
            std::future::pending::<()>().await;
        }
    }
}
