//! A durable background task queue with status tracking.
//!
//! A [`Task`] is a named, serde-serialisable payload with an async `run`
//! that takes injected dependencies. [`TaskQueue::enqueue`] stores it and
//! returns its [`TaskId`]; [`Workers`] (added with `App::workers`) claim
//! and run tasks; [`TaskQueue::status`] tells where a task stands:
//! pending, scheduled, running, done (with its result), failed (with the
//! last error) or cancelled.
//!
//! # Delivery: at least once
//!
//! A claimed task holds a lease that its worker renews while it runs. If
//! the worker dies (the process is killed, the machine goes away), the
//! lease lapses and the task is claimed again, as its next attempt: a task
//! may run more than once, so **a task must be safe to run again** — check
//! for its own effect first, or make its effect idempotent (an insert
//! keyed by the task's id, an `Idempotency-Key` on the service it calls).
//! The attempt number is a fencing token: a worker whose lease lapsed
//! cannot complete, retry or fail the task after another worker took it.
//!
//! # Failures
//!
//! A task that returns an error, panics or outlives its timeout is tried
//! again after an exponential backoff with jitter, up to its
//! `max_attempts` (default 3); then it is `failed` and kept as a dead
//! letter for a week, to be looked at or [`retry`](TaskQueue::retry)ed by
//! hand. [`TaskError::permanent`] fails it at once.
//!
//! # Backends
//!
//! Behind the [`QueueBackend`] trait: [`MemoryBackend`] (lost with the
//! process: tests, library use), and SQL on Portico's pool — SQLite
//! (`TaskQueue::sqlite`) and PostgreSQL (`TaskQueue::postgres`) — where a
//! handler can enqueue **in its own transaction**, so the row it writes
//! and the task that follows from it commit together or not at all.

mod backend;
mod memory;
mod sql;
mod worker;

pub use backend::{Claimed, NewTask, Outcome, QueueBackend, QueueFuture};
pub use memory::MemoryBackend;
#[cfg(feature = "postgres")]
pub use sql::PostgresBackend;
#[cfg(feature = "sqlite")]
pub use sql::SqliteBackend;
pub use worker::{CronError, Workers};

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use tokio::sync::Notify;

use crate::inject::Inject;
use crate::pool::epoch_ms;
pub(crate) use crate::pool::{millis, now_ms};

/// A kind of background work: a serde-serialisable payload and the code
/// that runs it.
///
/// ```
/// use portico_runtime::inject::Dep;
/// use portico_runtime::queue::{Task, TaskError};
/// use serde::{Deserialize, Serialize};
///
/// struct Mailer;
/// impl Mailer {
///     async fn send(&self, to: &str) -> Result<(), std::io::Error> { Ok(()) }
/// }
///
/// #[derive(Serialize, Deserialize)]
/// struct WelcomeEmail { to: String }
///
/// impl Task for WelcomeEmail {
///     const NAME: &'static str = "welcome_email";
///     type Deps = Dep<Mailer>;
///     type Output = String;
///
///     async fn run(self, mailer: Dep<Mailer>) -> Result<String, TaskError> {
///         mailer.send(&self.to).await?;
///         Ok(format!("sent to {}", self.to))
///     }
/// }
/// ```
pub trait Task: Serialize + DeserializeOwned + Send + 'static {
    /// The name stored with each task: how a worker finds the code to run
    /// it. Keep it stable while tasks of it may be queued.
    const NAME: &'static str;

    /// What it takes from the app's container: `Dep<T>`, an `#[inject]`
    /// struct, or `()`. Checked with the rest of the graph when the app
    /// is built; singletons only (a task runs outside any request).
    type Deps: Inject;

    /// What a finished task keeps as its result (as JSON).
    type Output: Serialize + Send;

    /// Runs the task. Its first poll happens on its queue's dispatcher (a
    /// quick task finishes there, with no task spawned); it moves to a
    /// task of its own at its first `.await` that waits. Long computation
    /// without an `.await` belongs in `tokio::task::spawn_blocking`.
    fn run(self, deps: Self::Deps) -> impl Future<Output = Result<Self::Output, TaskError>> + Send;
}

/// Why a run of a task failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    message: String,
    permanent: bool,
}

impl TaskError {
    /// A failure worth another attempt (the default for `?`).
    pub fn new(message: impl Into<String>) -> Self {
        TaskError {
            message: message.into(),
            permanent: false,
        }
    }

