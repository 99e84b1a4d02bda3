//! Tasks in the app's database, SQLite or PostgreSQL: the
//! `portico_tasks` table (and `portico_task_periods` for periodic tasks).
//!
//! A claim is one statement over an index of due tasks (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, so that concurrent claimers never wait on each
//! other; SQLite serialises writers with `BEGIN IMMEDIATE`). Completions
//! and heartbeats of a batch go in one transaction. Every change to a
//! running task names its attempt, the fencing token of the claim.

// Without a database engine only the shared pieces are left, unused.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, unused_imports)
)]

use super::{TaskId, TaskRecord, TaskStatus};

pub(crate) use crate::pool::SqlEngine as Engine;

/// What a worker stopped mid-way by a crash leaves as its error, when that
/// was its last attempt.
const LAPSED: &str = "its worker stopped during its last attempt";

/// The columns of a record, in this order.
const RECORD: &str = "id, name, queue, state, attempts, max_attempts, payload, result, error, \
                      unique_key, created_at, run_at, started_at, finished_at";

/// A row of [`RECORD`] columns, read by either driver.
struct RecordRow {
    id: i64,
    name: String,
    queue: String,
    state: String,
    attempts: i64,
    max_attempts: i64,
    payload: String,
    result: Option<String>,
    error: Option<String>,
    unique_key: Option<String>,
    created_at: i64,
    run_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl RecordRow {
    fn into_record(self, now: i64) -> TaskRecord {
        let mut status = TaskStatus::parse(&self.state).unwrap_or(TaskStatus::Failed);
        if status == TaskStatus::Pending && self.run_at > now {
            status = TaskStatus::Scheduled;
        }
        TaskRecord {
            id: TaskId(self.id),
            name: self.name,
            queue: self.queue,
            status,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            max_attempts: u32::try_from(self.max_attempts).unwrap_or(0),
            payload: serde_json::from_str(&self.payload).unwrap_or_default(),
            result: self.result.and_then(|r| serde_json::from_str(&r).ok()),
            error: self.error,
            unique_key: self.unique_key,
            created_at: self.created_at,
            run_at: self.run_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        }
    }
}

fn backend_error(err: impl std::error::Error + Send + Sync + 'static) -> super::QueueError {
    super::QueueError::Backend(Box::new(err))
}

#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteBackend;
#[cfg(feature = "sqlite")]
pub(crate) use self::sqlite::enqueue as sqlite_enqueue;

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::time::Duration;

    use rusqlite::{OptionalExtension, TransactionBehavior, params};

    use super::*;
    use crate::pool::{Pool, SqliteError, SqliteManager};
    use crate::queue::backend::{Claimed, NewTask, Outcome, QueueBackend, QueueFuture};
    use crate::queue::{QueueError, QueueStats, millis, now_ms};

