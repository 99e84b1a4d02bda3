//! Idempotency records in the app's own database, SQLite or PostgreSQL:
//! one table, `portico_idempotency`, written by the layer and — when a
//! handler asks — inside the handler's own transaction.
//!
//! Every change to a running record names the attempt's fencing token,
//! and taking over a key is one conditional upsert, so two instances
//! racing for one key cannot both start it. Times are the app's clock in
//! milliseconds since the Unix epoch: instances sharing a database must
//! keep their clocks in step (NTP), as leases are seconds long.

// Without a database engine only the shared pieces are left, unused.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(dead_code, unused_imports)
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::pool::{millis as ms, now_ms};

use bytes::Bytes;

use super::store::{Begin, RecordKey, StoreError, StoredResponse, Token};

/// The table.
pub(crate) const TABLE: &str = "portico_idempotency";

/// Expired rows are deleted once every this many attempts.
const PURGE_EVERY: u64 = 1024;

pub(crate) use crate::pool::SqlEngine;

fn backend(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(err))
}

/// Whether to purge now: one call in [`PURGE_EVERY`].
fn purge_due(counter: &AtomicU64) -> bool {
    counter.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1
}

/// A found row, as the layer needs it.
struct Row {
    fingerprint: Vec<u8>,
    running: bool,
    until_ms: i64,
    status: Option<i64>,
    headers: Option<String>,
    body: Option<Vec<u8>>,
}

impl Row {
    /// What `begin` answers for a row that still holds its key.
    fn classify(self, fingerprint: &[u8; 32], now: i64) -> Begin {
        if self.fingerprint != fingerprint {
            return Begin::Mismatch;
        }
        if self.running {
            let left = u64::try_from(self.until_ms.saturating_sub(now)).unwrap_or(0);
            return Begin::Running {
                retry_after: Duration::from_millis(left),
            };
        }
        Begin::Done(StoredResponse {
            status: self
                .status
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(500),
            headers: self
                .headers
                .and_then(|h| serde_json::from_str(&h).ok())
                .unwrap_or_default(),
            body: Bytes::from(self.body.unwrap_or_default()),
        })
    }
}

fn headers_json(response: &StoredResponse) -> String {
    serde_json::to_string(&response.headers).unwrap_or_else(|_| "[]".into())
}

