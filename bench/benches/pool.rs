//! Acquire + release throughput: 64 tasks sharing 8 connections of a
//! trivial manager, Portico's pool against deadpool and bb8.
//!
//! `cargo bench -p portico-bench --bench pool`

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

const TASKS: usize = 64;
const SIZE: usize = 8;
const ROUNDS_PER_TASK: usize = 100;

/// A connection that is just a number: what is measured is the pool.
struct Trivial;

impl portico::pool::Manager for Trivial {
    type Connection = u64;
    type Error = std::io::Error;

    async fn connect(&self) -> Result<u64, std::io::Error> {
        Ok(7)
    }

    async fn check(&self, _: &mut u64) -> Result<(), std::io::Error> {
        Ok(())
    }
}

impl deadpool::managed::Manager for Trivial {
    type Type = u64;
    type Error = Infallible;

    async fn create(&self) -> Result<u64, Infallible> {
        Ok(7)
    }

    async fn recycle(
        &self,
        _: &mut u64,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}

impl bb8::ManageConnection for Trivial {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(7)
    }

    async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

/// Runs `TASKS` tasks of `ROUNDS_PER_TASK` acquire/release each, `iters`
/// times, and returns the total time.
fn drive<F, Fut>(runtime: &tokio::runtime::Runtime, iters: u64, round: F) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let round = Arc::new(round);
    runtime.block_on(async move {
        let started = Instant::now();
        for _ in 0..iters {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let round = Arc::clone(&round);
                    tokio::spawn(async move {
                        for _ in 0..ROUNDS_PER_TASK {
                            round().await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("task");
            }
        }
        started.elapsed()
    })
}

fn pools(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let portico = runtime
        .block_on(
            portico::pool::PoolBuilder::new()
                .min_size(SIZE)
                .max_size(SIZE)
                .build(Trivial),
        )
        .expect("pool");
    let deadpool = deadpool::managed::Pool::<Trivial>::builder(Trivial)
        .max_size(SIZE)
        .build()
        .expect("pool");
    let bb8 = runtime
        // Like Portico's pool, which checks a connection only after it sat
        // idle (30 s), not on every checkout (bb8's default).
        .block_on(
            bb8::Pool::builder()
                .max_size(SIZE as u32)
                .test_on_check_out(false)
                .build(Trivial),
        )
        .expect("pool");

    let mut group = c.benchmark_group("pool_64_tasks_8_connections_x100");
    group.bench_function("portico", |b| {
        b.iter_custom(|iters| {
            let pool = portico.clone();
            drive(&runtime, iters, move || {
                let pool = pool.clone();
                async move {
                    let conn = pool.get().await.expect("connection");
                    black_box(*conn);
                }
            })
        })
    });
    group.bench_function("deadpool", |b| {
        b.iter_custom(|iters| {
            let pool = deadpool.clone();
            drive(&runtime, iters, move || {
                let pool = pool.clone();
                async move {
                    let conn = pool.get().await.expect("connection");
                    black_box(*conn);
                }
            })
        })
    });
    group.bench_function("bb8", |b| {
        b.iter_custom(|iters| {
            let pool = bb8.clone();
            drive(&runtime, iters, move || {
                let pool = pool.clone();
                async move {
                    let conn = pool.get().await.expect("connection");
                    black_box(*conn);
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, pools);
criterion_main!(benches);
