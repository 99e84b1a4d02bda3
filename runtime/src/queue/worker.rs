//! Workers: claim tasks, run them with their dependencies, renew their
//! leases, record how they ended, enqueue periodic tasks, and drain on
//! shutdown.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::backend::{Claimed, NewTask, Outcome, backoff};
use super::{QueueError, Task, TaskError, TaskId, TaskOptions, TaskQueue, now_ms};
use crate::inject::{Inject, Needs, Scope, Slot};
use crate::shutdown::{Hold, Shutdown};
use crate::trace::Trace;
use tracing::Instrument;

type RunFuture = Pin<Box<dyn std::future::Future<Output = Result<String, TaskError>> + Send>>;
type RunFn = fn(String, Arc<[Slot]>) -> RunFuture;

/// The task kinds by name, with their resolved dependencies.
type Kinds = HashMap<&'static str, (RunFn, Arc<[Slot]>), foldhash::fast::RandomState>;

/// A task kind the workers can run: its name, its dependencies, and its
/// code with the payload decoded.
#[derive(Clone)]
pub(crate) struct Registration {
    pub(crate) name: &'static str,
    pub(crate) declare: fn(&mut Needs),
    run: RunFn,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

fn run_task<T: Task>(payload: String, slots: Arc<[Slot]>) -> RunFuture {
    Box::pin(async move {
        let task: T = serde_json::from_str(&payload).map_err(|e| {
            TaskError::permanent(format!("its payload does not decode as `{}`: {e}", T::NAME))
        })?;
        let deps = {
            let mut next = 0;
            T::Deps::resolve(&mut Scope::new(&slots, &[], &mut next))
        };
        let output = task.run(deps).await?;
        serde_json::to_string(&output)
            .map_err(|e| TaskError::permanent(format!("its result does not serialise: {e}")))
    })
}

/// A task enqueued once per period.
#[derive(Clone)]
struct Schedule {
    name: String,
    cadence: Cadence,
    make: Arc<dyn Fn() -> Result<NewTask, QueueError> + Send + Sync>,
}

/// When a schedule fires.
#[derive(Clone)]
enum Cadence {
    /// Every period of this length, aligned to the Unix epoch.
    Every(Duration),
    /// At the times of a cron expression (UTC).
    Cron(Box<cron::Schedule>),
}

/// A cron expression that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("schedule `{name}`: `{expression}` is not a cron expression: {reason}")]
pub struct CronError {
    name: String,
    expression: String,
    reason: String,
}

/// The workers of a [`TaskQueue`]: which tasks they run, on which queues,
/// how many at once. Add them with `App::workers`; they start when the app
/// is built and drain when it shuts down.
///
/// ```
/// use std::time::Duration;
/// use portico_runtime::queue::{Task, TaskError, TaskQueue, Workers};
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Double(u64);
/// # impl Task for Double {
/// #     const NAME: &'static str = "double";
/// #     type Deps = ();
/// #     type Output = u64;
/// #     async fn run(self, (): ()) -> Result<u64, TaskError> { Ok(self.0 * 2) }
/// # }
///
/// let queue = TaskQueue::memory();
/// let workers = Workers::new(&queue)
///     .task::<Double>()
///     .queue("default", 4)                 // four at once
///     .queue("emails", 1)                  // one at a time
///     .every("nightly-double", Duration::from_secs(86_400), || Double(21));
/// # let _ = workers;
/// ```
#[derive(Clone)]
pub struct Workers {
    queue: TaskQueue,
    pub(crate) tasks: Vec<Registration>,
    queues: Vec<(String, usize)>,
    schedules: Vec<Schedule>,
    lease: Duration,
    poll: Duration,
    grace: Duration,
    batch: usize,
    backoff: Duration,
    keep_done: Duration,
    keep_failed: Duration,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("tasks", &self.tasks)
            .field("queues", &self.queues)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Workers {
    /// Workers of `queue`, running no task kind yet, on queue `default`
    /// with 4 at once unless [`queue`](Workers::queue) says otherwise.
    pub fn new(queue: &TaskQueue) -> Self {
        Workers {
            queue: queue.clone(),
            tasks: Vec::new(),
            queues: Vec::new(),
            schedules: Vec::new(),
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            grace: Duration::from_secs(30),
            batch: 64,
            backoff: Duration::from_secs(1),
            keep_done: Duration::from_secs(24 * 3600),
            keep_failed: Duration::from_secs(7 * 24 * 3600),
        }
    }

    /// Runs tasks of kind `T`.
    pub fn task<T: Task>(mut self) -> Self {
        self.tasks.push(Registration {
            name: T::NAME,
            declare: <T::Deps as Inject>::declare,
            run: run_task::<T>,
        });
        self
    }

    /// Works on the named queue, `concurrency` tasks at once.
    pub fn queue(mut self, name: impl Into<String>, concurrency: usize) -> Self {
        self.queues.push((name.into(), concurrency.max(1)));
        self
    }

    /// Enqueues `make()` once every `every` (periods aligned to the Unix
    /// epoch), on whichever instance gets there first: a period is
    /// enqueued once however many instances share the backend. Periodic
    /// tasks go to the `default` queue.
    pub fn every<T: Task>(
        mut self,
        name: impl Into<String>,
        every: Duration,
        make: impl Fn() -> T + Send + Sync + 'static,
    ) -> Self {
        self.schedules.push(Schedule {
            name: name.into(),
            cadence: Cadence::Every(every.max(Duration::from_millis(1))),
            make: Arc::new(move || NewTask::of(&make(), TaskOptions::default())),
        });
        self
    }

    /// Enqueues `make()` at the times of a cron `expression` — seconds,
    /// minutes, hours, day of month, month, day of week and an optional
    /// year, in UTC: `"0 30 9 * * Mon-Fri"` is 09:30 on weekdays — once
    /// per time however many instances share the backend. A time missed
    /// while no instance ran is not made up for.
    pub fn cron<T: Task>(
        mut self,
        name: impl Into<String>,
        expression: &str,
        make: impl Fn() -> T + Send + Sync + 'static,
    ) -> Result<Self, CronError> {
        let name = name.into();
        let schedule = expression
            .parse::<cron::Schedule>()
            .map_err(|e| CronError {
                name: name.clone(),
                expression: expression.to_owned(),
                reason: e.to_string(),
            })?;
        self.schedules.push(Schedule {
            name,
            cadence: Cadence::Cron(Box::new(schedule)),
            make: Arc::new(move || NewTask::of(&make(), TaskOptions::default())),
        });
        Ok(self)
    }

    /// How long a claim holds a task without a heartbeat (default 30 s;
    /// renewed every third of it): after a crash, the task runs again
    /// within this time.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// How often idle workers look for work that no wake-up announced
    /// (another instance's, a delayed task coming due). Default 1 s.
    pub fn poll(mut self, every: Duration) -> Self {
        self.poll = every.max(Duration::from_millis(1));
        self
    }

    /// How long running tasks may finish after shutdown begins (default
    /// 30 s); what is still running then is stopped and given back.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The most tasks one claim takes (default 64).
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The wait before the second attempt of a failed task (default 1 s),
    /// doubling for each attempt after, at most an hour, ±25 % jitter.
    pub fn backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    /// How long finished records are kept: done and cancelled ones
    /// (default 24 h), failed ones (default 7 days).
    pub fn retention(mut self, done: Duration, failed: Duration) -> Self {
        self.keep_done = done;
        self.keep_failed = failed;
        self
    }

    /// Starts the workers with each task kind's resolved dependencies.
    pub(crate) fn start(self, slots: HashMap<&'static str, Arc<[Slot]>>, shutdown: &Shutdown) {
        let kinds: Kinds = self
            .tasks
            .iter()
            .map(|r| {
                (
                    r.name,
                    (
                        r.run,
                        slots.get(r.name).cloned().unwrap_or_else(|| Arc::from([])),
                    ),
                )
            })
            .collect();
        let queues = if self.queues.is_empty() {
            vec![("default".to_owned(), 4)]
        } else {
            self.queues.clone()
        };
        let shared = Arc::new(Shared {
            queue: self.queue.clone(),
            kinds,
            lease: self.lease,
            poll: self.poll,
            grace: self.grace,
            batch: self.batch,
            backoff: self.backoff,
            shutdown: shutdown.clone(),
        });
        for (i, (name, concurrency)) in queues.into_iter().enumerate() {
            let upkeep = (i == 0).then(|| Upkeep {
                schedules: self.schedules.clone(),
                keep_done: self.keep_done,
                keep_failed: self.keep_failed,
            });
            let dispatcher =
                Dispatcher::new(Arc::clone(&shared), name, concurrency, shutdown.hold());
            tokio::spawn(dispatcher.run(upkeep));
        }
    }
}

struct Shared {
    queue: TaskQueue,
    kinds: Kinds,
    lease: Duration,
    poll: Duration,
    grace: Duration,
    batch: usize,
    backoff: Duration,
    shutdown: Shutdown,
}

/// What one dispatcher per `Workers` does besides running tasks.
struct Upkeep {
    schedules: Vec<Schedule>,
    keep_done: Duration,
    keep_failed: Duration,
}

/// A claim being run.
struct Claim {
    id: TaskId,
    attempt: u32,
    max_attempts: u32,
    handle: tokio::task::AbortHandle,
    started: std::time::Instant,
}

/// Runs one queue: claims, runs, heartbeats, completes, drains.
struct Dispatcher {
    shared: Arc<Shared>,
    queue: String,
    concurrency: usize,
    running: JoinSet<(TaskId, u32, Outcome)>,
    /// The claims running, by their tokio task.
    claims: HashMap<tokio::task::Id, Claim>,
    finished: Vec<(TaskId, u32, Outcome)>,
    _alive: super::Alive,
    _hold: Hold,
}

impl Dispatcher {
    fn new(shared: Arc<Shared>, queue: String, concurrency: usize, hold: Hold) -> Self {
        Dispatcher {
            _alive: shared.queue.alive(),
            shared,
            queue,
            concurrency,
            running: JoinSet::new(),
            claims: HashMap::new(),
            finished: Vec::new(),
            _hold: hold,
        }
    }