#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteStore;
#[cfg(feature = "sqlite")]
pub(crate) use self::sqlite::complete as sqlite_complete;

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;

    use rusqlite::{OptionalExtension, params};

    use crate::idempotency::store::{IdempotencyStore, StoreFuture};
    use crate::pool::{Pool, SqliteError, SqliteManager};

    /// Idempotency records in a SQLite database, through the app's pool.
    /// Survives restarts; a handler can record its answer in the same
    /// transaction as its own writes ([`Idempotent::record_sqlite`](crate::idempotency::Idempotent::record_sqlite)).
    #[derive(Debug)]
    pub struct SqliteStore {
        pool: Pool<SqliteManager>,
        attempts: AtomicU64,
    }

    impl SqliteStore {
        /// Records in `pool`'s database; creates the table if missing.
        pub async fn new(pool: Pool<SqliteManager>) -> Result<Self, StoreError> {
            let store = SqliteStore {
                pool,
                attempts: AtomicU64::new(0),
            };
            store
                .run(|c| {
                    c.execute_batch(&format!(
                        "CREATE TABLE IF NOT EXISTS {TABLE} (
                            scope TEXT NOT NULL,
                            key TEXT NOT NULL,
                            fingerprint BLOB NOT NULL,
                            token INTEGER NOT NULL,
                            running INTEGER NOT NULL,
                            until_ms INTEGER NOT NULL,
                            status INTEGER,
                            headers TEXT,
                            body BLOB,
                            PRIMARY KEY (scope, key)
                        );
                        CREATE INDEX IF NOT EXISTS {TABLE}_until ON {TABLE} (until_ms);"
                    ))
                })
                .await?;
            Ok(store)
        }

        async fn run<R: Send + 'static>(
            &self,
            f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
        ) -> Result<R, StoreError> {
            let mut conn = self.pool.get().await.map_err(backend)?;
            conn.call(f).await.map_err(|err: SqliteError| backend(err))
        }
    }

    /// Takes the key for a new attempt unless a live record holds it.
    fn start(
        c: &rusqlite::Connection,
        key: &RecordKey,
        fingerprint: &[u8; 32],
        lease: Duration,
        now: i64,
    ) -> rusqlite::Result<Option<Token>> {
        c.prepare_cached(&format!(
            "INSERT INTO {TABLE} (scope, key, fingerprint, token, running, until_ms)
             VALUES (?1, ?2, ?3, 1, 1, ?4)
             ON CONFLICT (scope, key) DO UPDATE SET
                fingerprint = excluded.fingerprint, token = {TABLE}.token + 1, running = 1,
                until_ms = excluded.until_ms, status = NULL, headers = NULL, body = NULL
             WHERE {TABLE}.until_ms <= ?5
             RETURNING token"
        ))?
        .query_row(
            params![
                key.scope,
                key.key,
                &fingerprint[..],
                now.saturating_add(ms(lease)),
                now
            ],
            |row| row.get(0),
        )
        .optional()
    }

    fn find(c: &rusqlite::Connection, key: &RecordKey) -> rusqlite::Result<Option<Row>> {
        c.prepare_cached(&format!(
            "SELECT fingerprint, running, until_ms, status, headers, body FROM {TABLE}
             WHERE scope = ?1 AND key = ?2"
        ))?
        .query_row(params![key.scope, key.key], |row| {
            Ok(Row {
                fingerprint: row.get(0)?,
                running: row.get(1)?,
                until_ms: row.get(2)?,
                status: row.get(3)?,
                headers: row.get(4)?,
                body: row.get(5)?,
            })
        })
        .optional()
    }

    /// Stores attempt `token`'s answer; `false` when it no longer owns the
    /// key. Runs on whatever connection or transaction it is given.
    pub(crate) fn complete(
        c: &rusqlite::Connection,
        key: &RecordKey,
        token: Token,
        response: &StoredResponse,
        ttl: Duration,
    ) -> rusqlite::Result<bool> {
        let changed = c
            .prepare_cached(&format!(
                "UPDATE {TABLE} SET running = 0, until_ms = ?4, status = ?5, headers = ?6, body = ?7
                 WHERE scope = ?1 AND key = ?2 AND token = ?3 AND running = 1"
            ))?
            .execute(params![
                key.scope,
                key.key,
                token,
                now_ms().saturating_add(ms(ttl)),
                response.status,
                headers_json(response),
                &response.body[..],
            ])?;
        Ok(changed == 1)
    }

    impl IdempotencyStore for SqliteStore {
        fn begin<'a>(
            &'a self,
            key: &'a RecordKey,
            fingerprint: [u8; 32],
            lease: Duration,
        ) -> StoreFuture<'a, Begin> {
            let key = key.clone();
            let purge = purge_due(&self.attempts);
            Box::pin(self.run(move |c| {
                let now = now_ms();
                if purge {
                    c.execute(&format!("DELETE FROM {TABLE} WHERE until_ms < ?1"), [now])?;
                }
                // A record that lapses between the two statements frees the
                // key: the second round takes it.
                for _ in 0..2 {
                    if let Some(token) = start(c, &key, &fingerprint, lease, now)? {
                        return Ok(Begin::Started(token));
                    }
                    if let Some(row) = find(c, &key)?.filter(|row| row.until_ms > now) {
                        return Ok(row.classify(&fingerprint, now));
                    }
                }
                Ok(Begin::Running {
                    retry_after: Duration::from_secs(1),
                })
            }))
        }

        fn renew<'a>(
            &'a self,
            key: &'a RecordKey,
            token: Token,
            lease: Duration,
        ) -> StoreFuture<'a, bool> {
            let key = key.clone();
            Box::pin(self.run(move |c| {
                let changed = c
                    .prepare_cached(&format!(
                        "UPDATE {TABLE} SET until_ms = ?4
                         WHERE scope = ?1 AND key = ?2 AND token = ?3 AND running = 1"
                    ))?
                    .execute(params![
                        key.scope,
                        key.key,
                        token,
                        now_ms().saturating_add(ms(lease))
                    ])?;
                Ok(changed == 1)
            }))
        }

        fn complete<'a>(
            &'a self,
            key: &'a RecordKey,
            token: Token,
            response: &'a StoredResponse,
            ttl: Duration,
        ) -> StoreFuture<'a, bool> {
            let (key, response) = (key.clone(), response.clone());
            Box::pin(self.run(move |c| complete(c, &key, token, &response, ttl)))
        }

        fn release<'a>(&'a self, key: &'a RecordKey, token: Token) -> StoreFuture<'a, ()> {
            let key = key.clone();
            Box::pin(self.run(move |c| {
                c.prepare_cached(&format!(
                    "DELETE FROM {TABLE} WHERE scope = ?1 AND key = ?2 AND token = ?3 AND running = 1"
                ))?
                .execute(params![key.scope, key.key, token])
                .map(drop)
            }))
        }

        fn engine(&self) -> Option<SqlEngine> {
            Some(SqlEngine::Sqlite)
        }
    }
}

