//! Exercise 4: a token bucket, capacity 5, refilling 2 tokens a second.

use std::time::{Duration, Instant};

use portico::ratelimit::{ClientKey, MemoryStore, Policy};

pub(crate) fn run() -> crate::Outcome {
    let store = MemoryStore::default();
    let policy = Policy::new("default", 5, 2.0);
    let client = ClientKey::Custom("client-1".into());
    let start = Instant::now();
    let verdict = |allowed: bool| if allowed { "allowed" } else { "rate_limited" };

    let first_five: Vec<bool> = (0..5)
        .map(|_| store.check_at(&client, &policy, start).allowed)
        .collect();
    if first_five.iter().all(|&allowed| allowed) {
        println!("Requests 1-5: allowed");
    } else {
        println!("Requests 1-5: {first_five:?}");
    }
    println!(
        "Request 6: {}",
        verdict(store.check_at(&client, &policy, start).allowed)
    );
    // The store takes the time as an argument: a second later, without waiting.
    let later = start + Duration::from_secs(1);
    println!(
        "After 1s refill: {}",
        verdict(store.check_at(&client, &policy, later).allowed)
    );
    Ok(())
}
