//! What a queue backend does: the [`QueueBackend`] trait and the values
//! that cross it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{QueueError, QueueStats, Task, TaskId, TaskOptions, TaskRecord, now_ms};

/// A backend's boxed future.
pub type QueueFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, QueueError>> + Send + 'a>>;

/// A task to store.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// [`Task::NAME`].
    pub name: &'static str,
    /// The payload, as JSON text.
    pub payload: String,
    /// How to run it.
    pub options: TaskOptions,
    /// When it was made.
    pub created_at: i64,
    /// The trace of the request (or task run) that enqueued it, as
    /// `traceparent`, then `tracestate` after a line feed.
    pub trace: Option<String>,
}

impl NewTask {
    pub(crate) fn of<T: Task>(task: &T, options: TaskOptions) -> Result<Self, QueueError> {
        Ok(NewTask {
            name: T::NAME,
            payload: serde_json::to_string(task)?,
            options,
            created_at: now_ms(),
            trace: crate::trace::current().map(|trace| trace.to_record()),
        })
    }

    /// When it may first run.
    pub fn run_at(&self) -> i64 {
        self.options.run_at.unwrap_or(self.created_at)
    }

    /// Its queue.
    pub fn queue(&self) -> &str {
        &self.options.queue
    }

    /// Its unique key.
    pub fn unique_key(&self) -> Option<&str> {
        self.options.unique_key.as_deref()
    }

    /// Runs allowed.
    pub fn max_attempts(&self) -> u32 {
        self.options.max_attempts
    }

    /// Its priority (lower first).
    pub fn priority(&self) -> i32 {
        self.options.priority
    }

    /// Its timeout, in milliseconds.
    pub fn timeout_ms(&self) -> i64 {
        super::millis(self.options.timeout)
    }
}

/// A task a worker claimed: what it needs to run it.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The task.
    pub id: TaskId,
    /// Its kind.
    pub name: String,
    /// Its payload, as JSON text.
    pub payload: String,
    /// This run's number, from 1: the fencing token of the claim.
    pub attempt: u32,
    /// Runs allowed.
    pub max_attempts: u32,
    /// The longest this run may take.
    pub timeout: Duration,
    /// The trace of whatever enqueued it ([`NewTask::trace`]).
    pub trace: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done, with the result as JSON text.
    Done(String),
    /// Failed; runs again at `at` (ms since the epoch).
    Retry {
        /// The error.
        error: String,
        /// When.
        at: i64,
    },
    /// Failed for good.
    Failed(String),
}

/// Where tasks live. Every change to a claimed task names the attempt that
/// claimed it, and is ignored when that attempt no longer owns the task
/// (its lease lapsed and another worker took it, or it was cancelled).
pub trait QueueBackend: Send + Sync + 'static {
    /// Stores a task; with a unique key that an unfinished task holds,
    /// returns that task's id instead.
    fn enqueue(&self, task: NewTask) -> QueueFuture<'_, TaskId>;

    /// Claims up to `limit` tasks of `queue` that are due — pending with
    /// their time come, or running with a lapsed lease (their worker
    /// died) — lowest priority, then earliest, first; each gets its next
    /// attempt and a lease of `lease`. A lapsed task with no attempts left
    /// fails instead.
    fn claim<'a>(
        &'a self,
        queue: &'a str,
        limit: usize,
        lease: Duration,
    ) -> QueueFuture<'a, Vec<Claimed>>;

    /// Extends the leases of these claims; the ids among them that the
    /// claim no longer owns (cancelled, or taken by another attempt).
    fn heartbeat<'a>(
        &'a self,
        claims: &'a [(TaskId, u32)],
        lease: Duration,
    ) -> QueueFuture<'a, Vec<TaskId>>;

    /// Records how runs ended, in one go; those whose attempt no longer
    /// owns its task are ignored.
    fn complete<'a>(&'a self, outcomes: &'a [(TaskId, u32, Outcome)]) -> QueueFuture<'a, ()>;

    /// Gives claims back unrun (a worker draining on shutdown): their tasks
    /// are pending again at once, the interrupted attempt still counted.
    fn release<'a>(&'a self, claims: &'a [(TaskId, u32)]) -> QueueFuture<'a, ()>;

    /// A task's record.
    fn status(&self, id: TaskId) -> QueueFuture<'_, Option<TaskRecord>>;

    /// Cancels an unfinished task; whether it was unfinished.
    fn cancel(&self, id: TaskId) -> QueueFuture<'_, bool>;

    /// Makes a failed task pending again with its attempts back; whether
    /// it was failed.
    fn retry(&self, id: TaskId) -> QueueFuture<'_, bool>;

    /// Enqueues `task` for the period starting at `period` unless this
    /// schedule already did (on any instance); its id if this call did.
    fn enqueue_period<'a>(
        &'a self,
        schedule: &'a str,
        period: i64,
        task: NewTask,
    ) -> QueueFuture<'a, Option<TaskId>>;

    /// Counts by state.
    fn stats(&self) -> QueueFuture<'_, QueueStats>;

    /// How many tasks are unfinished (pending, scheduled or running):
    /// [`stats`](QueueBackend::stats)' depth, cheaper where a backend can.
    fn depth(&self) -> QueueFuture<'_, u64> {
        Box::pin(async move { Ok(self.stats().await?.depth()) })
    }

    /// Deletes done and cancelled records finished before `done_before`,
    /// failed ones before `failed_before`; how many.
    fn purge(&self, done_before: i64, failed_before: i64) -> QueueFuture<'_, u64>;

    /// Wakes `wake` when another instance enqueues (PostgreSQL `LISTEN`);
    /// by default nothing does, and workers poll.
    fn subscribe(&self, wake: &std::sync::Arc<tokio::sync::Notify>) {
        let _ = wake;
    }

    /// The database a transactional enqueue must use, for SQL backends.
    fn engine(&self) -> Option<crate::pool::SqlEngine> {
        None
    }
}

/// The wait before attempt `attempt + 1` after attempt `attempt` failed:
/// `first` doubling per attempt, at most an hour, with up to ±25 % jitter
/// (`jitter` in 0..1) so that tasks that failed together do not retry
/// together.
pub(crate) fn backoff(first: Duration, attempt: u32, jitter: f64) -> Duration {
    let base = first.as_secs_f64() * f64::from(1u32 << attempt.saturating_sub(1).min(20));
    let capped = base.min(3600.0);
    Duration::from_secs_f64(capped * (1.0 + 0.25 * (2.0 * jitter - 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let second = Duration::from_secs(1);
        assert_eq!(backoff(second, 1, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(second, 2, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(second, 4, 0.5), Duration::from_secs(8));
        assert_eq!(backoff(second, 40, 0.5), Duration::from_secs(3600));
        assert_eq!(backoff(second, 1, 0.0), Duration::from_millis(750));
        assert_eq!(backoff(second, 1, 1.0), Duration::from_millis(1250));
    }
}
