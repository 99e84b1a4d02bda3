//! The task queue's behaviour, the same on the memory, SQLite and
//! PostgreSQL backends: results, retries with backoff, dead letters,
//! timeouts, panics, cancel, unique keys, delays, periodic tasks enqueued
//! once across two worker pools, retention, fencing, transactional
//! enqueue, graceful drain, and dependencies checked when the app is built.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::postgres::TestPostgres;
use portico::pool::{PoolBuilder, PostgresManager, SqliteManager};
use portico::prelude::*;
use portico::queue::{
    MemoryBackend, Outcome, PostgresBackend, QueueBackend, SqliteBackend, Task, TaskError, TaskId,
    TaskOptions, TaskQueue, TaskStatus, Workers,
};
use portico::{BuildProblem, Service};

/// Counts runs per key, shared with the test.
#[derive(Default, Clone)]
struct Runs(Arc<Mutex<HashMap<String, usize>>>);

impl Runs {
    fn bump(&self, key: &str) -> usize {
        let mut runs = self.0.lock().unwrap();
        let n = runs.entry(key.to_owned()).or_default();
        *n += 1;
        *n
    }

    /// Counts a run of `key` as live until `leave`; keeps the peak.
    fn enter(&self, key: &str) {
        let mut runs = self.0.lock().unwrap();
        let live = runs.entry(format!("{key}:live")).or_default();
        *live += 1;
        let live = *live;
        let peak = runs.entry(format!("{key}:peak")).or_default();
        *peak = (*peak).max(live);
    }

    fn leave(&self, key: &str) {
        *self
            .0
            .lock()
            .unwrap()
            .entry(format!("{key}:live"))
            .or_default() -= 1;
    }

