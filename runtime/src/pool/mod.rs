//! An async connection pool over a [`Manager`]: FIFO waiting with a
//! timeout, lazy growth to `max_size`, recycling by lifetime and idle time,
//! health checks on long-idle connections, a circuit breaker for a database
//! that is down, and graceful close.

mod breaker;
mod engine;
mod migrate;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use engine::SqlEngine;
pub(crate) use engine::{epoch_ms, millis, now_ms};
pub use migrate::{MigrationError, Migrations};
#[cfg(feature = "postgres")]
pub use postgres::PostgresManager;
/// The SQLite client crate the manager uses, for the types a query needs
/// (rows, parameters).
#[cfg(feature = "sqlite")]
pub use rusqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteConnection, SqliteError, SqliteManager};
/// The PostgreSQL client crate the manager uses, for the types a query
/// needs (rows, parameters).
#[cfg(feature = "postgres")]
pub use tokio_postgres;

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use quanta::{Clock, Instant};
use tokio::sync::{Notify, Semaphore};

use breaker::Breaker;
pub use breaker::BreakerState;

use crate::metrics::Histogram;

/// Acquire-time buckets, in nanoseconds: 10 µs … 1 s, then `+Inf`.
const ACQUIRE_BOUNDS: [u64; 11] = [
    10_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    u64::MAX,
];

/// Makes, checks and resets connections for a [`Pool`].
pub trait Manager: Send + Sync + 'static {
    /// A connection.
    type Connection: Send + 'static;
    /// Why connecting or checking failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Opens a new connection.
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;

    /// Pings a connection that sat idle for a while before handing it out.
    fn check(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Brings back a connection whose user panicked or was cancelled while
    /// holding it (roll back an open transaction, say). Default: nothing.
    fn reset(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// A cheap look, when a connection comes back: is it unusable?
    fn is_broken(&self, conn: &Self::Connection) -> bool {
        let _ = conn;
        false
    }
}

/// Why a connection could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PoolError<E: std::error::Error + 'static> {
    /// No connection came free within the timeout.
    #[error("no connection was available within {0:?}")]
    Timeout(Duration),
    /// The pool is closed.
    #[error("the pool is closed")]
    Closed,
    /// Connecting failed.
    #[error("cannot connect: {0}")]
    Connect(#[source] E),
    /// Recent connects all failed; the pool fails fast until the cool-down
    /// is over instead of making every caller wait out its timeout.
    #[error("the database is unavailable (circuit open after repeated connect failures)")]
    Unavailable,
}

/// Pool limits and timings, with working defaults.
#[derive(Debug, Clone)]
#[must_use]
pub struct PoolBuilder {
    min_size: usize,
    max_size: usize,
    acquire_timeout: Duration,
    max_lifetime: Option<Duration>,
    idle_timeout: Option<Duration>,
    check_after_idle: Duration,
    breaker_threshold: u32,
    breaker_cooldown: Duration,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            min_size: 0,
            max_size: 8,
            acquire_timeout: Duration::from_secs(5),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            idle_timeout: Some(Duration::from_secs(10 * 60)),
            check_after_idle: Duration::from_secs(30),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(5),
        }
    }
}

impl PoolBuilder {
    /// The defaults: no connection opened up front, at most 8, 5 s acquire
    /// timeout, 30 min lifetime, 10 min idle timeout, ping after 30 s idle,
    /// circuit open after 5 failed connects for 5 s.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use portico_runtime::pool::{PoolBuilder, SqliteManager};
    ///
    /// let pool = PoolBuilder::new().min_size(2).max_size(8).build(SqliteManager::file("app.db")).await?;
    /// let mut conn = pool.get().await?;
    /// let one: i64 = conn.call(|c| c.query_row("SELECT 1", [], |r| r.get(0))).await?;
    /// # Ok(()) }
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Connections opened when the pool is built and kept. Default 0.
    pub fn min_size(mut self, n: usize) -> Self {
        self.min_size = n;
        self
    }

    /// The most connections. Default 8.
    pub fn max_size(mut self, n: usize) -> Self {
        self.max_size = n.max(1);
        self
    }

