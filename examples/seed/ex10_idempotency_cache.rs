//! Exercise 10: a request deduplication cache with a 0.5 s TTL — the
//! same key within the TTL returns the stored result without running the
//! handler; another key runs it; after the TTL it runs again.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use portico::cache::Cache;
use serde_json::{Value, json};

pub(crate) async fn run() -> crate::Outcome {
    let cache: Cache<&str, Value> = Cache::new(Duration::from_millis(500));
    let executions = AtomicU32::new(0);
    let charge_card = |amount: f64| {
        let executions = &executions;
        move || async move {
            let n = executions.fetch_add(1, Ordering::SeqCst) + 1;
            json!({"charged": amount, "tx_id": format!("tx_{n}")})
        }
    };
    let said = |cached: bool| {
        if cached {
            "returned cached result"
        } else {
            "executed handler"
        }
    };

    let (first, cached) = cache.execute("req-abc", charge_card(99.99)).await;
    println!("First call: {}", said(cached));
    let (second, cached) = cache.execute("req-abc", charge_card(99.99)).await;
    println!("Second call (same key): {}", said(cached));
    if first != second {
        return Err(format!("a replay differs: {first} then {second}").into());
    }
    let (_, cached) = cache.execute("req-xyz", charge_card(49.99)).await;
    println!("Different key: {}", said(cached));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, cached) = cache.execute("req-abc", charge_card(99.99)).await;
    println!(
        "After TTL: {}",
        if cached {
            said(cached)
        } else {
            "executed handler (cache expired)"
        }
    );
    Ok(())
}
