//! The connection pool against real databases: SQLite (embedded) always,
//! PostgreSQL started by the test itself.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::postgres::TestPostgres;
use portico::pool::{PoolBuilder, PoolError, PostgresManager, SqliteManager};

fn sqlite_file(name: &str) -> SqliteManager {
    let dir = std::env::temp_dir().join(format!("portico-pool-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    SqliteManager::file(dir.join("test.db"))
}

/// Each SQLite connection has its own TEMP tables: a name stored there
/// tells connections apart.
async fn name_of(conn: &mut portico::pool::SqliteConnection) -> Option<String> {
    conn.call(|c| {
        c.execute_batch("CREATE TEMP TABLE IF NOT EXISTS me (name TEXT)")?;
        c.query_row("SELECT name FROM me", [], |r| r.get(0))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
    })
    .await
    .unwrap()
}

async fn name(conn: &mut portico::pool::SqliteConnection, name: &str) {
    let name = name.to_owned();
    conn.call(move |c| c.execute("INSERT INTO me VALUES (?1)", [name]).map(drop))
        .await
        .unwrap();
}

#[tokio::test]
async fn seed_scenario_min_two_and_reuse() {
    let pool = PoolBuilder::new()
        .min_size(2)
        .max_size(4)
        .build(sqlite_file("seed"))
        .await
        .unwrap();
    assert_eq!(pool.stats().size, 2, "min_size connections open at start");
    let mut first = pool.get().await.unwrap();
    assert_eq!(name_of(&mut first).await, None);
    name(&mut first, "conn-0").await;
    let mut second = pool.get().await.unwrap();
    assert_eq!(name_of(&mut second).await, None, "another connection");
    name(&mut second, "conn-1").await;
    assert_eq!(pool.stats().in_use, 2);
    drop(first);
    let mut again = pool.get().await.unwrap();
    assert_eq!(
        name_of(&mut again).await.as_deref(),
        Some("conn-0"),
        "reused"
    );
    assert_eq!(pool.stats().created, 2);
    drop((second, again));
    assert!(pool.close(Duration::from_secs(1)).await);
    assert!(matches!(pool.get().await, Err(PoolError::Closed)));
    assert_eq!(pool.stats().size, 0);
}

#[tokio::test]
async fn acquire_times_out_when_exhausted() {
    let pool = PoolBuilder::new()
        .max_size(1)
        .build(sqlite_file("timeout"))
        .await
        .unwrap();
    let held = pool.get().await.unwrap();
    let started = Instant::now();
    let waited = pool.acquire(Duration::from_millis(150)).await;
    assert!(matches!(waited, Err(PoolError::Timeout(_))), "{waited:?}");
    assert!(started.elapsed() >= Duration::from_millis(140));
    assert_eq!(pool.stats().timeouts, 1);
    drop(held);
    assert!(pool.acquire(Duration::from_millis(150)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_tasks_share_four_connections() {
    let pool = PoolBuilder::new()
        .max_size(4)
        .build(sqlite_file("hundred"))
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    conn.call(|c| c.execute_batch("CREATE TABLE hits (n INTEGER)"))
        .await
        .unwrap();
    drop(conn);
    let tasks: Vec<_> = (0..100)
        .map(|n| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut conn = pool.get().await.expect("a connection");
                conn.call(move |c| c.execute("INSERT INTO hits VALUES (?1)", [n]).map(drop))
                    .await
                    .expect("insert");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut conn = pool.get().await.unwrap();
    let count: i64 = conn
        .call(|c| c.query_row("SELECT COUNT(*) FROM hits", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(count, 100);
    let stats = pool.stats();
    assert!(stats.created <= 4, "{stats:?}");
    assert_eq!(stats.waiters, 0);
}

#[tokio::test]
async fn a_guard_dropped_by_a_panicking_task_comes_back_rolled_back() {
    let pool = PoolBuilder::new()
        .max_size(1)
        .build(sqlite_file("panic"))
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    conn.call(|c| c.execute_batch("CREATE TABLE t (n INTEGER)"))
        .await
        .unwrap();
    drop(conn);
    let cloned = pool.clone();
    let task = tokio::spawn(async move {
        let mut conn = cloned.get().await.unwrap();
        conn.call(|c| c.execute_batch("BEGIN; INSERT INTO t VALUES (1);"))
            .await
            .unwrap();
        panic!("handler bug while holding a connection in a transaction");
    });
    assert!(task.await.is_err());
    let mut conn = pool
        .acquire(Duration::from_secs(1))
        .await
        .expect("the connection came back");
    let (autocommit, rows): (bool, i64) = conn
        .call(|c| {
            Ok((
                c.is_autocommit(),
                c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?,
            ))
        })
        .await
        .unwrap();
    assert!(
        autocommit,
        "the open transaction was rolled back before reuse"
    );
    assert_eq!(rows, 0);
    assert_eq!(
        pool.stats().created,
        1,
        "the same connection, not a new one"
    );
}

#[tokio::test]
async fn old_idle_and_broken_connections_are_replaced() {
    let pool = PoolBuilder::new()
        .max_size(2)
        .max_lifetime(Some(Duration::from_millis(100)))
        .build(sqlite_file("recycle"))
        .await
        .unwrap();
    drop(pool.get().await.unwrap());
    tokio::time::sleep(Duration::from_millis(150)).await;
    drop(pool.get().await.unwrap());
    assert_eq!(
        pool.stats().created,
        2,
        "past max_lifetime a connection is not reused"
    );

    let pool = PoolBuilder::new()
        .max_size(2)
        .build(sqlite_file("broken"))
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    conn.mark_broken();
    drop(conn);
    assert_eq!(pool.stats().closed, 1);
    drop(pool.get().await.unwrap());
    assert_eq!(pool.stats().created, 2);

    let pool = PoolBuilder::new()
        .min_size(1)
        .max_size(3)
        .idle_timeout(Some(Duration::from_millis(50)))
        .build(sqlite_file("idle"))
        .await
        .unwrap();
    let (a, b, c) = (
        pool.get().await.unwrap(),
        pool.get().await.unwrap(),
        pool.get().await.unwrap(),
    );
    drop((a, b, c));
    assert_eq!(pool.stats().idle, 3);
    tokio::time::sleep(Duration::from_millis(80)).await;
    pool.reap();
    assert_eq!(
        pool.stats().idle,
        1,
        "idle connections beyond min_size are closed"
    );
}

#[tokio::test]
async fn the_circuit_opens_after_repeated_connect_failures_and_closes_again() {
    let missing =
        std::env::temp_dir().join(format!("portico-no-such-dir-{}/x/y.db", std::process::id()));
    let pool = PoolBuilder::new()
        .max_size(2)
        .circuit_breaker(2, Duration::from_secs(2))
        .build(SqliteManager::file(&missing))
        .await
        .unwrap();
    for _ in 0..2 {
        assert!(matches!(pool.get().await, Err(PoolError::Connect(_))));
    }
    let started = Instant::now();
    assert!(matches!(pool.get().await, Err(PoolError::Unavailable)));
    // Fails without trying while open: well within the open period.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "fails fast while open: {:?}",
        started.elapsed()
    );
    std::fs::create_dir_all(missing.parent().unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        pool.get().await.is_ok(),
        "after the cool-down it tries again and recovers"
    );
    let _ = std::fs::remove_dir_all(missing.parent().unwrap().parent().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pool_survives_the_database_going_away() {
    let server = TestPostgres::start();
    let pool = PoolBuilder::new()
        .min_size(2)
        .max_size(4)
        .acquire_timeout(Duration::from_secs(2))
        .check_after_idle(Duration::ZERO)
        .circuit_breaker(3, Duration::from_millis(200))
        .build(PostgresManager::new(server.url()))
        .await
        .expect("connect to the test server");
    let conn = pool.get().await.unwrap();
    let row = conn.query_one("SELECT 1 + 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 2);
    drop(conn);

    let pool_for_tasks = Arc::new(pool.clone());
    let tasks: Vec<_> = (0..50)
        .map(|n: i32| {
            let pool = Arc::clone(&pool_for_tasks);
            tokio::spawn(async move {
                let conn = pool.get().await.unwrap();
                conn.query_one("SELECT $1::INT + 1", &[&n])
                    .await
                    .unwrap()
                    .get::<_, i32>(0)
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, (1..=50).sum::<i32>());
    assert!(pool.stats().created <= 4);

    server.stop();
    let error = match pool.get().await {
        Ok(conn) => conn
            .simple_query("SELECT 1")
            .await
            .map(drop)
            .expect_err("the server is gone")
            .to_string(),
        Err(err) => err.to_string(),
    };
    assert!(!error.is_empty());
    assert!(
        pool.ping(Duration::from_millis(500)).await.is_err(),
        "the readiness check fails"
    );

    server.start_again();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if pool.ping(Duration::from_secs(1)).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the pool did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let conn = pool.get().await.unwrap();
    assert_eq!(
        conn.query_one("SELECT 40 + 2", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        42
    );
}

/// Fresh connections to a new file all switch it to WAL at once: SQLite
/// refuses all but one of them without waiting, and the manager must wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_first_connections_to_a_new_file_all_open() {
    use portico::pool::Manager;
    for round in 0..10 {
        let manager = sqlite_file(&format!("first-{round}"));
        let opening: Vec<_> = (0..8)
            .map(|_| {
                let manager = manager.clone();
                tokio::spawn(async move { manager.connect().await })
            })
            .collect();
        for opening in opening {
            let mut conn = opening
                .await
                .unwrap()
                .expect("a first connection waits for the others, then opens");
            let mode: String = conn
                .call(|c| c.pragma_query_value(None, "journal_mode", |row| row.get(0)))
                .await
                .unwrap();
            assert_eq!(mode, "wal");
        }
    }
}

#[tokio::test]
async fn sqlite_setup_runs_on_every_new_connection() {
    let manager = sqlite_file("setup").on_connect(|c| c.pragma_update(None, "cache_size", -1234));
    let pool = PoolBuilder::new()
        .min_size(2)
        .max_size(2)
        .build(manager)
        .await
        .unwrap();
    let (mut a, mut b) = (pool.get().await.unwrap(), pool.get().await.unwrap());
    for conn in [&mut a, &mut b] {
        let size: i64 = conn
            .call(|c| c.pragma_query_value(None, "cache_size", |row| row.get(0)))
            .await
            .unwrap();
        assert_eq!(size, -1234, "each connection was set up");
    }
    // A setup that fails fails the connection, so the pool says so.
    let broken = sqlite_file("setup-broken").on_connect(|c| c.execute_batch("THIS IS NOT SQL"));
    assert!(PoolBuilder::new().min_size(1).build(broken).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_setup_runs_on_every_new_connection() {
    let server = TestPostgres::start();
    let admin = PoolBuilder::new()
        .build(PostgresManager::new(server.url()))
        .await
        .unwrap();
    admin
        .get()
        .await
        .unwrap()
        .batch_execute("CREATE SCHEMA app; CREATE TABLE app.things (id INT); INSERT INTO app.things VALUES (1), (2)")
        .await
        .unwrap();
    let pool = PoolBuilder::new()
        .min_size(2)
        .max_size(2)
        .build(PostgresManager::new(server.url()).on_connect("SET search_path = app"))
        .await
        .unwrap();
    let (a, b) = (pool.get().await.unwrap(), pool.get().await.unwrap());
    for conn in [&a, &b] {
        let row = conn
            .query_one("SELECT COUNT(*) FROM things", &[])
            .await
            .unwrap();
        assert_eq!(
            row.get::<_, i64>(0),
            2,
            "the unqualified name resolves in `app`"
        );
    }
}

mod migrations {
    use super::*;
    use portico::pool::{MigrationError, Migrations};

    const STEPS: [&str; 2] = [
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        "ALTER TABLE notes ADD COLUMN done INTEGER NOT NULL DEFAULT 0",
    ];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_steps_run_once_even_from_two_instances_at_once() {
        let manager = sqlite_file("migrations");
        let one = PoolBuilder::new().build(manager.clone()).await.unwrap();
        let two = PoolBuilder::new().build(manager).await.unwrap();
        let migrations = Migrations::new(STEPS);
        let (a, b) = tokio::join!(migrations.run_sqlite(&one), migrations.run_sqlite(&two));
        assert_eq!(
            a.unwrap() + b.unwrap(),
            2,
            "each step applied by exactly one instance"
        );
        assert_eq!(
            migrations.run_sqlite(&one).await.unwrap(),
            0,
            "nothing left to apply"
        );
        let versions: Vec<i64> = one
            .get()
            .await
            .unwrap()
            .call(|c| {
                c.prepare("SELECT version FROM schema_version ORDER BY version")?
                    .query_map([], |row| row.get(0))?
                    .collect()
            })
            .await
            .unwrap();
        assert_eq!(versions, [1, 2]);

        // A failing step leaves its version unrecorded and says which it was.
        let broken = Migrations::new([STEPS[0], STEPS[1], "NOT SQL AT ALL"]);
        match broken.run_sqlite(&one).await {
            Err(MigrationError::Step { version: 3, .. }) => {}
            other => panic!("expected step 3 to fail: {other:?}"),
        }
        // A database ahead of the app is refused, not silently used.
        let older = Migrations::new([STEPS[0]]);
        assert!(matches!(
            older.run_sqlite(&one).await,
            Err(MigrationError::Newer { found: 2, known: 1 })
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_steps_run_once_even_from_two_instances_at_once() {
        let server = TestPostgres::start();
        let pool = || async {
            PoolBuilder::new()
                .build(PostgresManager::new(server.url()))
                .await
                .unwrap()
        };
        let (one, two) = (pool().await, pool().await);
        let migrations = Migrations::new(STEPS).table("app_versions");
        let (a, b) = tokio::join!(migrations.run_postgres(&one), migrations.run_postgres(&two));
        assert_eq!(
            a.unwrap() + b.unwrap(),
            2,
            "each step applied by exactly one instance"
        );
        assert_eq!(migrations.run_postgres(&two).await.unwrap(), 0);
        let conn = one.get().await.unwrap();
        let versions: Vec<i32> = conn
            .query("SELECT version FROM app_versions ORDER BY version", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(versions, [1, 2]);
        conn.execute("INSERT INTO notes (id, body, done) VALUES (1, 'x', 1)", &[])
            .await
            .expect("both steps applied");
    }
}