    /// How long [`Pool::get`] waits. Default 5 s.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Connections older than this are closed instead of reused. Default 30 min.
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// Idle connections beyond `min_size` are closed after this. Default 10 min.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// A connection idle longer than this is pinged before it is handed out. Default 30 s.
    pub fn check_after_idle(mut self, idle: Duration) -> Self {
        self.check_after_idle = idle;
        self
    }

    /// After `failures` connect failures in a row, fail fast for `cooldown`. Default 5, 5 s.
    pub fn circuit_breaker(mut self, failures: u32, cooldown: Duration) -> Self {
        self.breaker_threshold = failures.max(1);
        self.breaker_cooldown = cooldown;
        self
    }

    /// Builds the pool and opens `min_size` connections.
    pub async fn build<M: Manager>(self, manager: M) -> Result<Pool<M>, PoolError<M::Error>> {
        let min_size = self.min_size.min(self.max_size);
        let pool = Pool {
            inner: Arc::new(Inner {
                manager,
                slots: Semaphore::new(self.max_size),
                clock: Clock::new(),
                idle: Mutex::new(VecDeque::new()),
                breaker: Breaker::new(self.breaker_threshold, self.breaker_cooldown),
                returned: Notify::new(),
                size: AtomicUsize::new(0),
                waiters: AtomicUsize::new(0),
                timeouts: AtomicU64::new(0),
                created: AtomicU64::new(0),
                closed: AtomicU64::new(0),
                acquire_time: Histogram::new(&ACQUIRE_BOUNDS),
                config: PoolBuilder { min_size, ..self },
            }),
        };
        let mut opened = Vec::with_capacity(min_size);
        for _ in 0..min_size {
            opened.push(pool.open().await?);
        }
        pool.lock_idle().extend(opened);
        Ok(pool)
    }
}

struct Idle<C> {
    conn: C,
    created: Instant,
    idle_since: Instant,
    needs_reset: bool,
}

struct Inner<M: Manager> {
    manager: M,
    /// One permit per connection that may exist; waiting is FIFO. A
    /// permit is forgotten while its connection is out and added back when
    /// the guard drops.
    slots: Semaphore,
    /// Timestamps for lifetimes and idle times: the CPU's counter where it
    /// is reliable, a few ns where `std::time::Instant::now` costs tens.
    clock: Clock,
    /// Most recently used first: hot connections stay warm, the cold tail
    /// ages out.
    idle: Mutex<VecDeque<Idle<M::Connection>>>,
    breaker: Breaker,
    returned: Notify,
    size: AtomicUsize,
    waiters: AtomicUsize,
    timeouts: AtomicU64,
    created: AtomicU64,
    closed: AtomicU64,
    /// How long successful acquires took.
    acquire_time: Histogram<11>,
    config: PoolBuilder,
}

/// A pool of connections made by `M`. Cheap to clone.
pub struct Pool<M: Manager> {
    inner: Arc<Inner<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("stats", &self.stats())
            .finish()
    }
}

/// A snapshot of a pool's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    /// Connections open (idle + in use).
    pub size: usize,
    /// Connections waiting to be used.
    pub idle: usize,
    /// Connections handed out.
    pub in_use: usize,
    /// Callers waiting for one.
    pub waiters: usize,
    /// Acquires that timed out, ever.
    pub timeouts: u64,
    /// Connections opened, ever.
    pub created: u64,
    /// Connections closed, ever.
    pub closed: u64,
    /// The circuit breaker's state.
    pub breaker: BreakerState,
    /// Times the circuit breaker opened, ever.
    pub breaker_trips: u64,
}

impl<M: Manager> Pool<M> {
    /// The manager.
    pub fn manager(&self) -> &M {
        &self.inner.manager
    }

    fn lock_idle(&self) -> MutexGuard<'_, VecDeque<Idle<M::Connection>>> {
        // Plain data behind the lock: a panic elsewhere leaves it usable.
        self.inner
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A connection, waiting at most the pool's acquire timeout.
    pub async fn get(&self) -> Result<Pooled<M>, PoolError<M::Error>> {
        self.acquire(self.inner.config.acquire_timeout).await
    }

