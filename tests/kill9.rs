//! `kill -9` in the middle of work: the flagship on PostgreSQL is killed
//! while it waits on the database, then started again.
//!
//! - A keyed `POST /users`: the key answers 409 while the dead attempt's
//!   lease lasts, then the request runs once and is replayed — never
//!   stuck, never run twice.
//! - Welcome email tasks, two running and one queued: after the restart
//!   every one ends done, the killed attempts counted.

#![cfg(unix)]

mod common;
#[path = "support/examples.rs"]
mod examples;
#[path = "support/flagship.rs"]
mod flagship;

use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};

use common::postgres::TestPostgres;
use flagship::post;
use portico::pool::tokio_postgres::{self, NoTls};

const SECRET: &str = "the crash test's own secret, 32+ bytes long";
const LEASE_SECS: u64 = 5;

fn flagship(database_url: &str) -> (Child, SocketAddr) {
    let lease = LEASE_SECS.to_string();
    flagship::start(&[
        ("PORTICO_DATABASE_URL", database_url),
        ("PORTICO_JWT_SECRET", SECRET),
        ("PORTICO_IDEMPOTENCY_LEASE_SECS", &lease),
        ("PORTICO_TASK_LEASE_SECS", "2"),
    ])
}

fn token() -> String {
    flagship::token(SECRET, "42")
}

fn keyed_post(token: &str) -> Vec<u8> {
    post(token, "crash", Some("crash-1"))
}

/// A connection of the test's own to the database.
async fn client(postgres: &TestPostgres) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&postgres.url(), NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_survives_kill_9_mid_request_and_runs_once() {
    let postgres = TestPostgres::start();
    let url = format!("postgres://portico@127.0.0.1:{}/postgres", postgres.port);
    let (mut first, addr) = flagship(&url);
    let token = token();

    let db = client(&postgres).await;
    // Holding this lock, the handler's INSERT waits: the request is running.
    db.batch_execute("BEGIN; LOCK TABLE users IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let request = keyed_post(&token);
    let pending =
        tokio::spawn(async move { common::raw(addr, &request, Duration::from_secs(20)).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while db
        .query_opt(
            "SELECT 1 FROM portico_idempotency WHERE key = 'crash-1' AND running",
            &[],
        )
        .await
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "the keyed request never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Longer than a lease: renewals keep the slow request's key.
    tokio::time::sleep(Duration::from_secs(LEASE_SECS + 1)).await;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let cut = pending.await.unwrap();
    assert!(
        !cut.contains("201 Created"),
        "the killed request answered: {cut}"
    );
    db.batch_execute("ROLLBACK").await.unwrap();
    let users = async || -> i64 {
        db.query_one("SELECT COUNT(*) FROM users", &[])
            .await
            .unwrap()
            .get(0)
    };
    assert_eq!(users().await, 0, "nothing was written by the dead attempt");

    let (mut second, addr) = flagship(&url);
    let request = keyed_post(&token);
    let answer = common::raw(addr, &request, Duration::from_secs(5)).await;
    assert!(
        answer.starts_with("HTTP/1.1 409"),
        "the dead attempt's lease still holds: {answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("retry-after:"),
        "{answer}"
    );

    let deadline = Instant::now() + Duration::from_secs(LEASE_SECS + 5);
    let created = loop {
        let answer = common::raw(addr, &request, Duration::from_secs(5)).await;
        if answer.starts_with("HTTP/1.1 201") {
            break answer;
        }
        assert!(answer.starts_with("HTTP/1.1 409"), "{answer}");
        assert!(
            Instant::now() < deadline,
            "the key stayed stuck past its lease"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(!created.contains("idempotent-replayed"), "{created}");
    let replay = common::raw(addr, &request, Duration::from_secs(5)).await;
    assert!(replay.starts_with("HTTP/1.1 201"), "{replay}");
    assert!(replay.contains("idempotent-replayed: true"), "{replay}");
    assert_eq!(users().await, 1, "the request ran exactly once");
    second.kill().unwrap();
    second.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_tasks_survive_kill_9_and_run_to_done() {
    let postgres = TestPostgres::start();
    let url = format!("postgres://portico@127.0.0.1:{}/postgres", postgres.port);
    let (mut first, addr) = flagship(&url);
    let token = token();
    let db = client(&postgres).await;
    // Holding this lock, the welcome tasks' INSERT waits: they stay running.
    db.batch_execute("BEGIN; LOCK TABLE outbox IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let other = client(&postgres).await;
    for name in ["ann", "bob", "cyd"] {
        let answer = common::raw(addr, &post(&token, name, None), Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    }
    let count = async |state: &str| -> i64 {
        other
            .query_one(
                "SELECT COUNT(*) FROM portico_tasks WHERE state = $1",
                &[&state],
            )
            .await
            .unwrap()
            .get(0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while count("running").await < 2 {
        assert!(
            Instant::now() < deadline,
            "the workers never took two tasks"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    db.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        (count("running").await, count("pending").await),
        (2, 1),
        "as the dead process left them"
    );

    let (mut second, _) = flagship(&url);
    let deadline = Instant::now() + Duration::from_secs(20);
    while count("done").await < 3 {
        assert!(
            Instant::now() < deadline,
            "the tasks did not all finish after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let attempts: Vec<i32> = other
        .query(
            "SELECT attempts FROM portico_tasks ORDER BY attempts DESC, id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        attempts,
        vec![2, 2, 1],
        "the two killed attempts are counted"
    );
    let sent: i64 = other
        .query_one("SELECT COUNT(*) FROM outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sent, 3, "each welcome email sent once");
    second.kill().unwrap();
    second.wait().unwrap();
}