    /// A failure no retry can fix: the task fails at once.
    pub fn permanent(message: impl Into<String>) -> Self {
        TaskError {
            message: message.into(),
            permanent: true,
        }
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether another attempt is pointless.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for TaskError {
    fn from(error: E) -> Self {
        TaskError::new(error.to_string())
    }
}

/// A task's id.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct TaskId(pub i64);

impl Serialize for TaskId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for TaskId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(TaskId)
    }
}

/// Where a task stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Waiting for a worker.
    Pending,
    /// Waiting for its time (`run_at`, or a retry's backoff).
    Scheduled,
    /// A worker runs it.
    Running,
    /// Finished; its result is kept.
    Done,
    /// Out of attempts, or failed for good; its last error is kept.
    Failed,
    /// Cancelled before it ran.
    Cancelled,
}

impl TaskStatus {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => TaskStatus::Pending,
            "scheduled" => TaskStatus::Scheduled,
            "running" => TaskStatus::Running,
            "done" => TaskStatus::Done,
            "failed" => TaskStatus::Failed,
            "cancelled" => TaskStatus::Cancelled,
            _ => return None,
        })
    }
}

/// Everything known about a task. Times are milliseconds since the Unix
/// epoch.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TaskRecord {
    /// Its id.
    pub id: TaskId,
    /// Its kind ([`Task::NAME`]).
    pub name: String,
    /// The queue it runs on.
    pub queue: String,
    /// Where it stands.
    pub status: TaskStatus,
    /// Runs begun so far (a run cut short by a crash counts).
    pub attempts: u32,
    /// Runs allowed before it fails.
    pub max_attempts: u32,
    /// Its payload.
    pub payload: serde_json::Value,
    /// Its result, once done.
    pub result: Option<serde_json::Value>,
    /// The last run's error, if it failed.
    pub error: Option<String>,
    /// Its unique key, if it has one.
    pub unique_key: Option<String>,
    /// When it was enqueued.
    pub created_at: i64,
    /// When it may run (next).
    pub run_at: i64,
    /// When its last run began.
    pub started_at: Option<i64>,
    /// When it finished (done, failed or cancelled).
    pub finished_at: Option<i64>,
}

/// How to enqueue a task: queue, time, unique key, attempts, priority,
/// timeout.
#[derive(Debug, Clone)]
pub struct TaskOptions {
    pub(crate) queue: String,
    pub(crate) run_at: Option<i64>,
    pub(crate) unique_key: Option<String>,
    pub(crate) max_attempts: u32,
    pub(crate) priority: i32,
    pub(crate) timeout: Duration,
}

impl Default for TaskOptions {
    fn default() -> Self {
        TaskOptions {
            queue: "default".into(),
            run_at: None,
            unique_key: None,
            max_attempts: 3,
            priority: 0,
            timeout: Duration::from_secs(300),
        }
    }
}

impl TaskOptions {
    /// The defaults: queue `default`, now, 3 attempts, priority 0, 5 min timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs on the named queue (its workers and concurrency).
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Runs no earlier than `delay` from now.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.run_at = Some(now_ms().saturating_add(millis(delay)));
        self
    }

    /// Runs no earlier than `at`.
    pub fn run_at(mut self, at: SystemTime) -> Self {
        self.run_at = Some(epoch_ms(at));
        self
    }

    /// While a task with this key is pending, scheduled or running,
    /// enqueueing another returns that task's id instead.
    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    /// Runs allowed before the task fails (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Lower runs first (default 0).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// The longest one run may take; a run still going after it is an
    /// error (and retried).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Counts by state, for a dashboard or metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Waiting for a worker.
    pub pending: u64,
    /// Waiting for their time.
    pub scheduled: u64,
    /// Running.
    pub running: u64,
    /// Done and kept.
    pub done: u64,
    /// Failed and kept.
    pub failed: u64,
    /// Cancelled and kept.
    pub cancelled: u64,
    /// How long the oldest pending task has waited, in milliseconds.
    pub oldest_pending_ms: Option<u64>,
}

impl QueueStats {
    /// Tasks not finished: pending, scheduled and running.
    pub fn depth(&self) -> u64 {
        self.pending + self.scheduled + self.running
    }
}

/// Why the queue could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The payload or result does not serialise.
    #[error("the task does not serialise: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The backend failed (database down, connection lost, …).
    #[error("the task queue's backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The operation needs another backend (a transactional enqueue on the
    /// memory backend, or into the other database engine).
    #[error("this task queue's backend cannot do that")]
    Unsupported,
}

impl From<QueueError> for crate::response::ApiError {
    fn from(error: QueueError) -> Self {
        tracing::error!(error = %error, "task queue failed");
        crate::response::ApiError::unavailable("the service is unavailable; retry later")
    }
}

