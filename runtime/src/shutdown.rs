//! `Shutdown`: lets components know when graceful shutdown begins.

use tokio::sync::watch;

/// Tells components that graceful shutdown has begun, so that the
/// readiness probe can fail first and background work can drain.
///
/// Every app provides one: take it as `Dep<Shutdown>`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use portico_runtime::Shutdown;
///
/// let shutdown = Shutdown::new();
/// assert!(!shutdown.has_begun());
/// shutdown.begin();
/// shutdown.wait().await; // returns at once now
/// assert!(shutdown.has_begun());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A shutdown that has not begun.
    pub fn new() -> Self {
        Shutdown {
            sender: watch::Sender::new(false),
        }
    }

    /// Begins shutdown; waiters wake up. Calling it again does nothing.
    pub fn begin(&self) {
        self.sender.send_replace(true);
    }

    /// Whether shutdown has begun.
    pub fn has_begun(&self) -> bool {
        *self.sender.borrow()
    }

    /// Completes once shutdown has begun. Cancellation safe.
    pub async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        // `wait_for` only fails when the sender is gone, and `self` holds it.
        let _ = receiver.wait_for(|begun| *begun).await;
    }
}
