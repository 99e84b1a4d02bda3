//! The single-flight cache under contention: one run per key however many
//! callers, keys independent, nothing left behind by a computation that
//! failed, was cancelled or panicked, and memory bounded under a flood.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use portico::cache::Cache;
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_of_one_key_run_it_once() {
    let cache: Cache<&str, usize> = Cache::new(Duration::from_secs(60));
    let runs = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..64)
        .map(|_| {
            let (cache, runs) = (cache.clone(), Arc::clone(&runs));
            tokio::spawn(async move {
                cache
                    .execute("pay-1", || async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        runs.fetch_add(1, Ordering::SeqCst) + 100
                    })
                    .await
            })
        })
        .collect();
    let mut fresh = 0;
    for caller in callers {
        let (value, cached) = caller.await.unwrap();
        assert_eq!(value, 100, "every caller sees the one run's value");
        fresh += usize::from(!cached);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(fresh, 1, "exactly one caller ran it");
    assert_eq!(cache.in_flight(), 0, "the key's lock is gone");
}

#[tokio::test]
async fn a_slow_key_never_holds_up_another() {
    let cache: Cache<&str, u8> = Cache::new(Duration::from_secs(60));
    let (release, released) = oneshot::channel::<()>();
    let slow = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .execute("slow", || async move {
                    released.await.ok();
                    1
                })
                .await
        }
    });
    tokio::task::yield_now().await;
    let other = tokio::time::timeout(
        Duration::from_secs(5),
        cache.execute("fast", || async { 2 }),
    )
    .await
    .expect("another key answers while the first is running");
    assert_eq!(other, (2, false));
    assert_eq!(cache.in_flight(), 1);
    release.send(()).unwrap();
    assert_eq!(slow.await.unwrap(), (1, false));
    assert_eq!(cache.in_flight(), 0);
}

#[tokio::test]
async fn a_cancelled_or_panicking_run_hands_the_key_to_a_waiter() {
    let cache: Cache<&str, u8> = Cache::new(Duration::from_secs(60));

    // Cancelled: the leader's future is dropped mid-run.
    let leader = tokio::spawn({
        let cache = cache.clone();
        async move { cache.execute("k", std::future::pending::<u8>).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(cache.in_flight(), 1);
    let waiter = tokio::spawn({
        let cache = cache.clone();
        async move { cache.execute("k", || async { 7 }).await }
    });
    tokio::task::yield_now().await;
    leader.abort();
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter is woken")
        .unwrap();
    assert_eq!(got, (7, false), "the waiter ran it itself");

    // Panicked: the key is free again, nothing cached.
    let panicked = tokio::spawn({
        let cache = cache.clone();
        async move { cache.execute("p", || async { panic!("boom") }).await }
    });
    assert!(panicked.await.is_err());
    assert_eq!(cache.in_flight(), 0);
    assert_eq!(cache.execute("p", || async { 9 }).await, (9, false));
}

#[tokio::test]
async fn failures_are_not_cached_unless_the_value_is_the_result() {
    let cache: Cache<&str, u8> = Cache::new(Duration::from_secs(60));
    let failed: Result<(u8, bool), &str> =
        cache.try_execute("k", || async { Err("db down") }).await;
    assert_eq!(failed, Err("db down"));
    assert_eq!(cache.get(&"k"), None);

    // Asked for: the outcome itself is the value, failures included.
    let outcomes: Cache<&str, Result<u8, String>> = Cache::new(Duration::from_secs(60));
    let first = outcomes
        .execute("k", || async { Err("no".to_owned()) })
        .await;
    let again = outcomes.execute("k", || async { Ok(1) }).await;
    assert_eq!(first, (Err("no".to_owned()), false));
    assert_eq!(again, (Err("no".to_owned()), true));
}

#[tokio::test]
async fn a_flood_of_keys_stays_within_the_bound() {
    let cache: Cache<u64, Vec<u8>> = Cache::new(Duration::from_secs(60)).max_entries(1_000);
    for key in 0..100_000u64 {
        cache.execute(key, || async { vec![0; 64] }).await;
    }
    assert!(cache.len() <= 1_000, "{} values kept", cache.len());
    assert!(
        cache.len() >= 900,
        "the bound is used, not emptied: {}",
        cache.len()
    );
    assert!(cache.get(&99_999).is_some(), "the newest stays");
    assert_eq!(cache.in_flight(), 0);
}

mod as_a_dependency {
    use super::*;
    use portico::prelude::*;
    use portico::testing::TestClient;

    #[derive(Default)]
    struct Lookups(AtomicUsize);

    #[route(GET, "/rates/<currency>")]
    async fn rate(
        currency: String,
        rates: Dep<Cache<String, String>>,
        lookups: Dep<Lookups>,
    ) -> String {
        let (rate, cached) = rates
            .execute(currency.clone(), || async {
                lookups.0.fetch_add(1, Ordering::SeqCst);
                format!("{currency}=1.08")
            })
            .await;
        format!("{rate} cached={cached}")
    }

    #[tokio::test]
    async fn a_handler_memoises_through_dep_cache() {
        let client = TestClient::new(
            App::new()
                .provide(Cache::<String, String>::new(Duration::from_secs(60)))
                .provide(Lookups::default())
                .mount(routes![rate]),
        )
        .await;
        assert_eq!(
            client.get("/rates/EUR").send().await.text(),
            "EUR=1.08 cached=false"
        );
        assert_eq!(
            client.get("/rates/EUR").send().await.text(),
            "EUR=1.08 cached=true"
        );
        assert_eq!(
            client.get("/rates/GBP").send().await.text(),
            "GBP=1.08 cached=false"
        );
        let cache = client.service().container().get::<Cache<String, String>>();
        assert_eq!(cache.map(|c| c.len()), Some(2));
    }
}