    async fn run(mut self, mut upkeep: Option<Upkeep>) {
        let shared = Arc::clone(&self.shared);
        let backend = Arc::clone(shared.queue.backend());
        let beat = shared.lease / 3;
        let mut next_beat = tokio::time::Instant::now() + beat;
        let mut upkeep_tick = tokio::time::interval(Duration::from_millis(250));
        upkeep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_purge = tokio::time::Instant::now();
        let mut periods: HashMap<String, i64> = HashMap::new();
        let mut stopping: Option<tokio::time::Instant> = None;
        loop {
            // Listening before claiming: an enqueue between the claim and
            // the wait below still wakes this loop.
            let wake = shared.queue.wakeup().notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            self.flush().await;
            let mut more = false;
            if stopping.is_none() {
                let free = self.concurrency - self.running.len();
                if free > 0 {
                    let want = free.min(shared.batch);
                    match backend.claim(&self.queue, want, shared.lease).await {
                        Ok(claimed) => {
                            more = claimed.len() == want;
                            if claimed.is_empty()
                                && self.running.is_empty()
                                && self.finished.is_empty()
                            {
                                // Nothing left here: the moment `wait_idle`
                                // waits for (it looks at every queue).
                                shared.queue.progressed();
                            }
                            for claim in claimed {
                                self.start_run(claim).await;
                            }
                        }
                        Err(error) => {
                            tracing::warn!(queue = %self.queue, error = %error, "claiming tasks failed; retrying");
                        }
                    }
                }
            } else if self.running.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= next_beat {
                self.heartbeat().await;
                next_beat = tokio::time::Instant::now() + beat;
            }
            if more && stopping.is_none() && !shared.shutdown.has_begun() {
                // A full batch: more work is likely waiting. Collect what
                // finished and claim again at once, letting other tasks
                // run first (no timer: a zero sleep still waits for the
                // timer wheel's next turn).
                while let Some(joined) = self.running.try_join_next_with_id() {
                    self.joined(joined);
                }
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                biased;
                () = shared.shutdown.wait(), if stopping.is_none() => {
                    stopping = Some(tokio::time::Instant::now() + shared.grace);
                }
                Some(joined) = self.running.join_next_with_id(), if !self.running.is_empty() => {
                    self.joined(joined);
                    while let Some(joined) = self.running.try_join_next_with_id() {
                        self.joined(joined);
                    }
                }
                () = tokio::time::sleep_until(next_beat) => {
                    self.heartbeat().await;
                    next_beat = tokio::time::Instant::now() + beat;
                }
                _ = upkeep_tick.tick(), if upkeep.is_some() && stopping.is_none() => {
                    if let Some(upkeep) = &mut upkeep {
                        upkeep.periodic(&shared, &mut periods).await;
                        if tokio::time::Instant::now() >= next_purge {
                            next_purge = tokio::time::Instant::now() + Duration::from_secs(60);
                            if let Err(error) = shared.queue.purge(upkeep.keep_done, upkeep.keep_failed).await {
                                tracing::warn!(error = %error, "purging finished tasks failed");
                            }
                        }
                    }
                }
                () = &mut wake, if stopping.is_none() => {}
                () = tokio::time::sleep(shared.poll), if stopping.is_none() => {}
                () = sleep_until(stopping), if stopping.is_some() => {
                    tracing::warn!(queue = %self.queue, running = self.running.len(),
                        "grace period over; stopping the tasks still running and giving them back");
                    self.running.abort_all();
                    while let Some(joined) = self.running.join_next_with_id().await {
                        self.joined(joined);
                    }
                    break;
                }
            }
        }
        self.flush().await;
        let left: Vec<(TaskId, u32)> = self.claims.values().map(|c| (c.id, c.attempt)).collect();
        if !left.is_empty()
            && let Err(error) = backend.release(&left).await
        {
            tracing::warn!(error = %error, "giving back unfinished tasks failed; their leases will lapse");
        }
    }

