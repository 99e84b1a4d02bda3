//! Exercise 9: a background task queue — three tasks enqueued, workers
//! run them, the queue drains, each is done with its result.

use std::time::Duration;

use portico::prelude::*;
use portico::queue::{Task, TaskError, TaskQueue, TaskStatus, Workers};

/// The seed's `async def double(x): return x * 2`.
#[derive(Serialize, Deserialize)]
struct Double(u64);

impl Task for Double {
    const NAME: &'static str = "double";
    type Deps = ();
    type Output = u64;

    async fn run(self, (): ()) -> Result<u64, TaskError> {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(self.0 * 2)
    }
}

pub(crate) async fn run() -> crate::Outcome {
    let queue = TaskQueue::memory();
    let app = App::new()
        .provide(queue.clone())
        .workers(Workers::new(&queue).task::<Double>().queue("default", 2));
    let service = app.build().await?;
    let mut ids = Vec::new();
    for x in 1..=3 {
        ids.push(queue.enqueue(Double(x)).await?);
    }
    println!("Enqueued {} tasks", ids.len());
    // The seed's stop(): wait for the queue to empty, then stop the workers.
    tokio::time::timeout(Duration::from_secs(10), queue.wait_idle()).await??;
    service.shutdown().begin();
    service.shutdown().drained().await;
    println!("All tasks completed");
    for (n, id) in ids.into_iter().enumerate() {
        let record = queue.status(id).await?.ok_or("a task vanished")?;
        let status = match record.status {
            TaskStatus::Done => "done",
            other => return Err(format!("task {id} ended {other:?}").into()),
        };
        // The seed names its tasks task-0, task-1, … in enqueue order.
        let result = record.result.unwrap_or_default();
        println!("Task task-{n}: {status}, result={result}");
    }
    Ok(())
}