#[cfg(feature = "postgres")]
pub use self::postgres::PostgresStore;
#[cfg(feature = "postgres")]
pub(crate) use self::postgres::complete as postgres_complete;

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    use tokio_postgres::GenericClient;

    use crate::idempotency::store::{IdempotencyStore, StoreFuture};
    use crate::pool::{Pool, PostgresManager};

    /// Idempotency records in a PostgreSQL database, through the app's
    /// pool: shared by every instance that uses the database; a handler
    /// can record its answer in the same transaction as its own writes
    /// (`Idempotent::record_postgres`).
    #[derive(Debug)]
    pub struct PostgresStore {
        pool: Pool<PostgresManager>,
        attempts: AtomicU64,
    }

    impl PostgresStore {
        /// Records in `pool`'s database; creates the table if missing.
        pub async fn new(pool: Pool<PostgresManager>) -> Result<Self, StoreError> {
            let store = PostgresStore {
                pool,
                attempts: AtomicU64::new(0),
            };
            let conn = store.pool.get().await.map_err(backend)?;
            conn.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {TABLE} (
                    scope TEXT NOT NULL,
                    key TEXT NOT NULL,
                    fingerprint BYTEA NOT NULL,
                    token BIGINT NOT NULL,
                    running BOOLEAN NOT NULL,
                    until_ms BIGINT NOT NULL,
                    status INTEGER,
                    headers TEXT,
                    body BYTEA,
                    PRIMARY KEY (scope, key)
                );
                CREATE INDEX IF NOT EXISTS {TABLE}_until ON {TABLE} (until_ms);"
            ))
            .await
            .map_err(backend)?;
            Ok(store)
        }

        async fn begin_on(
            &self,
            conn: &tokio_postgres::Client,
            key: &RecordKey,
            fingerprint: [u8; 32],
            lease: Duration,
        ) -> Result<Begin, tokio_postgres::Error> {
            let now = now_ms();
            if purge_due(&self.attempts) {
                conn.execute(&format!("DELETE FROM {TABLE} WHERE until_ms < $1"), &[&now])
                    .await?;
            }
            for _ in 0..2 {
                let started = conn
                    .query_opt(
                        &format!(
                            "INSERT INTO {TABLE} (scope, key, fingerprint, token, running, until_ms)
                             VALUES ($1, $2, $3, 1, TRUE, $4)
                             ON CONFLICT (scope, key) DO UPDATE SET
                                fingerprint = excluded.fingerprint, token = {TABLE}.token + 1,
                                running = TRUE, until_ms = excluded.until_ms,
                                status = NULL, headers = NULL, body = NULL
                             WHERE {TABLE}.until_ms <= $5
                             RETURNING token"
                        ),
                        &[
                            &key.scope,
                            &key.key,
                            &&fingerprint[..],
                            &now.saturating_add(ms(lease)),
                            &now,
                        ],
                    )
                    .await?;
                if let Some(row) = started {
                    return Ok(Begin::Started(row.get(0)));
                }
                let found = conn
                    .query_opt(
                        &format!(
                            "SELECT fingerprint, running, until_ms, status, headers, body FROM {TABLE}
                             WHERE scope = $1 AND key = $2"
                        ),
                        &[&key.scope, &key.key],
                    )
                    .await?;
                if let Some(row) = found {
                    let row = Row {
                        fingerprint: row.get(0),
                        running: row.get(1),
                        until_ms: row.get(2),
                        status: row.get::<_, Option<i32>>(3).map(i64::from),
                        headers: row.get(4),
                        body: row.get(5),
                    };
                    if row.until_ms > now {
                        return Ok(row.classify(&fingerprint, now));
                    }
                }
            }
            Ok(Begin::Running {
                retry_after: Duration::from_secs(1),
            })
        }
    }

    /// Stores attempt `token`'s answer; `false` when it no longer owns the
    /// key. Runs on a client or inside a transaction.
    pub(crate) async fn complete(
        c: &impl GenericClient,
        key: &RecordKey,
        token: Token,
        response: &StoredResponse,
        ttl: Duration,
    ) -> Result<bool, tokio_postgres::Error> {
        let changed = c
            .execute(
                &format!(
                    "UPDATE {TABLE} SET running = FALSE, until_ms = $4, status = $5, headers = $6, body = $7
                     WHERE scope = $1 AND key = $2 AND token = $3 AND running"
                ),
                &[
                    &key.scope,
                    &key.key,
                    &token,
                    &now_ms().saturating_add(ms(ttl)),
                    &i32::from(response.status),
                    &headers_json(response),
                    &&response.body[..],
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    impl IdempotencyStore for PostgresStore {
        fn begin<'a>(
            &'a self,
            key: &'a RecordKey,
            fingerprint: [u8; 32],
            lease: Duration,
        ) -> StoreFuture<'a, Begin> {
            Box::pin(async move {
                let conn = self.pool.get().await.map_err(backend)?;
                self.begin_on(&conn, key, fingerprint, lease)
                    .await
                    .map_err(backend)
            })
        }

        fn renew<'a>(
            &'a self,
            key: &'a RecordKey,
            token: Token,
            lease: Duration,
        ) -> StoreFuture<'a, bool> {
            Box::pin(async move {
                let conn = self.pool.get().await.map_err(backend)?;
                let changed = conn
                    .execute(
                        &format!(
                            "UPDATE {TABLE} SET until_ms = $4
                             WHERE scope = $1 AND key = $2 AND token = $3 AND running"
                        ),
                        &[
                            &key.scope,
                            &key.key,
                            &token,
                            &now_ms().saturating_add(ms(lease)),
                        ],
                    )
                    .await
                    .map_err(backend)?;
                Ok(changed == 1)
            })
        }

        fn complete<'a>(
            &'a self,
            key: &'a RecordKey,
            token: Token,
            response: &'a StoredResponse,
            ttl: Duration,
        ) -> StoreFuture<'a, bool> {
            Box::pin(async move {
                let conn = self.pool.get().await.map_err(backend)?;
                complete(&*conn, key, token, response, ttl)
                    .await
                    .map_err(backend)
            })
        }

        fn release<'a>(&'a self, key: &'a RecordKey, token: Token) -> StoreFuture<'a, ()> {
            Box::pin(async move {
                let conn = self.pool.get().await.map_err(backend)?;
                conn.execute(
                    &format!(
                        "DELETE FROM {TABLE} WHERE scope = $1 AND key = $2 AND token = $3 AND running"
                    ),
                    &[&key.scope, &key.key, &token],
                )
                .await
                .map(drop)
                .map_err(backend)
            })
        }

        fn engine(&self) -> Option<SqlEngine> {
            Some(SqlEngine::Postgres)
        }
    }
}
