//! Exercise 7: a pool of named connections; releasing one makes it the
//! next to be handed out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use portico::pool::{Manager, PoolBuilder};

/// The seed's connections are names; a real pool would hold a database
/// client here (see `SqliteManager`, `PostgresManager`).
struct Named(AtomicUsize);

/// A manager that cannot fail needs an error type with no values.
#[derive(Debug)]
enum Never {}

impl std::fmt::Display for Never {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl std::error::Error for Never {}

impl Manager for Named {
    type Connection = String;
    type Error = Never;

    async fn connect(&self) -> Result<String, Never> {
        Ok(format!("conn-{}", self.0.fetch_add(1, Ordering::SeqCst)))
    }

    async fn check(&self, _: &mut String) -> Result<(), Never> {
        Ok(())
    }
}

pub(crate) async fn run() -> crate::Outcome {
    let pool = PoolBuilder::new()
        .min_size(2)
        .max_size(2)
        .build(Named(AtomicUsize::new(0)))
        .await?;
    println!("Pool started with {} connections", pool.stats().size);
    let first = pool.get().await?;
    println!("Acquired: {}", *first);
    let second = pool.get().await?;
    println!("Acquired: {}", *second);
    let released = first.clone();
    drop(first);
    println!("Released: {released}");
    let created = pool.stats().created;
    let again = pool.get().await?;
    let reused = if pool.stats().created == created {
        " (reused)"
    } else {
        ""
    };
    println!("Acquired: {}{reused}", *again);
    drop((second, again));
    pool.close(Duration::from_secs(1)).await;
    println!("Pool closed");
    Ok(())
}
