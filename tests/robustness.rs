//! The flagship under a bounded mix of the attacks the hardening closed —
//! stalled HTTP/2 prefaces, slow bodies, oversized heads over HTTP/1.1 and
//! HTTP/2, forged tokens — while an ordinary client keeps being answered
//! promptly and the process's memory stays bounded. It ends by itself.

mod common;
#[path = "../examples/users_api/store.rs"]
mod store;
// The test uses the app, not every helper of it.
#[allow(dead_code)]
#[path = "../examples/users_api/app.rs"]
mod users_api;
use users_api as app;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::TestServer;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use portico::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use users_api::Settings;

/// Resident memory of this process.
#[cfg(target_os = "linux")]
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_clients_are_answered_while_the_server_is_attacked() {
    let settings = Settings {
        database_url: "sqlite::memory:".into(),
        jwt_secret: b"the robustness test's own secret, 32+ bytes".to_vec(),
        rate_capacity: 1_000_000,
        rate_refill_per_sec: 1_000_000.0,
        ..Settings::default()
    };
    let app = users_api::app(&settings).await.unwrap().server_config(
        ServerConfig::default()
            .header_read_timeout(Duration::from_secs(5))
            .body_read_timeout(Duration::from_millis(500), Duration::from_secs(2)),
    );
    let server = TestServer::start(app).await;
    let addr = server.addr;
    let rss_before = rss_bytes();

    let mut attackers = tokio::task::JoinSet::new();
    // Stalled HTTP/2 prefaces, held open.
    for _ in 0..100 {
        attackers.spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let _ = s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM").await;
            tokio::time::sleep(Duration::from_secs(3)).await;
        });
    }
    // Slow bodies: a byte every 100 ms of a declared kilobyte.
    for _ in 0..30 {
        attackers.spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let head = "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
            let _ = s.write_all(head.as_bytes()).await;
            for _ in 0..30 {
                if s.write_all(b" ").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    // Oversized heads over HTTP/1.1 and HTTP/2, and forged tokens.
    for i in 0..30 {
        attackers.spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "GET /users HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "v".repeat(64 * 1024)
            );
            let _ = s.write_all(head.as_bytes()).await;
            let h2 = Client::builder(TokioExecutor::new())
                .http2_only(true)
                .build_http::<Full<Bytes>>();
            let mut many = hyper::Request::get(format!("http://{addr}/users"));
            for f in 0..300 {
                many = many.header(format!("x-f{f}"), "1");
            }
            let _ = h2.request(many.body(Full::default()).unwrap()).await;
            let forged = format!("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ{i}In0.AAAA");
            let plain = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
            let request = hyper::Request::post(format!("http://{addr}/users"))
                .header("authorization", forged)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap();
            let response = plain.request(request).await.unwrap();
            assert_eq!(response.status(), 401);
        });
    }

    // Meanwhile, an ordinary client.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut answered = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let asked = Instant::now();
        let reply = tokio::time::timeout(Duration::from_secs(2), server.get("/healthz"))
            .await
            .expect("an ordinary request is answered within 2 s");
        assert_eq!(reply.status, 200);
        slowest = slowest.max(asked.elapsed());
        answered += 1;
    }
    while let Some(attacker) = attackers.join_next().await {
        attacker.expect("an attacker task");
    }
    eprintln!("{answered} ordinary requests, slowest {slowest:?}");
    assert!(answered > 20, "only {answered} ordinary requests in 3 s");
    assert!(
        slowest < Duration::from_secs(1),
        "slowest ordinary answer {slowest:?}"
    );
    let grown = rss_bytes().saturating_sub(rss_before);
    assert!(
        grown < 200 * 1024 * 1024,
        "memory grew by {} MiB under the attacks",
        grown / (1024 * 1024)
    );
}