    /// A connection, waiting (first come, first served) at most `timeout`.
    ///
    /// Cancellation safe: a caller dropped while waiting gives up its place
    /// and takes nothing.
    pub async fn acquire(&self, timeout: Duration) -> Result<Pooled<M>, PoolError<M::Error>> {
        let inner = &*self.inner;
        let started = inner.clock.now();
        // The common case takes a free slot at once: no timer, no waiting.
        match inner.slots.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(tokio::sync::TryAcquireError::Closed) => return Err(PoolError::Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                inner.waiters.fetch_add(1, Ordering::Relaxed);
                let waited = tokio::time::timeout(timeout, inner.slots.acquire()).await;
                inner.waiters.fetch_sub(1, Ordering::Relaxed);
                match waited {
                    Ok(Ok(permit)) => permit.forget(),
                    Ok(Err(_)) => return Err(PoolError::Closed),
                    Err(_) => {
                        inner.timeouts.fetch_add(1, Ordering::Relaxed);
                        return Err(PoolError::Timeout(timeout));
                    }
                }
            }
        }
        // From here the slot is ours: `Slot` gives it back unless a
        // connection takes it over.
        let slot = Slot(self);
        loop {
            let next = self.lock_idle().pop_front();
            let Some(mut idle) = next else { break };
            let now = inner.clock.now();
            if inner
                .config
                .max_lifetime
                .is_some_and(|max| now.duration_since(idle.created) >= max)
            {
                self.discard();
                continue;
            }
            let mut ok = true;
            if idle.needs_reset {
                ok = inner.manager.reset(&mut idle.conn).await.is_ok();
            }
            if ok && now.duration_since(idle.idle_since) >= inner.config.check_after_idle {
                ok = inner.manager.check(&mut idle.conn).await.is_ok();
            }
            if ok {
                std::mem::forget(slot);
                self.acquired(started);
                return Ok(Pooled::new(self, idle.conn, idle.created));
            }
            self.discard();
        }
        let left = timeout.saturating_sub(inner.clock.now().duration_since(started));
        match tokio::time::timeout(left, self.open()).await {
            Ok(Ok(idle)) => {
                std::mem::forget(slot);
                self.acquired(started);
                Ok(Pooled::new(self, idle.conn, idle.created))
            }
            Ok(Err(err)) => Err(err),
            Err(_) => {
                inner.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(PoolError::Timeout(timeout))
            }
        }
    }

    fn acquired(&self, started: Instant) {
        let waited = self.inner.clock.now().duration_since(started);
        self.inner.acquire_time.observe(waited.as_nanos() as u64);
    }

    /// How long successful acquires took (nanoseconds), for metrics.
    pub fn acquire_times(&self) -> &Histogram<11> {
        &self.inner.acquire_time
    }

    /// Opens a connection, through the circuit breaker.
    async fn open(&self) -> Result<Idle<M::Connection>, PoolError<M::Error>> {
        if !self.inner.breaker.allow() {
            return Err(PoolError::Unavailable);
        }
        match self.inner.manager.connect().await {
            Ok(conn) => {
                self.inner.breaker.success();
                self.inner.size.fetch_add(1, Ordering::Relaxed);
                self.inner.created.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                Ok(Idle {
                    conn,
                    created: now,
                    idle_since: now,
                    needs_reset: false,
                })
            }
            Err(err) => {
                self.inner.breaker.failure();
                Err(PoolError::Connect(err))
            }
        }
    }

    fn discard(&self) {
        self.inner.size.fetch_sub(1, Ordering::Relaxed);
        self.inner.closed.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes idle connections past the idle timeout, keeping `min_size`.
    /// Run it now and then (a [`spawn_reaper`](Pool::spawn_reaper) does).
    pub fn reap(&self) {
        let (Some(idle_timeout), now) = (self.inner.config.idle_timeout, Instant::now()) else {
            return;
        };
        let min = self.inner.config.min_size;
        let mut idle = self.lock_idle();
        let mut kept = self.inner.size.load(Ordering::Relaxed);
        let before = idle.len();
        // The oldest-used are at the back.
        while kept > min
            && idle
                .back()
                .is_some_and(|c| now - c.idle_since >= idle_timeout)
        {
            idle.pop_back();
            kept -= 1;
        }
        let removed = before - idle.len();
        drop(idle);
        for _ in 0..removed {
            self.discard();
        }
    }

    /// Reaps every `period` until the pool is closed or dropped.
    pub fn spawn_reaper(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(inner) = weak.upgrade() else { return };
                if inner.slots.is_closed() {
                    return;
                }
                Pool { inner }.reap();
            }
        })
    }

    /// Stops new acquires (they fail with `Closed`), waits up to
    /// `deadline` for borrowed connections to come back, then closes every
    /// connection. Returns whether all came back in time.
    pub async fn close(&self, deadline: Duration) -> bool {
        self.inner.slots.close();
        let all_back = tokio::time::timeout(deadline, async {
            loop {
                let notified = self.inner.returned.notified();
                if self.stats().in_use == 0 {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok();
        let drained: Vec<_> = self.lock_idle().drain(..).collect();
        for _ in &drained {
            self.discard();
        }
        all_back
    }

    /// Whether [`close`](Pool::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.slots.is_closed()
    }

    /// The pool's figures now.
    pub fn stats(&self) -> PoolStats {
        let idle = self.lock_idle().len();
        let size = self.inner.size.load(Ordering::Relaxed);
        let (breaker, breaker_trips) = self.inner.breaker.state();
        PoolStats {
            breaker,
            breaker_trips,
            size,
            idle,
            in_use: size.saturating_sub(idle),
            waiters: self.inner.waiters.load(Ordering::Relaxed),
            timeouts: self.inner.timeouts.load(Ordering::Relaxed),
            created: self.inner.created.load(Ordering::Relaxed),
            closed: self.inner.closed.load(Ordering::Relaxed),
        }
    }

    /// A health check of the pool: a connection can be had and answers.
    pub async fn ping(&self, timeout: Duration) -> Result<(), String> {
        let mut conn = self.acquire(timeout).await.map_err(|e| e.to_string())?;
        let result = self
            .inner
            .manager
            .check(&mut conn)
            .await
            .map_err(|e| e.to_string());
        if result.is_err() {
            conn.mark_broken();
        }
        result
    }
}

/// A slot taken but not (yet) held by a connection: given back on drop,
/// for example when `acquire` is cancelled while connecting.
struct Slot<'p, M: Manager>(&'p Pool<M>);

impl<M: Manager> Drop for Slot<'_, M> {
    fn drop(&mut self) {
        self.0.inner.slots.add_permits(1);
    }
}

