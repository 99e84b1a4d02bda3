//! Users in a database through the pool: SQLite by default, PostgreSQL
//! when the URL says `postgres://`. The schema is created or migrated when
//! the store connects.

use std::sync::Arc;
use std::time::Duration;

use portico::Rendered;
use portico::idempotency::{IdempotencyStore, Idempotent, PostgresStore, SqliteStore};
use portico::pool::{
    Migrations, Pool, PoolBuilder, PostgresManager, SqliteManager, rusqlite, tokio_postgres,
};
use portico::prelude::*;
use portico::queue::{QueueError, TaskOptions, TaskQueue};
use portico::telemetry::Metrics;

use crate::app::{CreatedUser, NewUser, User, WelcomeEmail};

/// Schema migrations, applied in order once each (`Migrations`).
const SQLITE_MIGRATIONS: &[&str] = &[
    "CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        age INTEGER NOT NULL
    )",
    // The mail a task "sends": one row per user and kind, so that a
    // task run twice (delivery is at least once) sends once.
    "CREATE TABLE outbox (
        user_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        address TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, kind)
    )",
    // The count of users, kept by the writes in their own transaction, so
    // a numbered page reads one row instead of counting the table.
    "CREATE TABLE user_count (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        n INTEGER NOT NULL
    );
    INSERT INTO user_count SELECT 1, COUNT(*) FROM users;
    CREATE TRIGGER user_counted_in AFTER INSERT ON users
        BEGIN UPDATE user_count SET n = n + 1 WHERE id = 1; END;
    CREATE TRIGGER user_counted_out AFTER DELETE ON users
        BEGIN UPDATE user_count SET n = n - 1 WHERE id = 1; END;",
];

const POSTGRES_MIGRATIONS: &[&str] = &[
    "CREATE TABLE users (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        age INTEGER NOT NULL
    )",
    "CREATE TABLE outbox (
        user_id BIGINT NOT NULL,
        kind TEXT NOT NULL,
        address TEXT NOT NULL,
        sent_at BIGINT NOT NULL,
        PRIMARY KEY (user_id, kind)
    )",
    "CREATE TABLE user_count (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        n BIGINT NOT NULL
    );
    INSERT INTO user_count SELECT 1, COUNT(*) FROM users;
    -- Once per statement, from its transition table: a bulk insert
    -- updates the count once, not once per row.
    CREATE FUNCTION users_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE user_count SET n = n + (SELECT COUNT(*) FROM inserted) WHERE id = 1;
        RETURN NULL;
    END $$;
    CREATE FUNCTION users_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE user_count SET n = n - (SELECT COUNT(*) FROM deleted) WHERE id = 1;
        RETURN NULL;
    END $$;
    CREATE TRIGGER user_counted_in AFTER INSERT ON users
        REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION users_inserted();
    CREATE TRIGGER user_counted_out AFTER DELETE ON users
        REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION users_deleted();",
];

/// What [`UserStore::remove_if`] did.
pub(crate) enum Removal {
    /// Deleted; the user as it was.
    Removed(User),
    /// The check refused the user as it is now.
    Refused(ApiError),
    /// No such user.
    Missing,
}

/// The users' database.
#[derive(Debug, Clone)]
pub(crate) enum UserStore {
    Sqlite(Pool<SqliteManager>),
    Postgres(Pool<PostgresManager>),
}

fn config_error(err: impl std::fmt::Display) -> portico::Error {
    portico::Error::Config {
        name: "PORTICO_DATABASE_URL".into(),
        message: err.to_string(),
    }
}

