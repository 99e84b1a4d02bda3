//! Task queue throughput on this machine: no-op tasks, enqueue → done.
//!
//! ```text
//! cargo run --release -p portico-bench --bin queue_throughput -- memory 50000
//! cargo run --release -p portico-bench --bin queue_throughput -- sqlite 20000
//! PORTICO_BENCH_POSTGRES='host=127.0.0.1 port=5432 user=postgres' \
//!     cargo run --release -p portico-bench --bin queue_throughput -- postgres 20000
//! cargo run --release -p portico-bench --bin queue_throughput -- channel 50000
//! ```
//!
//! A third argument `drain` measures the drain only. `INSTANCES=3` (with
//! `postgres`) drains with three instances' workers, each on its own pool
//! (as three processes would be), instead of one.
//!
//! Two figures per backend, as honest queue benchmarks give them:
//! - drain: N tasks enqueued first, then the workers start; jobs/s until
//!   the queue is empty;
//! - sustained: workers running while one producer enqueues N tasks one
//!   by one; jobs/s from the first enqueue to the last task done, with the
//!   enqueue latency and the wait from enqueue to start (p50, p99).
//!
//! `channel` is the baseline: a tokio mpsc channel and the same number of
//! workers taking messages from it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use portico::pool::{PoolBuilder, PostgresManager, SqliteManager};
use portico::prelude::*;
use portico::queue::{Task, TaskError, TaskId, TaskQueue, Workers};

const WORKERS: usize = 64;

#[derive(Serialize, Deserialize)]
struct Noop;

impl Task for Noop {
    const NAME: &'static str = "noop";
    type Deps = ();
    type Output = ();

    async fn run(self, (): ()) -> Result<(), TaskError> {
        Ok(())
    }
}

use portico_bench::percentile;

async fn queue_for(kind: &str) -> TaskQueue {
    match kind {
        "memory" => TaskQueue::memory(),
        "sqlite" => {
            let dir =
                std::env::temp_dir().join(format!("portico-queue-bench-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let pool = PoolBuilder::new()
                .max_size(4)
                .build(SqliteManager::file(dir.join("tasks.db")))
                .await
                .expect("sqlite pool");
            TaskQueue::sqlite(pool).await.expect("sqlite queue")
        }
        "postgres" => {
            let url = std::env::var("PORTICO_BENCH_POSTGRES")
                .expect("set PORTICO_BENCH_POSTGRES to a connection string of an empty database");
            let pool = PoolBuilder::new()
                .max_size(8)
                .build(PostgresManager::new(url))
                .await
                .expect("postgres pool");
            let conn = pool.get().await.expect("connection");
            conn.batch_execute("DROP TABLE IF EXISTS portico_tasks, portico_task_periods")
                .await
                .expect("a fresh table");
            drop(conn);
            TaskQueue::postgres(pool).await.expect("postgres queue")
        }
        other => panic!("unknown backend {other}: memory, sqlite, postgres or channel"),
    }
}

async fn start(queue: &TaskQueue) -> Service {
    App::new()
        .workers(
            Workers::new(queue)
                .task::<Noop>()
                .queue("default", WORKERS)
                .batch(256),
        )
        .build()
        .await
        .expect("app")
}

async fn stop(service: Service) {
    service.shutdown().begin();
    service.shutdown().drained().await;
}

use portico::Service;

async fn drain(kind: &str, n: usize) {
    let instances: usize = std::env::var("INSTANCES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let queue = queue_for(kind).await;
    for _ in 0..n {
        queue.enqueue(Noop).await.expect("enqueue");
    }
    let mut others = Vec::new();
    for _ in 1..instances {
        others.push(postgres_queue().await);
    }
    let started = Instant::now();
    let mut services = vec![start(&queue).await];
    for other in &others {
        services.push(start(other).await);
    }
    if instances == 1 {
        queue.wait_idle().await.expect("drains");
    } else {
        // Other instances' runs wake no one here: watch the store.
        while queue.stats().await.expect("stats").depth() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let elapsed = started.elapsed();
    for service in services {
        stop(service).await;
    }
    println!(
        "{kind} drain ({instances} instance(s)): {n} tasks in {:.2} s = {:.0} jobs/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
}

/// Another instance's queue on the same database (no fresh table).
async fn postgres_queue() -> TaskQueue {
    let url = std::env::var("PORTICO_BENCH_POSTGRES").expect("PORTICO_BENCH_POSTGRES");
    let pool = PoolBuilder::new()
        .max_size(8)
        .build(PostgresManager::new(url))
        .await
        .expect("postgres pool");
    TaskQueue::postgres(pool).await.expect("postgres queue")
}

async fn sustained(kind: &str, n: usize) {
    let queue = queue_for(kind).await;
    let service = start(&queue).await;
    let mut latencies = Vec::with_capacity(n);
    let mut ids: Vec<TaskId> = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let at = Instant::now();
        ids.push(queue.enqueue(Noop).await.expect("enqueue"));
        latencies.push(at.elapsed());
    }
    queue.wait_idle().await.expect("drains");
    let elapsed = started.elapsed();
    let mut waits = Vec::new();
    for id in ids.iter().step_by((n / 1000).max(1)) {
        let record = queue.status(*id).await.expect("status").expect("record");
        let waited = record.started_at.unwrap_or(record.created_at) - record.created_at;
        waits.push(Duration::from_millis(waited.max(0) as u64));
    }
    stop(service).await;
    latencies.sort();
    waits.sort();
    println!(
        "{kind} sustained: {n} tasks in {:.2} s = {:.0} jobs/s; enqueue p50 {:?} p99 {:?}; enqueue→start p50 {:?} p99 {:?}",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&waits, 0.5),
        percentile(&waits, 0.99),
    );
}

/// The baseline: a tokio channel and `WORKERS` tasks taking from it, each
/// message "run" (nothing) and counted.
async fn channel(n: usize) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<u64>(1024);
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let receiver = Arc::clone(&receiver);
            tokio::spawn(async move {
                let mut done = 0u64;
                while let Some(message) = receiver.lock().await.recv().await {
                    done += std::hint::black_box(message) & 1;
                }
                done
            })
        })
        .collect();
    for i in 0..n as u64 {
        sender.send(i).await.expect("send");
    }
    drop(sender);
    for worker in workers {
        worker.await.expect("worker");
    }
    let elapsed = started.elapsed();
    println!(
        "channel: {n} messages in {:.3} s = {:.0} messages/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "memory".into());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let only_drain = args.next().as_deref() == Some("drain");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if kind == "channel" {
            channel(n).await;
        } else {
            drain(&kind, n).await;
            if !only_drain {
                sustained(&kind, n).await;
            }
        }
    });
}