/// The queue's handle: enqueue, look up, cancel, retry. Cheap to clone;
/// provide it to handlers (`App::provide(queue.clone())`, then
/// `Dep<TaskQueue>`).
#[derive(Clone)]
pub struct TaskQueue {
    backend: Arc<dyn QueueBackend>,
    /// Wakes workers: new work.
    wake: Arc<Notify>,
    /// Wakes [`wait_idle`](TaskQueue::wait_idle): runs finished.
    progress: Arc<Notify>,
    /// Dispatchers running in this process, once workers were started.
    workers: Arc<WorkerCount>,
    /// What this process's workers ran, for metrics.
    runs: Arc<RunCounts>,
}

/// What a process's workers ran: each run's outcome and duration.
#[derive(Debug)]
pub(crate) struct RunCounts {
    pub(crate) done: std::sync::atomic::AtomicU64,
    pub(crate) retried: std::sync::atomic::AtomicU64,
    pub(crate) failed: std::sync::atomic::AtomicU64,
    /// Nanoseconds from a run's start to its outcome.
    pub(crate) duration: crate::metrics::Histogram<15>,
}

impl Default for RunCounts {
    fn default() -> Self {
        RunCounts {
            done: Default::default(),
            retried: Default::default(),
            failed: Default::default(),
            duration: crate::metrics::Histogram::new(&crate::metrics::DURATION_BOUNDS),
        }
    }
}

impl RunCounts {
    /// Counts one run that ended in `outcome` after `took`.
    pub(crate) fn ran(&self, outcome: &Outcome, took: Duration) {
        let counter = match outcome {
            Outcome::Done(_) => &self.done,
            Outcome::Retry { .. } => &self.retried,
            Outcome::Failed(_) => &self.failed,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.duration.observe(took.as_nanos() as u64);
    }
}

/// How many of this process's dispatchers run, for the readiness check.
#[derive(Debug, Default)]
pub(crate) struct WorkerCount {
    started: std::sync::atomic::AtomicBool,
    alive: std::sync::atomic::AtomicUsize,
}

/// One running dispatcher; counted down when it ends, by panic too.
#[derive(Debug)]
pub(crate) struct Alive(Arc<WorkerCount>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0
            .alive
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl fmt::Debug for TaskQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskQueue").finish_non_exhaustive()
    }
}

impl TaskQueue {
    /// A queue on `backend`.
    pub fn new(backend: impl QueueBackend) -> Self {
        Self::shared(Arc::new(backend))
    }

    /// A queue on a shared backend.
    pub fn shared(backend: Arc<dyn QueueBackend>) -> Self {
        let wake = Arc::new(Notify::new());
        backend.subscribe(&wake);
        TaskQueue {
            backend,
            wake,
            progress: Arc::new(Notify::new()),
            workers: Arc::default(),
            runs: Arc::default(),
        }
    }

    /// What this process's workers ran.
    pub(crate) fn runs(&self) -> &RunCounts {
        &self.runs
    }

    /// A queue in this process's memory.
    pub fn memory() -> Self {
        Self::new(MemoryBackend::default())
    }

    /// A queue in `pool`'s SQLite database (its tables created if missing).
    #[cfg(feature = "sqlite")]
    pub async fn sqlite(
        pool: crate::pool::Pool<crate::pool::SqliteManager>,
    ) -> Result<Self, QueueError> {
        Ok(Self::new(SqliteBackend::new(pool).await?))
    }

    /// A queue in `pool`'s PostgreSQL database (its tables created if missing).
    #[cfg(feature = "postgres")]
    pub async fn postgres(
        pool: crate::pool::Pool<crate::pool::PostgresManager>,
    ) -> Result<Self, QueueError> {
        Ok(Self::new(PostgresBackend::new(pool).await?))
    }

    pub(crate) fn backend(&self) -> &Arc<dyn QueueBackend> {
        &self.backend
    }

    pub(crate) fn wakeup(&self) -> &Arc<Notify> {
        &self.wake
    }

    /// Counts a dispatcher as running until the returned guard drops.
    pub(crate) fn alive(&self) -> Alive {
        use std::sync::atomic::Ordering::Relaxed;
        self.workers.started.store(true, Relaxed);
        self.workers.alive.fetch_add(1, Relaxed);
        Alive(Arc::clone(&self.workers))
    }

    /// Tells [`wait_idle`](TaskQueue::wait_idle) that a dispatcher ran
    /// out of work.
    pub(crate) fn progressed(&self) {
        self.progress.notify_waiters();
    }