/// A connection borrowed from a [`Pool`]; derefs to the connection and
/// goes back to the pool when dropped — also when its user panics or its
/// future is dropped mid-way (it is then reset before its next use).
pub struct Pooled<M: Manager> {
    conn: Option<M::Connection>,
    created: Instant,
    broken: bool,
    pool: Pool<M>,
}

impl<M: Manager> Pooled<M> {
    fn new(pool: &Pool<M>, conn: M::Connection, created: Instant) -> Self {
        Pooled {
            conn: Some(conn),
            created,
            broken: false,
            pool: pool.clone(),
        }
    }

    /// Says the connection is unusable: it is closed instead of returned.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl<M: Manager> fmt::Debug for Pooled<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Deref for Pooled<M> {
    type Target = M::Connection;
    fn deref(&self) -> &M::Connection {
        // Present from creation until drop.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("a pooled connection is present until dropped"))
    }
}

impl<M: Manager> DerefMut for Pooled<M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("a pooled connection is present until dropped"))
    }
}

impl<M: Manager> Drop for Pooled<M> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let pool = &self.pool;
        let now = pool.inner.clock.now();
        let expired = pool
            .inner
            .config
            .max_lifetime
            .is_some_and(|max| now.duration_since(self.created) >= max);
        if self.broken || pool.is_closed() || expired || pool.inner.manager.is_broken(&conn) {
            drop(conn);
            pool.discard();
        } else {
            let idle = Idle {
                conn,
                created: self.created,
                idle_since: now,
                // Dropped while unwinding: what it was doing is unknown.
                needs_reset: std::thread::panicking(),
            };
            pool.lock_idle().push_front(idle);
        }
        // The connection is back before the slot, so a waiter finds it.
        pool.inner.slots.add_permits(1);
        if pool.is_closed() {
            pool.inner.returned.notify_waiters();
        }
    }
}
