//! Liveness and readiness: concurrent checks under a timeout, the verdict,
//! caching, and readiness failing first on shutdown.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::TestServer;
use portico::App;
use portico::health::{HealthChecker, Status};

#[tokio::test]
async fn checks_run_concurrently_each_under_the_timeout() {
    let slow = || async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok::<(), String>(())
    };
    let checker = HealthChecker::new()
        .timeout(Duration::from_millis(500))
        .register("a", true, slow)
        .register("b", true, slow)
        .register("c", false, || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<(), String>(())
        });
    let started = Instant::now();
    let report = checker.check().await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(900),
        "concurrent, not one after another: {elapsed:?}"
    );
    assert_eq!(
        report.status,
        Status::Degraded,
        "only a non-critical check failed"
    );
    assert_eq!(report.components[2].detail.as_deref(), Some("timeout"));
    assert!(report.components[0].latency_ms >= 190.0);
}

#[tokio::test]
async fn a_failing_critical_check_is_unhealthy_and_a_panicking_one_fails() {
    let checker = HealthChecker::new()
        .register("db", true, || async { Err::<(), _>("connection refused") })
        .register("cache", false, || async { Ok::<(), String>(()) });
    let report = checker.check().await;
    assert_eq!(report.status, Status::Unhealthy);
    assert_eq!(
        report.components[0].detail.as_deref(),
        Some("connection refused")
    );
    let panicking = HealthChecker::new().register("bug", true, || async {
        if true {
            panic!("check bug");
        }
        Ok::<(), String>(())
    });
    let report = panicking.check().await;
    assert_eq!(report.status, Status::Unhealthy);
    assert_eq!(
        report.components[0].detail.as_deref(),
        Some("the check panicked")
    );
}

#[tokio::test]
async fn probes_share_a_cached_report_and_readiness_fails_first_on_shutdown() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = Arc::clone(&healthy);
    let checker = HealthChecker::new()
        .cache_for(Duration::from_secs(2))
        .register("db", true, move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let ok = flag.load(Ordering::SeqCst);
            async move { if ok { Ok(()) } else { Err("down") } }
        });
    let server = TestServer::start(App::new().health(checker)).await;
    for _ in 0..20 {
        let reply = server.get("/ready").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("cache-control"), "no-store");
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "a storm of probes ran the check once"
    );
    healthy.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let reply = server.get("/ready").await;
    assert_eq!(reply.assert_failure(503), "not ready");
    let component = &reply.json()["error"]["fields"]["components"][0];
    assert_eq!(component["reason"], "failed");
    assert!(
        !reply.json().to_string().contains("down") && component.get("detail").is_none(),
        "the check's own message stays on the server: {component}"
    );
    let live = server.get("/healthz").await;
    assert_eq!(live.status, 200, "liveness does not look at the database");
    assert_eq!(live.header("cache-control"), "no-store");
}

#[tokio::test]
async fn readiness_turns_503_when_shutdown_begins() {
    let checker = HealthChecker::new().register("ok", true, || async { Ok::<(), String>(()) });
    let app = App::new().health(checker);
    let server = app.bind("127.0.0.1:0").await.unwrap();
    let shutdown = server.service().shutdown().clone();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    let ready = common::raw(
        addr,
        b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    shutdown.begin();
    let ready = common::raw(
        addr,
        b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(
        ready.starts_with("HTTP/1.1 503") && ready.contains("shutting down"),
        "{ready}"
    );
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

mod with_async_dependencies {
    use portico::health::HealthChecker;
    use portico::prelude::*;
    use portico::testing::TestClient;

    /// Made by an async factory, as a database pool is.
    struct Db {
        up: bool,
    }

    #[tokio::test]
    async fn app_health_with_builds_its_checks_from_async_dependencies() {
        for up in [true, false] {
            let client = TestClient::new(
                App::new()
                    .provide_async(move || async move { Ok::<_, std::io::Error>(Db { up }) })
                    .health_with(|db: Dep<Db>| {
                        HealthChecker::new().register("db", true, move || {
                            let db = Dep::clone(&db);
                            async move {
                                if db.up {
                                    Ok(())
                                } else {
                                    Err("down".to_owned())
                                }
                            }
                        })
                    }),
            )
            .await;
            let ready = client.get("/ready").send().await;
            assert_eq!(
                ready.status().as_u16(),
                if up { 200 } else { 503 },
                "{}",
                ready.text()
            );
            assert!(ready.text().contains("\"db\""), "{}", ready.text());
            assert_eq!(client.get("/healthz").send().await.status().as_u16(), 200);
        }
    }
}
