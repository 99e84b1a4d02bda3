//! Exercise 11: checks run concurrently under a timeout; critical ones
//! decide between healthy, degraded and unhealthy.

use std::time::Duration;

use portico::health::{HealthChecker, Report};

async fn db_ok() -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(())
}

async fn cache_ok() -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}

async fn cache_refused() -> Result<(), String> {
    Err("Connection refused".into())
}

async fn db_hangs() -> Result<(), String> {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(())
}

fn show(report: &Report) {
    println!("Overall: {}", report.status);
    for component in &report.components {
        match &component.detail {
            None => println!(
                "{}: {} ({:.0}ms)",
                component.name, component.status, component.latency_ms
            ),
            Some(detail) => println!("{}: {} - {detail}", component.name, component.status),
        }
    }
}

pub(crate) async fn run() -> crate::Outcome {
    // The seed waits a whole second for its timeout; a tenth shows the same.
    let timeout = Duration::from_millis(100);
    let healthy = HealthChecker::new()
        .timeout(timeout)
        .register("db", true, db_ok)
        .register("cache", false, cache_ok);
    show(&healthy.check().await);
    let degraded = HealthChecker::new()
        .timeout(timeout)
        .register("db", true, db_ok)
        .register("cache", false, cache_refused);
    show(&degraded.check().await);
    let unhealthy = HealthChecker::new()
        .timeout(timeout)
        .register("db", true, db_hangs)
        .register("cache", false, cache_ok);
    show(&unhealthy.check().await);
    Ok(())
}