impl UserStore {
    /// Connects to `url` and brings the schema up to date.
    pub(crate) async fn connect(url: &str) -> Result<UserStore, portico::Error> {
        let builder = PoolBuilder::new()
            .min_size(1)
            .max_size(8)
            .acquire_timeout(Duration::from_secs(3));
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            UserStore::Postgres(
                builder
                    .build(PostgresManager::new(url))
                    .await
                    .map_err(config_error)?,
            )
        } else {
            let manager = SqliteManager::from_url(url).ok_or_else(|| {
                config_error(format!(
                    "`{url}` is neither sqlite://<file>, sqlite::memory: nor postgres://…"
                ))
            })?;
            UserStore::Sqlite(builder.build(manager).await.map_err(config_error)?)
        };
        store
            .migrate()
            .await
            .map_err(|e| config_error(format!("migrating the schema: {e}")))?;
        Ok(store)
    }

    /// Brings the schema up to date (safe when two instances start at once).
    async fn migrate(&self) -> Result<(), portico::pool::MigrationError> {
        match self {
            UserStore::Sqlite(pool) => {
                Migrations::new(SQLITE_MIGRATIONS.iter().copied())
                    .run_sqlite(pool)
                    .await?
            }
            UserStore::Postgres(pool) => {
                Migrations::new(POSTGRES_MIGRATIONS.iter().copied())
                    .run_postgres(pool)
                    .await?
            }
        };
        Ok(())
    }

    /// A readiness check: a connection answers.
    pub(crate) async fn ping(&self) -> Result<(), String> {
        match self {
            UserStore::Sqlite(pool) => pool.ping(Duration::from_secs(1)).await,
            UserStore::Postgres(pool) => pool.ping(Duration::from_secs(1)).await,
        }
    }

    /// Where the `Idempotency-Key` layer keeps its records: this database,
    /// so that a user and the key that created it commit together.
    pub(crate) async fn idempotency_store(
        &self,
    ) -> Result<Arc<dyn IdempotencyStore>, portico::Error> {
        Ok(match self {
            UserStore::Sqlite(pool) => {
                Arc::new(SqliteStore::new(pool.clone()).await.map_err(config_error)?)
            }
            UserStore::Postgres(pool) => Arc::new(
                PostgresStore::new(pool.clone())
                    .await
                    .map_err(config_error)?,
            ),
        })
    }

    /// Reports the database's pool (as `pool="db"`) in `metrics`.
    pub(crate) fn watched(&self, metrics: Metrics) -> Metrics {
        match self {
            UserStore::Sqlite(pool) => metrics.pool("db", pool),
            UserStore::Postgres(pool) => metrics.pool("db", pool),
        }
    }

    /// The task queue, in this database: a user and its welcome email
    /// task commit together.
    pub(crate) async fn task_queue(&self) -> Result<TaskQueue, portico::Error> {
        let queue = match self {
            UserStore::Sqlite(pool) => TaskQueue::sqlite(pool.clone()).await,
            UserStore::Postgres(pool) => TaskQueue::postgres(pool.clone()).await,
        };
        queue.map_err(|e: QueueError| config_error(e))
    }

    /// Inserts a user and its welcome email task, and answers with
    /// `answer(user)`, all in one transaction; with a key, the answer is
    /// recorded in it too.
    pub(crate) async fn insert(
        &self,
        new: NewUser,
        tasks: &TaskQueue,
        key: Option<Idempotent>,
        answer: fn(CreatedUser) -> Created<ApiResponse<CreatedUser>>,
    ) -> Result<Rendered<Created<ApiResponse<CreatedUser>>>, ApiError> {
        let name = new.name.trim().to_owned();
        let welcome = |user: &User| WelcomeEmail {
            user_id: user.id,
            to: user.email.clone(),
        };
        // One welcome per user, however often the request is retried.
        let once = |user: &User| TaskOptions::new().unique_key(format!("welcome:{}", user.id));
        match self {
            UserStore::Sqlite(pool) => {
                let mut conn = pool.get().await?;
                let queue = tasks.clone();
                let response = conn
                    .call(move |c| {
                        let tx = c.transaction()?;
                        tx.execute(
                            "INSERT INTO users (name, email, age) VALUES (?1, ?2, ?3)",
                            rusqlite::params![name, new.email, new.age],
                        )?;
                        let user = User {
                            id: tx.last_insert_rowid(),
                            name,
                            email: new.email,
                            age: new.age,
                        };
                        let welcome_task =
                            queue.enqueue_sqlite(&tx, welcome(&user), once(&user))?;
                        let created = answer(CreatedUser { user, welcome_task });
                        let response = match key {
                            Some(key) => key.record_sqlite(&tx, created)?,
                            None => Rendered::new(created),
                        };
                        tx.commit()?;
                        Ok(response)
                    })
                    .await
                    .map_err(ApiError::from)?;
                // Committed: this process's workers may start it now.
                tasks.wake();
                Ok(response)
            }
            UserStore::Postgres(pool) => {
                let mut conn = pool.get().await?;
                let tx = conn.transaction().await.map_err(ApiError::from)?;
                let row = tx
                    .query_one(
                        "INSERT INTO users (name, email, age) VALUES ($1, $2, $3) RETURNING id",
                        &[&name, &new.email, &new.age],
                    )
                    .await
                    .map_err(ApiError::from)?;
                let user = User {
                    id: row.get(0),
                    name,
                    email: new.email,
                    age: new.age,
                };
                let welcome_task = tasks
                    .enqueue_postgres(&tx, welcome(&user), once(&user))
                    .await?;
                let created = answer(CreatedUser { user, welcome_task });
                let response = match key {
                    Some(key) => key.record_postgres(&tx, created).await?,
                    None => Rendered::new(created),
                };
                tx.commit().await.map_err(ApiError::from)?;
                Ok(response)
            }
        }
    }

    /// Records the welcome email of `user_id` as sent, once: a second run
    /// of the task finds it there.
    pub(crate) async fn send_welcome(&self, user_id: i64, to: String) -> Result<bool, ApiError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        match self {
            UserStore::Sqlite(pool) => {
                let mut conn = pool.get().await?;
                conn.call(move |c| {
                    c.execute(
                        "INSERT INTO outbox (user_id, kind, address, sent_at) VALUES (?1, 'welcome', ?2, ?3)
                         ON CONFLICT DO NOTHING",
                        rusqlite::params![user_id, to, now],
                    )
                    .map(|n| n == 1)
                })
                .await
                .map_err(ApiError::from)
            }
            UserStore::Postgres(pool) => {
                let conn = pool.get().await?;
                let n = conn
                    .execute(
                        "INSERT INTO outbox (user_id, kind, address, sent_at) VALUES ($1, 'welcome', $2, $3)
                         ON CONFLICT DO NOTHING",
                        &[&user_id, &to, &now],
                    )
                    .await
                    .map_err(ApiError::from)?;
                Ok(n == 1)
            }
        }
    }

    pub(crate) async fn get(&self, id: i64) -> Result<Option<User>, ApiError> {
        self.user_by_id(
            id,
            "SELECT id, name, email, age FROM users WHERE id = ?1",
            "SELECT id, name, email, age FROM users WHERE id = $1",
        )
        .await
    }

    /// Deletes user `id` if `allowed` accepts it as it is now, in one
    /// transaction (the row locked meanwhile on PostgreSQL; SQLite's
    /// `BEGIN IMMEDIATE` holds the writer's lock).
    pub(crate) async fn remove_if(
        &self,
        id: i64,
        allowed: impl FnOnce(&User) -> Result<(), ApiError> + Send + 'static,
    ) -> Result<Removal, ApiError> {
        const SELECT: (&str, &str) = (
            "SELECT id, name, email, age FROM users WHERE id = ?1",
            "SELECT id, name, email, age FROM users WHERE id = $1 FOR UPDATE",
        );
        match self {
            UserStore::Sqlite(pool) => {
                let mut conn = pool.get().await?;
                conn.call(move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let user = tx
                        .prepare_cached(SELECT.0)?
                        .query_map([id], sqlite_user)?
                        .next()
                        .transpose()?;
                    let removal = match user {
                        None => Removal::Missing,
                        Some(user) => match allowed(&user) {
                            Err(error) => Removal::Refused(error),
                            Ok(()) => {
                                tx.execute("DELETE FROM users WHERE id = ?1", [id])?;
                                Removal::Removed(user)
                            }
                        },
                    };
                    tx.commit()?;
                    Ok(removal)
                })
                .await
                .map_err(ApiError::from)
            }
            UserStore::Postgres(pool) => {
                let mut conn = pool.get().await?;
                let tx = conn.transaction().await.map_err(ApiError::from)?;
                let row = tx
                    .query_opt(SELECT.1, &[&id])
                    .await
                    .map_err(ApiError::from)?;
                let removal = match row.map(|row| postgres_user(&row)) {
                    None => Removal::Missing,
                    Some(user) => match allowed(&user) {
                        Err(error) => Removal::Refused(error),
                        Ok(()) => {
                            tx.execute("DELETE FROM users WHERE id = $1", &[&id])
                                .await
                                .map_err(ApiError::from)?;
                            Removal::Removed(user)
                        }
                    },
                };
                tx.commit().await.map_err(ApiError::from)?;
                Ok(removal)
            }
        }
    }

    /// Runs a statement that takes an id and yields at most one user row,
    /// in each engine's parameter syntax.
    async fn user_by_id(
        &self,
        id: i64,
        sqlite: &'static str,
        postgres: &'static str,
    ) -> Result<Option<User>, ApiError> {
        match self {
            UserStore::Sqlite(pool) => {
                let mut conn = pool.get().await?;
                conn.call(move |c| {
                    c.prepare_cached(sqlite)?
                        .query_map([id], sqlite_user)?
                        .next()
                        .transpose()
                })
                .await
                .map_err(ApiError::from)
            }
            UserStore::Postgres(pool) => {
                let conn = pool.get().await?;
                let row = conn
                    .query_opt(postgres, &[&id])
                    .await
                    .map_err(ApiError::from)?;
                Ok(row.map(|r| postgres_user(&r)))
            }
        }
    }

    /// `limit` users from `offset` by id, and how many there are (kept by
    /// the writes: no count of the table per request).
    pub(crate) async fn page(&self, offset: u64, limit: u64) -> Result<(Vec<User>, u64), ApiError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match self {
            UserStore::Sqlite(pool) => {
                let mut conn = pool.get().await?;
                conn.call(move |c| {
                    let total: i64 = c
                        .prepare_cached("SELECT n FROM user_count")?
                        .query_row([], |r| r.get(0))?;
                    let users = c
                        .prepare_cached(
                            "SELECT id, name, email, age FROM users ORDER BY id LIMIT ?1 OFFSET ?2",
                        )?
                        .query_map([limit, offset], sqlite_user)?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((users, total.max(0) as u64))
                })
                .await
                .map_err(ApiError::from)
            }
            UserStore::Postgres(pool) => {
                let conn = pool.get().await?;
                // Both queries in flight at once: one round trip, not two.
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&limit, &offset];
                let (total, rows) = tokio::try_join!(
                    conn.query_one("SELECT n FROM user_count", &[]),
                    conn.query(
                        "SELECT id, name, email, age FROM users ORDER BY id LIMIT $1 OFFSET $2",
                        &params,
                    ),
                )
                .map_err(ApiError::from)?;
                let total: i64 = total.get(0);
                Ok((
                    rows.iter().map(postgres_user).collect(),
                    total.max(0) as u64,
                ))
            }
        }
    }

    /// Up to `fetch` users from a cursor's position, by id through the
    /// primary key: ascending from the start or after an id, descending
    /// (nearest first) before one, as `Cursor::page` takes them.
    pub(crate) async fn seek(
        &self,
        position: &Position<i64>,
        fetch: u32,
    ) -> Result<Vec<User>, ApiError> {
        let (id, sqlite, postgres) = match *position {
            Position::Start => (i64::MIN, SEEK_AFTER.0, SEEK_AFTER.1),
            Position::After(id) => (id, SEEK_AFTER.0, SEEK_AFTER.1),
            Position::Before(id) => (id, SEEK_BEFORE.0, SEEK_BEFORE.1),
        };
        let fetch = i64::from(fetch);
        match self {
            UserStore::Sqlite(pool) => {
                let mut conn = pool.get().await?;
                conn.call(move |c| {
                    c.prepare_cached(sqlite)?
                        .query_map([id, fetch], sqlite_user)?
                        .collect::<Result<Vec<_>, _>>()
                })
                .await
                .map_err(ApiError::from)
            }
            UserStore::Postgres(pool) => {
                let conn = pool.get().await?;
                let rows = conn
                    .query(postgres, &[&id, &fetch])
                    .await
                    .map_err(ApiError::from)?;
                Ok(rows.iter().map(postgres_user).collect())
            }
        }
    }
}

/// The statements of [`UserStore::seek`], for SQLite and PostgreSQL.
const SEEK_AFTER: (&str, &str) = (
    "SELECT id, name, email, age FROM users WHERE id > ?1 ORDER BY id LIMIT ?2",
    "SELECT id, name, email, age FROM users WHERE id > $1 ORDER BY id LIMIT $2",
);
const SEEK_BEFORE: (&str, &str) = (
    "SELECT id, name, email, age FROM users WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    "SELECT id, name, email, age FROM users WHERE id < $1 ORDER BY id DESC LIMIT $2",
);

/// A PostgreSQL error: the connection died (the server went away) → 503,
/// anything else → 500.
fn sqlite_user(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        email: row.get(2)?,
        age: row.get(3)?,
    })
}

fn postgres_user(row: &tokio_postgres::Row) -> User {
    User {
        id: row.get(0),
        name: row.get(1),
        email: row.get(2),
        age: row.get(3),
    }
}