    fn of(&self, key: &str) -> usize {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

/// Doubles `n`; fails its first `fails` runs; sleeps `ms`; panics or
/// fails for good when asked.
#[derive(Serialize, Deserialize, Default)]
struct Job {
    key: String,
    n: u64,
    #[serde(default)]
    fails: usize,
    #[serde(default)]
    ms: u64,
    #[serde(default)]
    panic: bool,
    #[serde(default)]
    permanent: bool,
    /// Counted while it runs, under this name.
    #[serde(default)]
    gauge: Option<String>,
}

impl Task for Job {
    const NAME: &'static str = "job";
    type Deps = Dep<Runs>;
    type Output = u64;

    async fn run(self, runs: Dep<Runs>) -> Result<u64, TaskError> {
        let run = runs.bump(&self.key);
        if let Some(gauge) = &self.gauge {
            runs.enter(gauge);
        }
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        if let Some(gauge) = &self.gauge {
            runs.leave(gauge);
        }
        if self.panic {
            panic!("job {} panics", self.key);
        }
        if self.permanent {
            return Err(TaskError::permanent("no retry can fix this"));
        }
        if run <= self.fails {
            return Err(TaskError::new(format!("run {run} fails")));
        }
        Ok(self.n * 2)
    }
}

fn job(key: &str, n: u64) -> Job {
    Job {
        key: key.into(),
        n,
        ..Job::default()
    }
}

/// A backend under test.
#[derive(Clone)]
struct Backend(Arc<dyn QueueBackend>);

impl Backend {
    fn queue(&self) -> TaskQueue {
        TaskQueue::shared(Arc::clone(&self.0))
    }
}

/// The app: workers on `queue` (named so that behaviours sharing one
/// database never take each other's tasks).
async fn start(queue: &TaskQueue, name: &str, runs: &Runs) -> Service {
    start_with(queue, runs, Workers::new(queue).queue(name, 4)).await
}

async fn start_with(queue: &TaskQueue, runs: &Runs, workers: Workers) -> Service {
    App::new()
        .provide(runs.clone())
        .provide(queue.clone())
        .workers(
            workers
                .task::<Job>()
                .backoff(Duration::from_millis(20))
                .lease(Duration::from_millis(600))
                .poll(Duration::from_millis(50)),
        )
        .build()
        .await
        .expect("the app builds")
}

async fn stop(service: Service) {
    service.shutdown().begin();
    tokio::time::timeout(Duration::from_secs(10), service.shutdown().drained())
        .await
        .expect("the workers drain");
}

fn on(queue: &str) -> TaskOptions {
    TaskOptions::new().queue(queue)
}

/// Waits (bounded) until task `id` is finished.
async fn finished(queue: &TaskQueue, id: TaskId) -> portico::queue::TaskRecord {
    for _ in 0..400 {
        let record = queue.status(id).await.unwrap().expect("the task exists");
        if matches!(
            record.status,
            TaskStatus::Done | TaskStatus::Failed | TaskStatus::Cancelled
        ) {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "task {id} did not finish: {:?}",
        queue.status(id).await.unwrap()
    );
}

async fn results_and_retries(backend: &Backend) {
    let (queue, runs) = (backend.queue(), Runs::default());
    let service = start(&queue, "results", &runs).await;
    let done = queue
        .enqueue_with(job("a", 21), on("results"))
        .await
        .unwrap();
    let flaky = queue
        .enqueue_with(
            Job {
                fails: 2,
                ..job("flaky", 5)
            },
            on("results"),
        )
        .await
        .unwrap();
    let dead = queue
        .enqueue_with(
            Job {
                fails: 9,
                ..job("dead", 1)
            },
            on("results").max_attempts(2),
        )
        .await
        .unwrap();
    let permanent = queue
        .enqueue_with(
            Job {
                permanent: true,
                ..job("permanent", 1)
            },
            on("results"),
        )
        .await
        .unwrap();

    let record = finished(&queue, done).await;
    assert_eq!(
        (record.status, record.attempts),
        (TaskStatus::Done, 1),
        "{record:?}"
    );
    assert_eq!(record.result, Some(serde_json::json!(42)));
    assert_eq!(record.name, "job");
    assert!(record.started_at.is_some() && record.finished_at.is_some());

    let record = finished(&queue, flaky).await;
    assert_eq!(
        (record.status, record.attempts),
        (TaskStatus::Done, 3),
        "{record:?}"
    );
    assert_eq!(runs.of("flaky"), 3);

    let record = finished(&queue, dead).await;
    assert_eq!((record.status, record.attempts), (TaskStatus::Failed, 2));
    assert_eq!(record.error.as_deref(), Some("run 2 fails"));

    let record = finished(&queue, permanent).await;
    assert_eq!((record.status, record.attempts), (TaskStatus::Failed, 1));

    // A dead letter retried by hand gets its attempts back.
    assert!(queue.retry(dead).await.unwrap());
    assert!(
        !queue.retry(done).await.unwrap(),
        "only failed tasks are retried"
    );
    let record = finished(&queue, dead).await;
    assert_eq!(
        record.status,
        TaskStatus::Failed,
        "it still fails: {record:?}"
    );
    assert_eq!(record.attempts, 4);
    stop(service).await;
}

async fn timeouts_and_panics(backend: &Backend) {
    let (queue, runs) = (backend.queue(), Runs::default());
    let service = start(&queue, "faults", &runs).await;
    let slow = queue
        .enqueue_with(
            Job {
                ms: 5_000,
                ..job("slow", 1)
            },
            on("faults")
                .timeout(Duration::from_millis(100))
                .max_attempts(2),
        )
        .await
        .unwrap();
    let boom = queue
        .enqueue_with(
            Job {
                panic: true,
                ..job("boom", 1)
            },
            on("faults").max_attempts(1),
        )
        .await
        .unwrap();
    let record = finished(&queue, slow).await;
    assert_eq!((record.status, record.attempts), (TaskStatus::Failed, 2));
    assert!(record.error.unwrap().contains("timeout"));
    let record = finished(&queue, boom).await;
    assert_eq!(record.status, TaskStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("it panicked"));
    // The workers live on.
    let after = queue
        .enqueue_with(job("after", 4), on("faults"))
        .await
        .unwrap();
    assert_eq!(
        finished(&queue, after).await.result,
        Some(serde_json::json!(8))
    );
    stop(service).await;
}

async fn cancel_unique_and_delay(backend: &Backend) {
    let (queue, runs) = (backend.queue(), Runs::default());
    let service = start(&queue, "later", &runs).await;
    let far = queue
        .enqueue_with(job("far", 1), on("later").delay(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(
        queue.status(far).await.unwrap().unwrap().status,
        TaskStatus::Scheduled
    );
    assert!(queue.cancel(far).await.unwrap());
    assert!(!queue.cancel(far).await.unwrap(), "already finished");
    assert_eq!(finished(&queue, far).await.status, TaskStatus::Cancelled);

    let once = on("later")
        .unique_key("welcome:42")
        .delay(Duration::from_millis(300));
    let first = queue
        .enqueue_with(job("unique", 1), once.clone())
        .await
        .unwrap();
    let second = queue.enqueue_with(job("unique", 1), once).await.unwrap();
    assert_eq!(
        first, second,
        "an active unique key returns the existing task"
    );

    let record = finished(&queue, first).await;
    assert_eq!(record.status, TaskStatus::Done);
    assert!(
        record.started_at.unwrap() >= record.run_at,
        "it waited for its time"
    );
    assert_eq!(runs.of("unique"), 1);
    assert_eq!(runs.of("far"), 0, "a cancelled task never runs");
    // Finished, the key is free again.
    let third = queue
        .enqueue_with(job("unique", 1), on("later").unique_key("welcome:42"))
        .await
        .unwrap();
    assert_ne!(third, first);
    finished(&queue, third).await;
    stop(service).await;
}

async fn periodic_once_across_two_pools(backend: &Backend) {
    let (queue, runs) = (backend.queue(), Runs::default());
    let every = Duration::from_millis(300);
    let pool = || {
        Workers::new(&queue)
            .queue("default", 2)
            .every("tick", every, || job("tick", 1))
            .cron("each-second", "* * * * * *", || job("cron", 1))
            .expect("a cron expression")
    };
    let epoch_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    };
    let begin = epoch_ms();
    let (one, two) = (
        start_with(&queue, &runs, pool()).await,
        start_with(&queue, &runs, pool()).await,
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stop(one).await;
    stop(two).await;
    // Periods are aligned to the epoch, as the schedule aligns them.
    let spanned = (epoch_ms() / every.as_millis() - begin / every.as_millis() + 1) as usize;
    let ticks = runs.of("tick");
    assert!(
        ticks <= spanned && ticks + 2 >= spanned,
        "{ticks} runs over {spanned} periods: each period is enqueued once by the two pools"
    );
    // The cron schedule fires on whole seconds after the pools start.
    let seconds = (epoch_ms() / 1000 - begin / 1000) as usize;
    let fired = runs.of("cron");
    assert!(
        fired <= seconds && fired + 2 >= seconds,
        "{fired} cron runs over {seconds} second boundaries"
    );
}

async fn fencing(backend: &Backend) {
    let queue = backend.queue();
    let id = queue
        .enqueue_with(job("fenced", 1), on("fence"))
        .await
        .unwrap();
    let lease = Duration::from_millis(50);
    let first = backend.0.claim("fence", 1, lease).await.unwrap();
    assert_eq!((first[0].id, first[0].attempt), (id, 1));
    tokio::time::sleep(Duration::from_millis(120)).await;
    // The first worker "died": its lease lapsed, the task is claimed again.
    let second = backend
        .0
        .claim("fence", 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!((second[0].id, second[0].attempt), (id, 2));
    // The stale worker's late completion, heartbeat and release change nothing.
    backend
        .0
        .complete(&[(id, 1, Outcome::Done("111".into()))])
        .await
        .unwrap();
    assert_eq!(
        backend.0.heartbeat(&[(id, 1)], lease).await.unwrap(),
        vec![id]
    );
    backend.0.release(&[(id, 1)]).await.unwrap();
    let record = queue.status(id).await.unwrap().unwrap();
    assert_eq!(
        (record.status, record.attempts, record.result),
        (TaskStatus::Running, 2, None)
    );
    backend
        .0
        .complete(&[(id, 2, Outcome::Done("2".into()))])
        .await
        .unwrap();
    let record = queue.status(id).await.unwrap().unwrap();
    assert_eq!(
        (record.status, record.result),
        (TaskStatus::Done, Some(serde_json::json!(2)))
    );
    // A lapsed last attempt fails the task rather than running it again.
    let last = queue
        .enqueue_with(job("last", 1), on("fence").max_attempts(1))
        .await
        .unwrap();
    backend.0.claim("fence", 1, lease).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(backend.0.claim("fence", 1, lease).await.unwrap().is_empty());
    let record = queue.status(last).await.unwrap().unwrap();
    assert_eq!((record.status, record.attempts), (TaskStatus::Failed, 1));
}

async fn drain_and_retention(backend: &Backend) {
    let (queue, runs) = (backend.queue(), Runs::default());
    // Shutdown lets a running task finish within the grace period…
    let service = start(&queue, "drain", &runs).await;
    let running = queue
        .enqueue_with(
            Job {
                ms: 300,
                ..job("draining", 3)
            },
            on("drain"),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop(service).await;
    assert_eq!(
        queue.status(running).await.unwrap().unwrap().status,
        TaskStatus::Done
    );
    // …and gives back what outlives it: pending again, the attempt counted.
    let service = start_with(
        &queue,
        &runs,
        Workers::new(&queue)
            .queue("drain", 1)
            .grace(Duration::from_millis(100)),
    )
    .await;
    let cut = queue
        .enqueue_with(
            Job {
                ms: 10_000,
                ..job("cut", 3)
            },
            on("drain"),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop(service).await;
    let record = queue.status(cut).await.unwrap().unwrap();
    assert_eq!((record.status, record.attempts), (TaskStatus::Pending, 1));
    assert!(queue.cancel(cut).await.unwrap());

    // Retention: records younger than it stay; older ones go.
    let hour = Duration::from_secs(3600);
    assert_eq!(queue.purge(hour, hour).await.unwrap(), 0);
    assert!(queue.status(running).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(20)).await;
    let purged = queue.purge(Duration::ZERO, Duration::ZERO).await.unwrap();
    assert!(purged >= 2, "{purged}");
    assert_eq!(queue.status(running).await.unwrap(), None);
    assert_eq!(queue.status(cut).await.unwrap(), None);
}

async fn each_queue_keeps_its_own_concurrency(backend: &Backend) {
    let (queue, runs) = (backend.queue(), Runs::default());
    let workers = Workers::new(&queue).queue("narrow", 1).queue("wide", 3);
    let service = start_with(&queue, &runs, workers).await;
    let mut ids = Vec::new();
    for (name, n) in [("narrow", 3), ("wide", 6)] {
        for i in 0..n {
            let task = Job {
                ms: 150,
                gauge: Some(name.to_owned()),
                ..job(&format!("{name}-{i}"), 1)
            };
            ids.push(queue.enqueue_with(task, on(name)).await.unwrap());
        }
    }
    for id in ids {
        assert_eq!(finished(&queue, id).await.status, TaskStatus::Done);
    }
    stop(service).await;
    assert_eq!(
        runs.of("narrow:peak"),
        1,
        "one at a time on the narrow queue"
    );
    assert_eq!(runs.of("wide:peak"), 3, "three at a time on the wide one");
}

async fn behaves(backend: Backend) {
    results_and_retries(&backend).await;
    each_queue_keeps_its_own_concurrency(&backend).await;
    timeouts_and_panics(&backend).await;
    cancel_unique_and_delay(&backend).await;
    fencing(&backend).await;
    drain_and_retention(&backend).await;
    periodic_once_across_two_pools(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_backend_behaves() {
    behaves(Backend(Arc::new(MemoryBackend::default()))).await;
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("portico-queue-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("tasks.db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_backend_behaves() {
    let pool = PoolBuilder::new()
        .max_size(4)
        .build(SqliteManager::file(temp_db("behaves")))
        .await
        .unwrap();
    behaves(Backend(Arc::new(SqliteBackend::new(pool).await.unwrap()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_backend_behaves() {
    let server = TestPostgres::start();
    let pool = PoolBuilder::new()
        .max_size(8)
        .build(PostgresManager::new(server.url()))
        .await
        .unwrap();
    behaves(Backend(Arc::new(PostgresBackend::new(pool).await.unwrap()))).await;
}

#[tokio::test]
async fn a_task_needing_what_nothing_provides_fails_the_build() {
    let queue = TaskQueue::memory();
    let err = App::new()
        .workers(Workers::new(&queue).task::<Job>())
        .build()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("task job") && text.contains("Runs"), "{text}");
    assert!(matches!(err.problems()[0], BuildProblem::Inject(_)));
}

#[tokio::test]
async fn enqueue_in_a_sqlite_transaction_commits_or_vanishes_with_it() {
    let pool = PoolBuilder::new()
        .build(SqliteManager::file(temp_db("tx")))
        .await
        .unwrap();
    let queue = TaskQueue::sqlite(pool.clone()).await.unwrap();
    let (q1, q2) = (queue.clone(), queue.clone());
    let mut conn = pool.get().await.unwrap();
    let (kept, dropped) = conn
        .call(move |c| {
            let tx = c.transaction()?;
            let kept = q1.enqueue_sqlite(&tx, job("kept", 1), TaskOptions::new())?;
            tx.commit()?;
            let tx = c.transaction()?;
            let dropped = q2.enqueue_sqlite(&tx, job("dropped", 1), TaskOptions::new())?;
            tx.rollback()?;
            Ok((kept, dropped))
        })
        .await
        .unwrap();
    assert!(queue.status(kept).await.unwrap().is_some());
    assert_eq!(
        queue.status(dropped).await.unwrap(),
        None,
        "rolled back with its transaction"
    );
    // The memory backend has no transaction to join.
    let memory = TaskQueue::memory();
    let refused = conn
        .call(move |c| {
            let tx = c.transaction()?;
            memory.enqueue_sqlite(&tx, job("x", 1), TaskOptions::new())
        })
        .await;
    assert!(refused.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_in_a_postgres_transaction_commits_or_vanishes_with_it() {
    let server = TestPostgres::start();
    let pool = PoolBuilder::new()
        .build(PostgresManager::new(server.url()))
        .await
        .unwrap();
    let queue = TaskQueue::postgres(pool.clone()).await.unwrap();
    let mut conn = pool.get().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    let kept = queue
        .enqueue_postgres(&tx, job("kept", 1), TaskOptions::new())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    let dropped = queue
        .enqueue_postgres(&tx, job("dropped", 1), TaskOptions::new())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(queue.status(kept).await.unwrap().is_some());
    assert_eq!(queue.status(dropped).await.unwrap(), None);

    // NOTIFY at commit wakes another instance's idle workers before they poll.
    let other = TaskQueue::postgres(pool.clone()).await.unwrap();
    let runs = Runs::default();
    let service = start_with(
        &other,
        &runs,
        Workers::new(&other)
            .queue("notified", 1)
            .poll(Duration::from_secs(3600)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = queue
        .enqueue_with(job("notified", 2), on("notified"))
        .await
        .unwrap();
    let record = tokio::time::timeout(Duration::from_secs(5), finished(&queue, id)).await;
    assert_eq!(
        record.expect("woken by NOTIFY, not by a poll").status,
        TaskStatus::Done
    );
    stop(service).await;
}

#[test]
fn a_bad_cron_expression_is_an_error_naming_it() {
    let queue = TaskQueue::memory();
    let err = Workers::new(&queue)
        .cron("nightly", "at midnight", || job("x", 1))
        .expect_err("refused");
    assert!(
        err.to_string().contains("nightly") && err.to_string().contains("at midnight"),
        "{err}"
    );
}

#[tokio::test]
async fn readiness_fails_once_the_workers_are_gone() {
    let (queue, runs) = (TaskQueue::memory(), Runs::default());
    assert_eq!(
        queue.ping().await,
        Ok(()),
        "no workers started here: the backend alone"
    );
    let service = start(&queue, "ready", &runs).await;
    assert_eq!(queue.ping().await, Ok(()));
    stop(service).await;
    assert_eq!(queue.ping().await, Err("no workers running".to_owned()));
}