    /// Runs a claimed task: polled once here, where a task that does not
    /// wait (most quick ones) finishes with no task spawned, no thread
    /// woken and no timer set; one that waits moves, as it stands, into a
    /// task of its own under its timeout, so that it runs beside the
    /// others and a panic ends only it.
    async fn start_run(&mut self, claim: Claimed) {
        let Claimed {
            id,
            name,
            payload,
            attempt,
            max_attempts,
            timeout,
            trace,
        } = claim;
        let backoff = self.shared.backoff;
        let Some((run, slots)) = self.shared.kinds.get(name.as_str()).cloned() else {
            let unknown = TaskError::new(format!(
                "no worker here runs tasks named `{}`",
                crate::text::untrusted(&name)
            ));
            let outcome = settle(id, attempt, max_attempts, backoff, Err(unknown));
            self.shared.queue.runs.ran(&outcome, Duration::ZERO);
            self.finished.push((id, attempt, outcome));
            return;
        };
        let started = std::time::Instant::now();
        // The run continues the trace of whatever enqueued the task (a new
        // one when nothing did): its logs carry the trace id, and what it
        // enqueues continues the trace again.
        let trace = trace
            .as_deref()
            .and_then(Trace::from_record)
            .unwrap_or_else(Trace::root);
        let (trace_id, span_id, parent_id) = trace.fields();
        let span = tracing::info_span!(
            target: "portico::task",
            "task",
            task = %id,
            name = %name,
            attempt,
            trace_id = %trace_id,
            span_id = %span_id,
            parent_id = parent_id.map(tracing::field::display),
        );
        let mut running: RunFuture =
            Box::pin(crate::trace::scope(trace, run(payload, slots)).instrument(span));
        let first = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                || running.as_mut().poll(cx),
            )))
        })
        .await;
        let result = match first {
            Ok(std::task::Poll::Ready(result)) => result,
            Ok(std::task::Poll::Pending) => {
                // Polled again by its own task, it registers that task's
                // waker: a wake-up meanwhile reaches this loop, harmlessly.
                let runs = Arc::clone(&self.shared.queue.runs);
                let handle = self.running.spawn(async move {
                    let result = match tokio::time::timeout(timeout, running).await {
                        Ok(result) => result,
                        Err(_) => Err(TaskError::new(format!(
                            "it ran longer than its timeout of {} ms",
                            timeout.as_millis()
                        ))),
                    };
                    let outcome = settle(id, attempt, max_attempts, backoff, result);
                    runs.ran(&outcome, started.elapsed());
                    (id, attempt, outcome)
                });
                self.claims.insert(
                    handle.id(),
                    Claim {
                        id,
                        attempt,
                        max_attempts,
                        handle,
                        started,
                    },
                );
                return;
            }
            Err(_) => {
                tracing::error!(task = %id, attempt, "task panicked");
                Err(TaskError::new("it panicked"))
            }
        };
        let outcome = settle(id, attempt, max_attempts, backoff, result);
        self.shared.queue.runs.ran(&outcome, started.elapsed());
        self.finished.push((id, attempt, outcome));
    }

    fn joined(
        &mut self,
        joined: Result<(tokio::task::Id, (TaskId, u32, Outcome)), tokio::task::JoinError>,
    ) {
        match joined {
            Ok((task, outcome)) => {
                self.claims.remove(&task);
                self.finished.push(outcome);
            }
            // Cancelled: a lost claim (already forgotten) or one the grace
            // period stopped (kept, to be given back).
            Err(error) if !error.is_panic() => {}
            Err(error) => {
                let Some(claim) = self.claims.remove(&error.id()) else {
                    return;
                };
                tracing::error!(task = %claim.id, attempt = claim.attempt, "task panicked");
                let outcome = settle(
                    claim.id,
                    claim.attempt,
                    claim.max_attempts,
                    self.shared.backoff,
                    Err(TaskError::new("it panicked")),
                );
                self.shared
                    .queue
                    .runs
                    .ran(&outcome, claim.started.elapsed());
                self.finished.push((claim.id, claim.attempt, outcome));
            }
        }
    }

    /// Records finished runs in one go.
    async fn flush(&mut self) {
        if self.finished.is_empty() {
            return;
        }
        match self.shared.queue.backend().complete(&self.finished).await {
            Ok(()) => self.finished.clear(),
            Err(error) => {
                // Kept for the next round; the leases lapse meanwhile at
                // worst, and then the tasks run again (at least once).
                tracing::warn!(error = %error, "recording finished tasks failed; retrying");
                tokio::time::sleep(self.shared.poll).await;
            }
        }
    }

    /// Renews the leases of the running claims; stops those lost.
    async fn heartbeat(&mut self) {
        if self.claims.is_empty() {
            return;
        }
        let held: Vec<(TaskId, u32)> = self.claims.values().map(|c| (c.id, c.attempt)).collect();
        match self
            .shared
            .queue
            .backend()
            .heartbeat(&held, self.shared.lease)
            .await
        {
            Ok(lost) => {
                // Cancelled, or taken over after a lapsed lease: stop the
                // run and forget the claim.
                self.claims.retain(|_, claim| {
                    let keep = !lost.contains(&claim.id);
                    if !keep {
                        claim.handle.abort();
                    }
                    keep
                });
            }
            Err(error) => tracing::warn!(error = %error, "renewing task leases failed"),
        }
    }
}