    const SCHEMA: &str = "
        CREATE TABLE IF NOT EXISTS portico_tasks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            queue TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            priority INTEGER NOT NULL DEFAULT 0,
            timeout_ms INTEGER NOT NULL,
            unique_key TEXT,
            result TEXT,
            error TEXT,
            created_at INTEGER NOT NULL,
            run_at INTEGER NOT NULL,
            lease_until INTEGER,
            started_at INTEGER,
            finished_at INTEGER,
            trace TEXT
        );
        CREATE INDEX IF NOT EXISTS portico_tasks_due
            ON portico_tasks (queue, state, priority, run_at, id);
        CREATE INDEX IF NOT EXISTS portico_tasks_finished
            ON portico_tasks (state, finished_at);
        CREATE UNIQUE INDEX IF NOT EXISTS portico_tasks_unique ON portico_tasks (unique_key)
            WHERE unique_key IS NOT NULL AND state IN ('pending', 'running');
        CREATE TABLE IF NOT EXISTS portico_task_periods (
            schedule TEXT NOT NULL,
            period INTEGER NOT NULL,
            PRIMARY KEY (schedule, period)
        );";

    /// Tasks in a SQLite database, through the app's pool. Survives
    /// restarts; one instance at a time per database file is the usual
    /// SQLite deployment (several processes work, serialised by SQLite's
    /// write lock).
    #[derive(Debug)]
    pub struct SqliteBackend {
        pool: Pool<SqliteManager>,
    }

    impl SqliteBackend {
        /// Tasks in `pool`'s database; creates the tables if missing.
        pub async fn new(pool: Pool<SqliteManager>) -> Result<Self, QueueError> {
            let backend = SqliteBackend { pool };
            backend
                .run(|c| {
                    c.execute_batch(SCHEMA)?;
                    // A table made before tasks kept their trace gains
                    // the column (another process may add it first).
                    let has_trace: bool = c.query_row(
                        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('portico_tasks')
                            WHERE name = 'trace')",
                        [],
                        |row| row.get(0),
                    )?;
                    if !has_trace {
                        match c.execute_batch("ALTER TABLE portico_tasks ADD COLUMN trace TEXT") {
                            Err(err) if !err.to_string().contains("duplicate column") => {
                                return Err(err);
                            }
                            _ => {}
                        }
                    }
                    Ok(())
                })
                .await?;
            Ok(backend)
        }

        async fn run<R: Send + 'static>(
            &self,
            f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
        ) -> Result<R, QueueError> {
            let mut conn = self.pool.get().await.map_err(backend_error)?;
            conn.call(f)
                .await
                .map_err(|e: SqliteError| backend_error(e))
        }

        /// Runs `f` in a write transaction taken at once (`BEGIN
        /// IMMEDIATE`: no upgrade from reader to writer that could fail).
        async fn write<R: Send + 'static>(
            &self,
            f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<R> + Send + 'static,
        ) -> Result<R, QueueError> {
            self.run(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let result = f(&tx)?;
                tx.commit()?;
                Ok(result)
            })
            .await
        }
    }

    /// Stores a task on `c` (a connection or the caller's transaction).
    pub(crate) fn enqueue(c: &rusqlite::Connection, task: &NewTask) -> rusqlite::Result<TaskId> {
        let inserted: Option<i64> = c
            .prepare_cached(
                "INSERT INTO portico_tasks (name, queue, payload, state, max_attempts, priority,
                    timeout_ms, unique_key, created_at, run_at, trace)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('pending', 'running')
                 DO NOTHING
                 RETURNING id",
            )?
            .query_row(
                params![
                    task.name,
                    task.queue(),
                    task.payload,
                    task.max_attempts(),
                    task.priority(),
                    task.timeout_ms(),
                    task.unique_key(),
                    task.created_at,
                    task.run_at(),
                    task.trace,
                ],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(id) = inserted {
            return Ok(TaskId(id));
        }
        c.prepare_cached(
            "SELECT id FROM portico_tasks WHERE unique_key = ?1 AND state IN ('pending', 'running')",
        )?
        .query_row([task.unique_key()], |row| row.get(0))
        .map(TaskId)
    }

    fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordRow> {
        Ok(RecordRow {
            id: row.get(0)?,
            name: row.get(1)?,
            queue: row.get(2)?,
            state: row.get(3)?,
            attempts: row.get(4)?,
            max_attempts: row.get(5)?,
            payload: row.get(6)?,
            result: row.get(7)?,
            error: row.get(8)?,
            unique_key: row.get(9)?,
            created_at: row.get(10)?,
            run_at: row.get(11)?,
            started_at: row.get(12)?,
            finished_at: row.get(13)?,
        })
    }

    impl QueueBackend for SqliteBackend {
        fn enqueue(&self, task: NewTask) -> QueueFuture<'_, TaskId> {
            Box::pin(self.write(move |tx| enqueue(tx, &task)))
        }

        fn claim<'a>(
            &'a self,
            queue: &'a str,
            limit: usize,
            lease: Duration,
        ) -> QueueFuture<'a, Vec<Claimed>> {
            let queue = queue.to_owned();
            Box::pin(self.write(move |tx| {
                let now = now_ms();
                // Lapsed leases: their workers died. Out of attempts, the
                // task fails; otherwise it is due again, in this claim.
                tx.prepare_cached(
                    "UPDATE portico_tasks SET lease_until = NULL,
                        state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
                        error = CASE WHEN attempts >= max_attempts THEN ?3 ELSE error END,
                        finished_at = CASE WHEN attempts >= max_attempts THEN ?2 END
                     WHERE queue = ?1 AND state = 'running' AND lease_until < ?2",
                )?
                .execute(params![queue, now, LAPSED])?;
                let mut statement = tx.prepare_cached(
                    "UPDATE portico_tasks SET state = 'running', attempts = attempts + 1,
                        lease_until = ?3, started_at = ?2
                     WHERE id IN (SELECT id FROM portico_tasks
                        WHERE queue = ?1 AND state = 'pending' AND run_at <= ?2
                        ORDER BY priority, run_at, id LIMIT ?4)
                     RETURNING id, name, payload, attempts, max_attempts, timeout_ms, trace",
                )?;
                let claimed = statement
                    .query_map(
                        params![queue, now, now.saturating_add(millis(lease)), limit as i64],
                        |row| {
                            Ok(Claimed {
                                id: TaskId(row.get(0)?),
                                name: row.get(1)?,
                                payload: row.get(2)?,
                                attempt: row.get(3)?,
                                max_attempts: row.get(4)?,
                                timeout: Duration::from_millis(row.get::<_, i64>(5)?.max(0) as u64),
                                trace: row.get(6)?,
                            })
                        },
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(claimed)
            }))
        }

        fn heartbeat<'a>(
            &'a self,
            claims: &'a [(TaskId, u32)],
            lease: Duration,
        ) -> QueueFuture<'a, Vec<TaskId>> {
            let claims = claims.to_vec();
            Box::pin(self.write(move |tx| {
                let until = now_ms().saturating_add(millis(lease));
                let mut statement = tx.prepare_cached(
                    "UPDATE portico_tasks SET lease_until = ?3
                     WHERE id = ?1 AND attempts = ?2 AND state = 'running'",
                )?;
                let mut lost = Vec::new();
                for (id, attempt) in claims {
                    if statement.execute(params![id.0, attempt, until])? == 0 {
                        lost.push(id);
                    }
                }
                Ok(lost)
            }))
        }

        fn complete<'a>(&'a self, outcomes: &'a [(TaskId, u32, Outcome)]) -> QueueFuture<'a, ()> {
            let outcomes = outcomes.to_vec();
            Box::pin(self.write(move |tx| {
                let now = now_ms();
                let mut done = tx.prepare_cached(
                    "UPDATE portico_tasks SET state = 'done', result = ?3, error = NULL,
                        finished_at = ?4, lease_until = NULL
                     WHERE id = ?1 AND attempts = ?2 AND state = 'running'",
                )?;
                let mut failed = tx.prepare_cached(
                    "UPDATE portico_tasks SET state = 'failed', error = ?3, finished_at = ?4,
                        lease_until = NULL
                     WHERE id = ?1 AND attempts = ?2 AND state = 'running'",
                )?;
                let mut retry = tx.prepare_cached(
                    "UPDATE portico_tasks SET state = 'pending', error = ?3, run_at = ?4,
                        lease_until = NULL
                     WHERE id = ?1 AND attempts = ?2 AND state = 'running'",
                )?;
                for (id, attempt, outcome) in &outcomes {
                    match outcome {
                        Outcome::Done(result) => {
                            done.execute(params![id.0, attempt, result, now])?
                        }
                        Outcome::Failed(error) => {
                            failed.execute(params![id.0, attempt, error, now])?
                        }
                        Outcome::Retry { error, at } => {
                            retry.execute(params![id.0, attempt, error, at])?
                        }
                    };
                }
                Ok(())
            }))
        }

        fn release<'a>(&'a self, claims: &'a [(TaskId, u32)]) -> QueueFuture<'a, ()> {
            let claims = claims.to_vec();
            Box::pin(self.write(move |tx| {
                let mut statement = tx.prepare_cached(
                    "UPDATE portico_tasks SET state = 'pending', lease_until = NULL
                     WHERE id = ?1 AND attempts = ?2 AND state = 'running'",
                )?;
                for (id, attempt) in claims {
                    statement.execute(params![id.0, attempt])?;
                }
                Ok(())
            }))
        }

        fn status(&self, id: TaskId) -> QueueFuture<'_, Option<TaskRecord>> {
            Box::pin(self.run(move |c| {
                let row = c
                    .prepare_cached(&format!("SELECT {RECORD} FROM portico_tasks WHERE id = ?1"))?
                    .query_row([id.0], record)
                    .optional()?;
                Ok(row.map(|row| row.into_record(now_ms())))
            }))
        }

        fn cancel(&self, id: TaskId) -> QueueFuture<'_, bool> {
            Box::pin(self.write(move |tx| {
                let changed = tx.execute(
                    "UPDATE portico_tasks SET state = 'cancelled', finished_at = ?2, lease_until = NULL
                     WHERE id = ?1 AND state IN ('pending', 'running')",
                    params![id.0, now_ms()],
                )?;
                Ok(changed == 1)
            }))
        }

        fn retry(&self, id: TaskId) -> QueueFuture<'_, bool> {
            Box::pin(self.write(move |tx| {
                let changed = tx.execute(
                    "UPDATE portico_tasks SET state = 'pending', max_attempts = attempts + max_attempts,
                        run_at = ?2, finished_at = NULL
                     WHERE id = ?1 AND state = 'failed'",
                    params![id.0, now_ms()],
                )?;
                Ok(changed == 1)
            }))
        }

        fn enqueue_period<'a>(
            &'a self,
            schedule: &'a str,
            period: i64,
            task: NewTask,
        ) -> QueueFuture<'a, Option<TaskId>> {
            let schedule = schedule.to_owned();
            Box::pin(self.write(move |tx| {
                let first = tx.execute(
                    "INSERT INTO portico_task_periods (schedule, period) VALUES (?1, ?2)
                     ON CONFLICT DO NOTHING",
                    params![schedule, period],
                )?;
                if first == 0 {
                    return Ok(None);
                }
                enqueue(tx, &task).map(Some)
            }))
        }

        fn stats(&self) -> QueueFuture<'_, QueueStats> {
            Box::pin(self.run(|c| {
                let now = now_ms();
                let mut stats = QueueStats::default();
                let mut statement = c.prepare_cached(
                    "SELECT state, run_at > ?1, COUNT(*), MIN(run_at) FROM portico_tasks
                     GROUP BY state, run_at > ?1",
                )?;
                let mut rows = statement.query([now])?;
                while let Some(row) = rows.next()? {
                    let (state, later, count, oldest): (String, bool, i64, i64) =
                        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
                    tally(&mut stats, &state, later, count, oldest, now);
                }
                Ok(stats)
            }))
        }

        fn depth(&self) -> QueueFuture<'_, u64> {
            Box::pin(self.run(|c| {
                c.prepare_cached(
                    "SELECT COUNT(*) FROM portico_tasks WHERE state IN ('pending', 'running')",
                )?
                .query_row([], |row| row.get::<_, i64>(0))
                .map(|n| n as u64)
            }))
        }

        fn purge(&self, done_before: i64, failed_before: i64) -> QueueFuture<'_, u64> {
            Box::pin(self.write(move |tx| {
                let deleted = tx.execute(
                    "DELETE FROM portico_tasks
                     WHERE (state IN ('done', 'cancelled') AND finished_at < ?1)
                        OR (state = 'failed' AND finished_at < ?2)",
                    params![done_before, failed_before],
                )?;
                tx.execute(
                    "DELETE FROM portico_task_periods WHERE period < ?1",
                    [done_before],
                )?;
                Ok(deleted as u64)
            }))
        }

        fn engine(&self) -> Option<Engine> {
            Some(Engine::Sqlite)
        }
    }
}

