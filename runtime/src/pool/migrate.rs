//! Versioned schema migrations on the pool: ordered SQL steps, each
//! applied once, in a transaction with the row that records it, safe
//! when several instances start at once.

// Without a database engine there is nothing to run migrations on.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use std::borrow::Cow;

/// Why a migration could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// No connection to run it on.
    #[error("no connection for the migrations: {0}")]
    Connection(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A step failed; it and everything after it were not applied.
    #[error("migration {version} failed: {source}")]
    Step {
        /// Its version (its place in the list, from 1).
        version: usize,
        /// What the database said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database records more steps than this build knows: it was
    /// migrated by a newer version of the app.
    #[error("the database is at version {found}, newer than this app's {known}")]
    Newer {
        /// The version recorded.
        found: usize,
        /// The steps this app has.
        known: usize,
    },
}

/// An ordered list of SQL steps; step `n` (from 1) is version `n`. A
/// table (default `schema_version`, one `version` column) records the
/// versions applied. Add steps at the end; never change one that ran.
///
/// ```no_run
/// # async fn run(pool: portico_runtime::pool::Pool<portico_runtime::pool::SqliteManager>) -> Result<(), Box<dyn std::error::Error>> {
/// use portico_runtime::pool::Migrations;
///
/// let applied = Migrations::new([
///     "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
///     "ALTER TABLE users ADD COLUMN email TEXT",
/// ])
/// .run_sqlite(&pool)
/// .await?;
/// # let _ = applied; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Migrations {
    steps: Vec<Cow<'static, str>>,
    table: Cow<'static, str>,
}

impl Migrations {
    /// These steps, in order.
    pub fn new<S: Into<Cow<'static, str>>>(steps: impl IntoIterator<Item = S>) -> Self {
        Migrations {
            steps: steps.into_iter().map(Into::into).collect(),
            table: Cow::Borrowed("schema_version"),
        }
    }

    /// Records versions in `table` instead of `schema_version` (a plain
    /// SQL name, as written in a statement).
    pub fn table(mut self, table: &'static str) -> Self {
        self.table = Cow::Borrowed(table);
        self
    }

    fn check(&self, found: usize) -> Result<(), MigrationError> {
        if found > self.steps.len() {
            return Err(MigrationError::Newer {
                found,
                known: self.steps.len(),
            });
        }
        Ok(())
    }

    /// Applies the steps `pool`'s SQLite database lacks, each in a write
    /// transaction taken at once (`BEGIN IMMEDIATE`: a second instance
    /// waits, then finds the step done); how many it applied.
    #[cfg(feature = "sqlite")]
    pub async fn run_sqlite(
        &self,
        pool: &super::Pool<super::SqliteManager>,
    ) -> Result<usize, MigrationError> {
        let mut conn = pool
            .get()
            .await
            .map_err(|e| MigrationError::Connection(Box::new(e)))?;
        let this = self.clone();
        conn.call(move |c| {
            c.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {} (version INTEGER NOT NULL)",
                this.table
            ))?;
            let mut applied = 0;
            for (i, step) in this.steps.iter().enumerate() {
                let version = i + 1;
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let done: i64 = tx.query_row(
                    &format!("SELECT COALESCE(MAX(version), 0) FROM {}", this.table),
                    [],
                    |row| row.get(0),
                )?;
                let done = usize::try_from(done).unwrap_or(0);
                if let Err(newer) = this.check(done) {
                    return Ok(Err(newer));
                }
                if done >= version {
                    continue;
                }
                if let Err(source) = tx.execute_batch(step) {
                    return Ok(Err(MigrationError::Step {
                        version,
                        source: Box::new(source),
                    }));
                }
                tx.execute(
                    &format!("INSERT INTO {} (version) VALUES (?1)", this.table),
                    [version as i64],
                )?;
                tx.commit()?;
                applied += 1;
            }
            Ok(Ok(applied))
        })
        .await
        .map_err(|e| MigrationError::Connection(Box::new(e)))?
    }

    /// Applies the steps `pool`'s PostgreSQL database lacks, each in a
    /// transaction holding an advisory lock (a second instance waits,
    /// then finds the step done); how many it applied.
    #[cfg(feature = "postgres")]
    pub async fn run_postgres(
        &self,
        pool: &super::Pool<super::PostgresManager>,
    ) -> Result<usize, MigrationError> {
        /// The advisory lock's key: "portico" in ASCII.
        const LOCK: i64 = 0x0070_6f72_7469_636f;
        let connection = |e: tokio_postgres::Error| MigrationError::Connection(Box::new(e));
        let mut conn = pool
            .get()
            .await
            .map_err(|e| MigrationError::Connection(Box::new(e)))?;
        // A transaction's lock, released only once the table is committed:
        // a session lock released inside the statement's own transaction
        // let a second instance in before the table was visible, fail on
        // the catalog, and keep the lock (session locks outlive a rollback).
        let tx = conn.transaction().await.map_err(connection)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
            .await
            .map_err(connection)?;
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} (version INTEGER NOT NULL)",
            self.table
        ))
        .await
        .map_err(connection)?;
        tx.commit().await.map_err(connection)?;
        let mut applied = 0;
        for (i, step) in self.steps.iter().enumerate() {
            let version = i + 1;
            let tx = conn.transaction().await.map_err(connection)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
                .await
                .map_err(connection)?;
            let done: i32 = tx
                .query_one(
                    &format!("SELECT COALESCE(MAX(version), 0) FROM {}", self.table),
                    &[],
                )
                .await
                .map_err(connection)?
                .get(0);
            let done = usize::try_from(done).unwrap_or(0);
            self.check(done)?;
            if done >= version {
                continue;
            }
            tx.batch_execute(step)
                .await
                .map_err(|e| MigrationError::Step {
                    version,
                    source: Box::new(e),
                })?;
            tx.execute(
                &format!("INSERT INTO {} (version) VALUES ($1)", self.table),
                &[&(version as i32)],
            )
            .await
            .map_err(connection)?;
            tx.commit().await.map_err(connection)?;
            applied += 1;
        }
        Ok(applied)
    }
}
