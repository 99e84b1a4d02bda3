//! Many instances, one truth: three flagship processes on loopback share
//! one PostgreSQL (users, idempotency keys, tasks) and one Redis (rate
//! limits), both started by the test.
//!
//! - A task running on an instance killed with `kill -9` is finished by
//!   another once its lease lapses; the welcome email is sent once.
//! - One client spread round robin over the three is limited by one
//!   bucket (its capacity plus what refills meanwhile, ± one per
//!   instance).
//! - One `Idempotency-Key` sent to all three at once creates one user and
//!   one task; every answer is that user.
//! - Tasks enqueued on one instance are run, and all end done.

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
use common::redis::TestRedis;
use flagship::post;
use portico::pool::tokio_postgres::{self, NoTls};

const SECRET: &str = "the many instances' shared secret, 32+ bytes";

struct Cluster {
    database_url: String,
    state_url: String,
}

impl Cluster {
    fn instance(&self) -> (Child, SocketAddr) {
        flagship::start(&[
            ("PORTICO_DATABASE_URL", &self.database_url),
            ("PORTICO_STATE_URL", &self.state_url),
            ("PORTICO_JWT_SECRET", SECRET),
            ("PORTICO_TASK_LEASE_SECS", "2"),
            ("PORTICO_RATE_CAPACITY", "10"),
            ("PORTICO_RATE_REFILL_PER_SEC", "1"),
        ])
    }
}

async fn client(postgres: &TestPostgres) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&postgres.url(), NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}

fn status(answer: &str) -> u16 {
    answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"))
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    common::raw(addr, request.as_bytes(), Duration::from_secs(5)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_users_keys_tasks_and_limits() {
    let postgres = TestPostgres::start();
    let redis = TestRedis::start();
    let cluster = Cluster {
        database_url: format!("postgres://portico@127.0.0.1:{}/postgres", postgres.port),
        state_url: redis.url(),
    };
    let db = client(&postgres).await;

    // A task running on an instance killed with kill -9: another finishes
    // it. Only `a` runs when the task is claimed, so `a` holds it.
    let (mut a, a_addr) = cluster.instance();
    let token = flagship::token(SECRET, "crash");
    let blocker = client(&postgres).await;
    // Holding this lock, the welcome task's INSERT waits: it stays running.
    blocker
        .batch_execute("BEGIN; LOCK TABLE outbox IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let created = common::raw(a_addr, &post(&token, "kim", None), Duration::from_secs(5)).await;
    assert_eq!(status(&created), 201, "{created}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(
        &db,
        "SELECT COUNT(*) FROM portico_tasks WHERE state = 'running'",
    )
    .await
        < 1
    {
        assert!(Instant::now() < deadline, "the task was never claimed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut b, b_addr) = cluster.instance();
    let (mut c, c_addr) = cluster.instance();
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    blocker.batch_execute("ROLLBACK").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(
        &db,
        "SELECT COUNT(*) FROM portico_tasks WHERE state = 'done'",
    )
    .await
        < 1
    {
        assert!(
            Instant::now() < deadline,
            "no other instance finished the task"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        count(&db, "SELECT MAX(attempts)::BIGINT FROM portico_tasks").await,
        2,
        "the killed attempt is counted"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM outbox").await,
        1,
        "sent once"
    );

    let (mut a, a_addr) = cluster.instance();
    let instances = [a_addr, b_addr, c_addr];

    // One client (127.0.0.1, no token) round robin over the three.
    let started = Instant::now();
    let mut allowed = 0u64;
    for i in 0..30 {
        let answer = get(instances[i % 3], "/users").await;
        match status(&answer) {
            200 => allowed += 1,
            429 => {}
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    let refilled = started.elapsed().as_secs_f64().ceil() as u64;
    assert!(
        (10..=10 + refilled + 3).contains(&allowed),
        "{allowed} allowed in {:?}: one bucket of 10 (+1/s), not three",
        started.elapsed()
    );

    // One key, sent to all three at once.
    let token = flagship::token(SECRET, "payer");
    let answers = futures_all(instances.map(|addr| {
        let request = post(&token, "ada", Some("signup-ada-1"));
        async move { common::raw(addr, &request, Duration::from_secs(10)).await }
    }))
    .await;
    let mut bodies = Vec::new();
    for (mut answer, addr) in answers.into_iter().zip(instances) {
        // A 409 means the first is still running: retry, as clients do.
        let deadline = Instant::now() + Duration::from_secs(10);
        while status(&answer) == 409 {
            assert!(Instant::now() < deadline, "the key stayed in flight");
            tokio::time::sleep(Duration::from_millis(100)).await;
            answer = common::raw(
                addr,
                &post(&token, "ada", Some("signup-ada-1")),
                Duration::from_secs(10),
            )
            .await;
        }
        assert_eq!(status(&answer), 201, "{answer}");
        bodies.push(
            answer
                .split("\r\n\r\n")
                .nth(1)
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one answer for the key: {bodies:?}"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM users WHERE name = 'ada'").await,
        1,
        "one user for the key"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM portico_tasks WHERE payload LIKE '%ada@example.com%'"
        )
        .await,
        1,
        "one welcome task for the key"
    );

    // Tasks enqueued on each instance all run to done, each email once.
    for (i, addr) in instances.into_iter().enumerate() {
        let name = format!("user{i}");
        let answer = common::raw(addr, &post(&token, &name, None), Duration::from_secs(5)).await;
        assert_eq!(status(&answer), 201, "{answer}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (done, all) = (
            count(
                &db,
                "SELECT COUNT(*) FROM portico_tasks WHERE state = 'done'",
            )
            .await,
            count(&db, "SELECT COUNT(*) FROM portico_tasks").await,
        );
        if done == all {
            assert_eq!(all, 5, "kim, ada (once), and three more");
            break;
        }
        assert!(Instant::now() < deadline, "{done} of {all} tasks done");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM outbox").await,
        5,
        "each email once"
    );

    for child in [&mut a, &mut b, &mut c] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// Runs the futures concurrently on the test's runtime.
async fn futures_all<F>(futures: [F; 3]) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles = futures.map(tokio::spawn);
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}
