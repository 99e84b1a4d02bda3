//! The HTTP server: a hyper 1 accept loop serving a built app, with
//! graceful shutdown on SIGINT/SIGTERM.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, ToSocketAddrs};

use crate::app::Service;
use crate::body::Body;

/// How long in-flight requests may run on after shutdown begins.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);

/// A bound server: the listener is open, nothing is served until
/// [`run`](Server::run) or [`run_until`](Server::run_until).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    service: Service,
    grace_period: Duration,
}

impl Server {
    pub(crate) async fn bind(
        service: Service,
        addr: impl ToSocketAddrs,
    ) -> Result<Self, crate::Error> {
        let listener = TcpListener::bind(addr).await.map_err(crate::Error::Bind)?;
        let local_addr = listener.local_addr().map_err(crate::Error::Bind)?;
        Ok(Server {
            listener,
            local_addr,
            service,
            grace_period: DEFAULT_GRACE_PERIOD,
        })
    }

    /// The address the listener is bound to (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How long in-flight requests may run on once shutdown begins; after
    /// that their connections are cut. Default: 30 s.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run(self) -> Result<(), crate::Error> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then stops accepting, lets
    /// in-flight requests finish within the grace period, and returns.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<(), crate::Error> {
        let Server {
            listener,
            service,
            grace_period,
            ..
        } = self;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().keep_alive(true);
        let graceful = GracefulShutdown::new();
        tokio::pin!(signal);
        loop {
            let (stream, peer) = tokio::select! {
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
                () = &mut signal => break,
            };
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(error = %err, %peer, "could not set TCP_NODELAY");
            }
            let service = service.clone();
            let hyper_service = hyper::service::service_fn(
                move |request: http::Request<Incoming>| {
                    let service = service.clone();
                    async move { Ok::<_, Infallible>(service.call(request.map(Body::incoming)).await) }
                },
            );
            let connection = builder.serve_connection(TokioIo::new(stream), hyper_service);
            let connection = graceful.watch(connection.into_owned());
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, %peer, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!("shutting down: waiting for in-flight requests");
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(grace_period) => {
                tracing::warn!(?grace_period, "grace period over; cutting the remaining connections");
            }
        }
        Ok(())
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
