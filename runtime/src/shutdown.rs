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
    /// How many [`Hold`]s are alive: background work still draining.
    holds: watch::Sender<usize>,
}

/// Background work that shutdown waits for (see [`Shutdown::hold`]):
/// dropping it says the work has drained.
#[derive(Debug)]
pub struct Hold {
    holds: watch::Sender<usize>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.holds.send_modify(|n| *n -= 1);
    }
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
            holds: watch::Sender::new(0),
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

    /// Registers background work that must drain before the process
    /// ends (task workers): [`drained`](Shutdown::drained) waits until the
    /// returned hold is dropped.
    pub fn hold(&self) -> Hold {
        self.holds.send_modify(|n| *n += 1);
        Hold {
            holds: self.holds.clone(),
        }
    }

    /// Completes once every [`Hold`] is dropped. The server awaits it,
    /// within its grace period, after the connections have closed.
    pub async fn drained(&self) {
        let mut receiver = self.holds.subscribe();
        let _ = receiver.wait_for(|holds| *holds == 0).await;
    }

    /// Completes once shutdown has begun. Cancellation safe.
    pub async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        // `wait_for` only fails when the sender is gone, and `self` holds it.
        let _ = receiver.wait_for(|begun| *begun).await;
    }
}