    /// Waits until no task is pending, scheduled or running — the seed's
    /// "wait for the queue to empty" before a stop. Woken by this
    /// process's workers when one runs out of work; bound it with a
    /// timeout when the work may be elsewhere.
    pub async fn wait_idle(&self) -> Result<(), QueueError> {
        loop {
            let finished = self.progress.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            if self.backend.depth().await? == 0 {
                return Ok(());
            }
            // A scheduled task comes due without a wake-up: look again
            // now and then.
            let _ = tokio::time::timeout(Duration::from_secs(1), finished).await;
        }
    }

    /// Enqueues `task` with the default options; its id.
    pub async fn enqueue<T: Task>(&self, task: T) -> Result<TaskId, QueueError> {
        self.enqueue_with(task, TaskOptions::default()).await
    }

    /// Enqueues `task` with `options`; its id (or, with a unique key
    /// already active, that task's id).
    pub async fn enqueue_with<T: Task>(
        &self,
        task: T,
        options: TaskOptions,
    ) -> Result<TaskId, QueueError> {
        let new = NewTask::of(&task, options)?;
        let id = self.backend.enqueue(new).await?;
        self.wake();
        Ok(id)
    }

    /// Enqueues `task` inside `tx`, the caller's SQLite transaction: the
    /// task exists if and only if the transaction commits. Call
    /// [`wake`](TaskQueue::wake) after the commit so that this process's
    /// workers start it at once (others find it at their next poll).
    #[cfg(feature = "sqlite")]
    pub fn enqueue_sqlite<T: Task>(
        &self,
        tx: &rusqlite::Transaction<'_>,
        task: T,
        options: TaskOptions,
    ) -> rusqlite::Result<TaskId> {
        if self.backend.engine() != Some(sql::Engine::Sqlite) {
            return Err(rusqlite::Error::UserFunctionError(Box::new(
                QueueError::Unsupported,
            )));
        }
        let new = NewTask::of(&task, options)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        sql::sqlite_enqueue(tx, &new)
    }

    /// Enqueues `task` inside `tx`, the caller's PostgreSQL transaction:
    /// the task exists if and only if the transaction commits, and the
    /// workers of every instance are woken when it does (`NOTIFY`).
    #[cfg(feature = "postgres")]
    pub async fn enqueue_postgres<T: Task>(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        task: T,
        options: TaskOptions,
    ) -> Result<TaskId, QueueError> {
        if self.backend.engine() != Some(sql::Engine::Postgres) {
            return Err(QueueError::Unsupported);
        }
        let new = NewTask::of(&task, options)?;
        sql::postgres_enqueue(tx, &new)
            .await
            .map_err(|e| QueueError::Backend(Box::new(e)))
    }

    /// Wakes this process's workers: there may be new work.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// The task's record, if it exists (finished records are kept for the
    /// retention period only).
    pub async fn status(&self, id: TaskId) -> Result<Option<TaskRecord>, QueueError> {
        self.backend.status(id).await
    }

    /// Cancels a task that has not finished: a pending or scheduled one
    /// never runs; a running one is stopped at its worker's next
    /// heartbeat. `false` when it had already finished (or never existed).
    pub async fn cancel(&self, id: TaskId) -> Result<bool, QueueError> {
        self.backend.cancel(id).await
    }

    /// Runs a failed task again (a dead letter, retried by hand): it gets
    /// its attempts back. `false` when it is not failed.
    pub async fn retry(&self, id: TaskId) -> Result<bool, QueueError> {
        let retried = self.backend.retry(id).await?;
        if retried {
            self.wake();
        }
        Ok(retried)
    }

    /// Counts by state, over every queue.
    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        self.backend.stats().await
    }

    /// Deletes finished records older than their retention: done and
    /// cancelled ones after `done`, failed ones after `failed`. Workers do
    /// it every minute with their retention settings.
    pub async fn purge(&self, done: Duration, failed: Duration) -> Result<u64, QueueError> {
        let now = now_ms();
        self.backend
            .purge(
                now.saturating_sub(millis(done)),
                now.saturating_sub(millis(failed)),
            )
            .await
    }

    /// A readiness check: the backend answers, and — once workers were
    /// started in this process — at least one of them still runs.
    pub async fn ping(&self) -> Result<(), String> {
        use std::sync::atomic::Ordering::Relaxed;
        self.backend
            .depth()
            .await
            .map_err(|_| "unavailable".to_owned())?;
        if self.workers.started.load(Relaxed) && self.workers.alive.load(Relaxed) == 0 {
            return Err("no workers running".to_owned());
        }
        Ok(())
    }
}