/// Adds one `GROUP BY state, due` row to `stats`.
fn tally(
    stats: &mut super::QueueStats,
    state: &str,
    later: bool,
    count: i64,
    oldest: i64,
    now: i64,
) {
    let count = u64::try_from(count).unwrap_or(0);
    match (state, later) {
        ("pending", true) => stats.scheduled += count,
        ("pending", false) => {
            stats.pending += count;
            let waited = u64::try_from(now - oldest).unwrap_or(0);
            stats.oldest_pending_ms =
                Some(stats.oldest_pending_ms.map_or(waited, |w| w.max(waited)));
        }
        ("running", _) => stats.running += count,
        ("done", _) => stats.done += count,
        ("failed", _) => stats.failed += count,
        ("cancelled", _) => stats.cancelled += count,
        _ => {}
    }
}

#[cfg(feature = "postgres")]
pub use self::postgres::PostgresBackend;
#[cfg(feature = "postgres")]
pub(crate) use self::postgres::enqueue as postgres_enqueue;

#[cfg(feature = "postgres")]
mod postgres {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Notify;
    use tokio_postgres::{AsyncMessage, GenericClient, NoTls};

    use super::*;
    use crate::pool::{Pool, PostgresManager};
    use crate::queue::backend::{Claimed, NewTask, Outcome, QueueBackend, QueueFuture};
    use crate::queue::{QueueError, QueueStats, millis, now_ms};