impl Upkeep {
    /// Enqueues each schedule's current period, once.
    async fn periodic(&self, shared: &Shared, done: &mut HashMap<String, i64>) {
        let now = now_ms();
        for schedule in &self.schedules {
            // Every: the last period enqueued here; cron: the last time
            // looked at (fire times after it are due).
            let seen = done.get(&schedule.name).copied();
            let Some(period) = schedule.cadence.due(now, seen) else {
                done.insert(schedule.name.clone(), now);
                continue;
            };
            if matches!(schedule.cadence, Cadence::Every(_)) && seen == Some(period) {
                continue;
            }
            let task = match (schedule.make)() {
                Ok(task) => task,
                Err(error) => {
                    tracing::error!(schedule = %schedule.name, error = %error, "a periodic task does not serialise");
                    continue;
                }
            };
            match shared
                .queue
                .backend()
                .enqueue_period(&schedule.name, period, task)
                .await
            {
                Ok(enqueued) => {
                    let seen = match schedule.cadence {
                        Cadence::Every(_) => period,
                        Cadence::Cron(_) => now,
                    };
                    done.insert(schedule.name.clone(), seen);
                    if enqueued.is_some() {
                        shared.queue.wake();
                    }
                }
                Err(error) => {
                    tracing::warn!(schedule = %schedule.name, error = %error, "enqueueing a periodic task failed")
                }
            }
        }
    }
}

