//! The HTTP server: HTTP/1.1 and HTTP/2 (h2c) on one port over hyper 1,
//! with limits and timeouts that hold against slow and hostile clients,
//! and graceful shutdown on SIGINT/SIGTERM.

mod canned;
mod config;
mod connection;
mod sweeper;

pub use config::ServerConfig;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::Semaphore;

use crate::metrics::ServerStats;
use crate::service::Service;
use sweeper::Sweeper;

/// A running server's future, boxed (see `Server::serve`).
type Serving = Pin<Box<dyn Future<Output = Result<(), crate::error::Error>> + Send>>;

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
    ) -> Result<Self, crate::error::Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(crate::error::Error::Bind)?;
        let local_addr = listener.local_addr().map_err(crate::error::Error::Bind)?;
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
    pub fn run(self) -> impl Future<Output = Result<(), crate::error::Error>> + Send + 'static {
        let serving: Serving = Box::pin(async move {
            let signals = Signals::install().map_err(crate::error::Error::Signals)?;
            self.serve(Box::pin(signals.recv())).await
        });
        serving
    }

    /// Serves until `signal` completes, then shuts down gracefully: the
    /// app's [`Shutdown`](crate::shutdown::Shutdown) begins (readiness fails, workers drain), the
    /// listener closes, idle connections close (HTTP/2 ones get GOAWAY),
    /// in-flight requests run on for the grace period, and whatever is
    /// left after it is cut. (`signal` is boxed with the server's future,
    /// hence `Send` and `'static`, as a task's future is.)
    pub fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = Result<(), crate::error::Error>> + Send + 'static {
        self.serve(Box::pin(signal))
    }

    /// The server's work, in a fn that is not generic and a future that is
    /// boxed: compiled once, in this crate. An `async fn`'s body is
    /// compiled where its future is polled, so as one awaited from an
    /// app's `main` or from `App::serve` (generic over the address), the
    /// accept loop, the connections and hyper's HTTP/1.1 and HTTP/2 state
    /// machines were compiled again, debuginfo and all, in every app: a
    /// fifth of a 100-route app's clean build.
    fn serve(self, signal: Pin<Box<dyn Future<Output = ()> + Send>>) -> Serving {
        Box::pin(self.serve_until(signal))
    }

    async fn serve_until(
        self,
        mut signal: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Result<(), crate::error::Error> {
        tracing::info!(addr = %self.local_addr, "portico listening");
        let Server {
            listener,
            service,
            config,
            ..
        } = self;
        let protocols = Arc::new(connection::Protocols::new(&config));
        let mut sweeper = Sweeper::new(config.header_read_timeout, config.request_timeout);
        let mut ticker = sweeper.ticker();
        // Each open connection holds one slot; shutdown waits for all of
        // them to be back rather than tracking each task.
        let capacity = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
        let slots = Arc::new(Semaphore::new(capacity as usize));
        loop {
            // At the cap, stop accepting: new clients wait in the listen
            // backlog until a connection closes. (A sweep meanwhile drops
            // this attempt, slot and all; both waits are cancel-safe.)
            let accept = async {
                if slots.available_permits() == 0 {
                    ServerStats::count(&service.stats().at_capacity);
                }
                // The semaphore is never closed; `None` cannot happen.
                let slot = Arc::clone(&slots).acquire_owned().await.ok()?;
                Some((slot, listener.accept().await))
            };
            let (slot, stream, peer) = tokio::select! {
                biased;
                () = &mut signal => break,
                () = ticker.tick() => {
                    sweeper.sweep();
                    continue;
                }
                accepted = accept => match accepted {
                    Some((slot, Ok((stream, peer)))) => (slot, stream, peer),
                    None => break,
                    Some((_, Err(err))) => {
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
            ServerStats::count(&service.stats().accepted);
            let open = connection::Open::new(service.clone(), peer, &protocols, slot);
            sweeper.watch(Arc::clone(open.conn()));
            tokio::spawn(connection::serve(Arc::clone(&protocols), open, stream));
        }
        service.shutdown().begin();
        drop(listener);
        sweeper.drain_all();
        let open = |slots: &Semaphore| capacity as usize - slots.available_permits();
        // Connections, not requests: idle ones close at once on the drain
        // signal, busy ones when their requests are answered.
        tracing::info!(
            open_connections = open(&slots),
            "shutting down: waiting for the open connections to finish"
        );
        // The semaphore is never closed, so these waits end only when
        // every connection's task has given its slot back.
        if tokio::time::timeout(config.grace_period, slots.acquire_many(capacity))
            .await
            .is_err()
        {
            tracing::warn!(grace_period = ?config.grace_period, remaining = open(&slots),
                "grace period over; cutting the remaining connections");
            sweeper.cut_all();
            let _all_closed = slots.acquire_many(capacity).await;
        } else {
            tracing::info!("all connections closed");
        }
        // Background work (task workers) drains on its own grace period;
        // this bound only keeps a stuck one from holding the process.
        if tokio::time::timeout(config.grace_period, service.shutdown().drained())
            .await
            .is_err()
        {
            tracing::warn!("background work did not drain within the grace period");
        }
        Ok(())
    }
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