    const SCHEMA: &str = "
        CREATE TABLE IF NOT EXISTS portico_tasks (
            id BIGSERIAL PRIMARY KEY,
            name TEXT NOT NULL,
            queue TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            priority INTEGER NOT NULL DEFAULT 0,
            timeout_ms BIGINT NOT NULL,
            unique_key TEXT,
            result TEXT,
            error TEXT,
            created_at BIGINT NOT NULL,
            run_at BIGINT NOT NULL,
            lease_until BIGINT,
            started_at BIGINT,
            finished_at BIGINT,
            trace TEXT
        );
        ALTER TABLE portico_tasks ADD COLUMN IF NOT EXISTS trace TEXT;
        CREATE INDEX IF NOT EXISTS portico_tasks_due
            ON portico_tasks (queue, state, priority, run_at, id);
        CREATE INDEX IF NOT EXISTS portico_tasks_finished
            ON portico_tasks (state, finished_at);
        CREATE UNIQUE INDEX IF NOT EXISTS portico_tasks_unique ON portico_tasks (unique_key)
            WHERE unique_key IS NOT NULL AND state IN ('pending', 'running');
        CREATE TABLE IF NOT EXISTS portico_task_periods (
            schedule TEXT NOT NULL,
            period BIGINT NOT NULL,
            PRIMARY KEY (schedule, period)
        );";