impl Cadence {
    /// The period due at `now` (its start, ms since the epoch): for a
    /// fixed period the current one; for cron the latest fire time after
    /// `seen` (the last time looked at; the first look starts now), if any.
    fn due(&self, now: i64, seen: Option<i64>) -> Option<i64> {
        match self {
            Cadence::Every(every) => {
                let every = super::millis(*every).max(1);
                Some(now - now.rem_euclid(every))
            }
            Cadence::Cron(schedule) => {
                let from = chrono::DateTime::from_timestamp_millis(seen.unwrap_or(now))?;
                schedule
                    .after(&from)
                    .map(|t| t.timestamp_millis())
                    .take_while(|t| *t <= now)
                    .last()
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// How a run that returned `result` ends: done, retried after a backoff,
/// or failed.
fn settle(
    id: TaskId,
    attempt: u32,
    max_attempts: u32,
    first: Duration,
    result: Result<String, TaskError>,
) -> Outcome {
    match result {
        Ok(output) => Outcome::Done(output),
        Err(error) if error.is_permanent() || attempt >= max_attempts => {
            Outcome::Failed(error.message().to_owned())
        }
        Err(error) => {
            let jitter =
                foldhash::fast::FixedState::with_seed(now_ms() as u64).hash_one((id, attempt));
            let jitter = (jitter >> 11) as f64 / (1u64 << 53) as f64;
            Outcome::Retry {
                error: error.message().to_owned(),
                at: now_ms().saturating_add(super::millis(backoff(first, attempt, jitter))),
            }
        }
    }
}