    /// The channel enqueues notify, so that every instance's workers wake.
    const CHANNEL: &str = "portico_tasks";

    /// Tasks in a PostgreSQL database, through the app's pool: shared by
    /// every instance on the database. Claims skip rows another claimer
    /// holds (`FOR UPDATE SKIP LOCKED`); an enqueue `NOTIFY`s the other
    /// instances, which also poll in case a notification is lost (or
    /// `LISTEN` is unavailable, behind a transaction-pooling proxy).
    #[derive(Debug)]
    pub struct PostgresBackend {
        pool: Pool<PostgresManager>,
    }

    fn db(err: tokio_postgres::Error) -> QueueError {
        backend_error(err)
    }

    impl PostgresBackend {
        /// Tasks in `pool`'s database; creates the tables if missing.
        pub async fn new(pool: Pool<PostgresManager>) -> Result<Self, QueueError> {
            let conn = pool.get().await.map_err(backend_error)?;
            conn.batch_execute(SCHEMA).await.map_err(db)?;
            drop(conn);
            Ok(PostgresBackend { pool })
        }

        async fn client(&self) -> Result<crate::pool::Pooled<PostgresManager>, QueueError> {
            self.pool.get().await.map_err(backend_error)
        }
    }

    /// Stores a task on `c` (a client or the caller's transaction) and
    /// notifies the workers of every instance (at commit, in a transaction).
    pub(crate) async fn enqueue(
        c: &impl GenericClient,
        task: &NewTask,
    ) -> Result<TaskId, tokio_postgres::Error> {
        // Insert and notify in one statement: one round trip, one commit.
        let inserted = c
            .query_opt(
                "WITH inserted AS (
                    INSERT INTO portico_tasks (name, queue, payload, state, max_attempts, priority,
                        timeout_ms, unique_key, created_at, run_at, trace)
                    VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $11)
                    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('pending', 'running')
                    DO NOTHING
                    RETURNING id
                 )
                 SELECT id, pg_notify($10, $2) FROM inserted",
                &[
                    &task.name,
                    &task.queue(),
                    &task.payload,
                    &(task.max_attempts() as i32),
                    &task.priority(),
                    &task.timeout_ms(),
                    &task.unique_key(),
                    &task.created_at,
                    &task.run_at(),
                    &CHANNEL,
                    &task.trace,
                ],
            )
            .await?;
        match inserted {
            Some(row) => Ok(TaskId(row.get(0))),
            None => c
                .query_one(
                    "SELECT id FROM portico_tasks
                     WHERE unique_key = $1 AND state IN ('pending', 'running')",
                    &[&task.unique_key()],
                )
                .await
                .map(|row| TaskId(row.get(0))),
        }
    }

    fn record(row: &tokio_postgres::Row) -> RecordRow {
        RecordRow {
            id: row.get(0),
            name: row.get(1),
            queue: row.get(2),
            state: row.get(3),
            attempts: i64::from(row.get::<_, i32>(4)),
            max_attempts: i64::from(row.get::<_, i32>(5)),
            payload: row.get(6),
            result: row.get(7),
            error: row.get(8),
            unique_key: row.get(9),
            created_at: row.get(10),
            run_at: row.get(11),
            started_at: row.get(12),
            finished_at: row.get(13),
        }
    }

    /// Keeps a `LISTEN` connection open while the queue lives, waking its
    /// workers on each notification; reconnects after a failure.
    async fn listen(config: String, wake: std::sync::Weak<Notify>) {
        while wake.strong_count() > 0 {
            match tokio_postgres::connect(&config, NoTls).await {
                Ok((client, mut connection)) => {
                    let listening = async {
                        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
                        std::future::pending::<Result<(), tokio_postgres::Error>>().await
                    };
                    let messages = async {
                        loop {
                            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                                Some(Ok(AsyncMessage::Notification(_))) => match wake.upgrade() {
                                    Some(wake) => wake.notify_waiters(),
                                    None => return,
                                },
                                Some(Ok(_)) => {}
                                Some(Err(_)) | None => return,
                            }
                        }
                    };
                    tokio::select! {
                        _ = listening => {}
                        () = messages => {}
                    }
                }
                Err(error) => {
                    tracing::debug!(error = %error, "task queue LISTEN connection failed")
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    impl QueueBackend for PostgresBackend {
        fn enqueue(&self, task: NewTask) -> QueueFuture<'_, TaskId> {
            Box::pin(async move {
                let conn = self.client().await?;
                enqueue(&*conn, &task).await.map_err(db)
            })
        }

        fn claim<'a>(
            &'a self,
            queue: &'a str,
            limit: usize,
            lease: Duration,
        ) -> QueueFuture<'a, Vec<Claimed>> {
            Box::pin(async move {
                let conn = self.client().await?;
                let now = now_ms();
                // One statement, one commit: a lapsed lease (its worker
                // died) out of attempts fails the task; due tasks — pending
                // ones in order from the index, then lapsed ones with
                // attempts left — are claimed, skipping rows another
                // claimer holds.
                let rows = conn
                    .query(
                        "WITH lapsed AS (
                            UPDATE portico_tasks SET state = 'failed', error = $5, finished_at = $2,
                                lease_until = NULL
                            WHERE queue = $1 AND state = 'running' AND lease_until < $2
                                AND attempts >= max_attempts
                         ),
                         pending AS (
                            SELECT id FROM portico_tasks
                            WHERE queue = $1 AND state = 'pending' AND run_at <= $2
                            ORDER BY priority, run_at, id LIMIT $4
                            FOR UPDATE SKIP LOCKED
                         ),
                         expired AS (
                            SELECT id FROM portico_tasks
                            WHERE queue = $1 AND state = 'running' AND lease_until < $2
                                AND attempts < max_attempts
                            LIMIT $4
                            FOR UPDATE SKIP LOCKED
                         )
                         UPDATE portico_tasks SET state = 'running', attempts = attempts + 1,
                            lease_until = $3, started_at = $2
                         WHERE id IN (SELECT id FROM
                            (SELECT id FROM pending UNION ALL SELECT id FROM expired) AS due LIMIT $4)
                         RETURNING id, name, payload, attempts, max_attempts, timeout_ms, trace",
                        &[&queue, &now, &now.saturating_add(millis(lease)), &(limit as i64), &LAPSED],
                    )
                    .await
                    .map_err(db)?;
                Ok(rows
                    .iter()
                    .map(|row| Claimed {
                        id: TaskId(row.get(0)),
                        name: row.get(1),
                        payload: row.get(2),
                        attempt: u32::try_from(row.get::<_, i32>(3)).unwrap_or(0),
                        max_attempts: u32::try_from(row.get::<_, i32>(4)).unwrap_or(0),
                        timeout: Duration::from_millis(row.get::<_, i64>(5).max(0) as u64),
                        trace: row.get(6),
                    })
                    .collect())
            })
        }

        fn heartbeat<'a>(
            &'a self,
            claims: &'a [(TaskId, u32)],
            lease: Duration,
        ) -> QueueFuture<'a, Vec<TaskId>> {
            Box::pin(async move {
                let conn = self.client().await?;
                let until = now_ms().saturating_add(millis(lease));
                let (ids, attempts): (Vec<i64>, Vec<i32>) =
                    claims.iter().map(|(id, a)| (id.0, *a as i32)).unzip();
                let renewed = conn
                    .query(
                        "UPDATE portico_tasks AS t SET lease_until = $3
                         FROM UNNEST($1::BIGINT[], $2::INTEGER[]) AS c(id, attempt)
                         WHERE t.id = c.id AND t.attempts = c.attempt AND t.state = 'running'
                         RETURNING t.id",
                        &[&ids, &attempts, &until],
                    )
                    .await
                    .map_err(db)?;
                let renewed: Vec<i64> = renewed.iter().map(|row| row.get(0)).collect();
                Ok(claims
                    .iter()
                    .map(|(id, _)| *id)
                    .filter(|id| !renewed.contains(&id.0))
                    .collect())
            })
        }

        fn complete<'a>(&'a self, outcomes: &'a [(TaskId, u32, Outcome)]) -> QueueFuture<'a, ()> {
            Box::pin(async move {
                let conn = self.client().await?;
                let now = now_ms();
                let mut ids = Vec::with_capacity(outcomes.len());
                let mut attempts = Vec::with_capacity(outcomes.len());
                let mut states = Vec::with_capacity(outcomes.len());
                let mut results: Vec<Option<&str>> = Vec::with_capacity(outcomes.len());
                let mut errors: Vec<Option<&str>> = Vec::with_capacity(outcomes.len());
                let mut run_ats: Vec<Option<i64>> = Vec::with_capacity(outcomes.len());
                for (id, attempt, outcome) in outcomes {
                    ids.push(id.0);
                    attempts.push(*attempt as i32);
                    let (state, result, error, at) = match outcome {
                        Outcome::Done(result) => ("done", Some(result.as_str()), None, None),
                        Outcome::Failed(error) => ("failed", None, Some(error.as_str()), None),
                        Outcome::Retry { error, at } => {
                            ("pending", None, Some(error.as_str()), Some(*at))
                        }
                    };
                    states.push(state);
                    results.push(result);
                    errors.push(error);
                    run_ats.push(at);
                }
                conn.execute(
                    "UPDATE portico_tasks AS t SET state = c.state, result = c.result, error = c.error,
                        run_at = COALESCE(c.run_at, t.run_at), lease_until = NULL,
                        finished_at = CASE WHEN c.state = 'pending' THEN NULL ELSE $7::BIGINT END
                     FROM UNNEST($1::BIGINT[], $2::INTEGER[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::BIGINT[])
                        AS c(id, attempt, state, result, error, run_at)
                     WHERE t.id = c.id AND t.attempts = c.attempt AND t.state = 'running'",
                    &[&ids, &attempts, &states, &results, &errors, &run_ats, &now],
                )
                .await
                .map_err(db)?;
                Ok(())
            })
        }

        fn release<'a>(&'a self, claims: &'a [(TaskId, u32)]) -> QueueFuture<'a, ()> {
            Box::pin(async move {
                let conn = self.client().await?;
                let (ids, attempts): (Vec<i64>, Vec<i32>) =
                    claims.iter().map(|(id, a)| (id.0, *a as i32)).unzip();
                conn.execute(
                    "UPDATE portico_tasks AS t SET state = 'pending', lease_until = NULL
                     FROM UNNEST($1::BIGINT[], $2::INTEGER[]) AS c(id, attempt)
                     WHERE t.id = c.id AND t.attempts = c.attempt AND t.state = 'running'",
                    &[&ids, &attempts],
                )
                .await
                .map_err(db)?;
                Ok(())
            })
        }

        fn status(&self, id: TaskId) -> QueueFuture<'_, Option<TaskRecord>> {
            Box::pin(async move {
                let conn = self.client().await?;
                let row = conn
                    .query_opt(
                        &format!("SELECT {RECORD} FROM portico_tasks WHERE id = $1"),
                        &[&id.0],
                    )
                    .await
                    .map_err(db)?;
                Ok(row.map(|row| record(&row).into_record(now_ms())))
            })
        }

        fn cancel(&self, id: TaskId) -> QueueFuture<'_, bool> {
            Box::pin(async move {
                let conn = self.client().await?;
                let changed = conn
                    .execute(
                        "UPDATE portico_tasks SET state = 'cancelled', finished_at = $2, lease_until = NULL
                         WHERE id = $1 AND state IN ('pending', 'running')",
                        &[&id.0, &now_ms()],
                    )
                    .await
                    .map_err(db)?;
                Ok(changed == 1)
            })
        }

        fn retry(&self, id: TaskId) -> QueueFuture<'_, bool> {
            Box::pin(async move {
                let conn = self.client().await?;
                let changed = conn
                    .execute(
                        "UPDATE portico_tasks SET state = 'pending',
                            max_attempts = attempts + max_attempts, run_at = $2, finished_at = NULL
                         WHERE id = $1 AND state = 'failed'",
                        &[&id.0, &now_ms()],
                    )
                    .await
                    .map_err(db)?;
                Ok(changed == 1)
            })
        }

        fn enqueue_period<'a>(
            &'a self,
            schedule: &'a str,
            period: i64,
            task: NewTask,
        ) -> QueueFuture<'a, Option<TaskId>> {
            Box::pin(async move {
                let mut conn = self.client().await?;
                let tx = conn.transaction().await.map_err(db)?;
                let first = tx
                    .execute(
                        "INSERT INTO portico_task_periods (schedule, period) VALUES ($1, $2)
                         ON CONFLICT DO NOTHING",
                        &[&schedule, &period],
                    )
                    .await
                    .map_err(db)?;
                if first == 0 {
                    return Ok(None);
                }
                let id = enqueue(&tx, &task).await.map_err(db)?;
                tx.commit().await.map_err(db)?;
                Ok(Some(id))
            })
        }

        fn stats(&self) -> QueueFuture<'_, QueueStats> {
            Box::pin(async move {
                let conn = self.client().await?;
                let now = now_ms();
                let rows = conn
                    .query(
                        "SELECT state, run_at > $1, COUNT(*), MIN(run_at) FROM portico_tasks
                         GROUP BY state, run_at > $1",
                        &[&now],
                    )
                    .await
                    .map_err(db)?;
                let mut stats = QueueStats::default();
                for row in rows {
                    let state: String = row.get(0);
                    tally(&mut stats, &state, row.get(1), row.get(2), row.get(3), now);
                }
                Ok(stats)
            })
        }

        fn depth(&self) -> QueueFuture<'_, u64> {
            Box::pin(async move {
                let conn = self.client().await?;
                let row = conn
                    .query_one(
                        "SELECT COUNT(*) FROM portico_tasks WHERE state IN ('pending', 'running')",
                        &[],
                    )
                    .await
                    .map_err(db)?;
                Ok(row.get::<_, i64>(0) as u64)
            })
        }

        fn purge(&self, done_before: i64, failed_before: i64) -> QueueFuture<'_, u64> {
            Box::pin(async move {
                let conn = self.client().await?;
                let deleted = conn
                    .execute(
                        "DELETE FROM portico_tasks
                         WHERE (state IN ('done', 'cancelled') AND finished_at < $1)
                            OR (state = 'failed' AND finished_at < $2)",
                        &[&done_before, &failed_before],
                    )
                    .await
                    .map_err(db)?;
                conn.execute(
                    "DELETE FROM portico_task_periods WHERE period < $1",
                    &[&done_before],
                )
                .await
                .map_err(db)?;
                Ok(deleted)
            })
        }

        fn subscribe(&self, wake: &Arc<Notify>) {
            if tokio::runtime::Handle::try_current().is_ok() {
                tokio::spawn(listen(
                    self.pool.manager().config().to_owned(),
                    Arc::downgrade(wake),
                ));
            }
        }

        fn engine(&self) -> Option<Engine> {
            Some(Engine::Postgres)
        }
    }
}
