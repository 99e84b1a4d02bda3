//! SQLite connections (rusqlite, bundled SQLite), with every blocking call
//! run on tokio's blocking threads, never on the async workers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Manager;

/// What runs on every new connection (see [`SqliteManager::on_connect`]).
type Setup = Arc<dyn Fn(&rusqlite::Connection) -> rusqlite::Result<()> + Send + Sync>;

/// Opens SQLite connections to one database file.
#[derive(Clone)]
pub struct SqliteManager {
    target: String,
    busy_timeout: Duration,
    setup: Option<Setup>,
}

impl std::fmt::Debug for SqliteManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteManager")
            .field("target", &self.target)
            .field("busy_timeout", &self.busy_timeout)
            .field("on_connect", &self.setup.is_some())
            .finish()
    }
}

impl SqliteManager {
    /// Connections to the database file at `path` (created if missing), in
    /// WAL mode so that readers do not block the writer.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        SqliteManager {
            target: path.into().to_string_lossy().into_owned(),
            busy_timeout: Duration::from_secs(5),
            setup: None,
        }
    }

    /// From a URL: `sqlite://portico.db` (a file), `sqlite::memory:` (an
    /// in-memory database shared by the pool's connections).
    pub fn from_url(url: &str) -> Option<Self> {
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // The memdb VFS shares one database between the pool's
            // connections with SQLite's ordinary locks, which wait out a
            // busy database; a shared cache would fail at once instead
            // ("database table is locked") when two connections write.
            let name = format!("file:/portico-mem-{}-{n}?vfs=memdb", std::process::id());
            return Some(SqliteManager {
                target: name,
                busy_timeout: Duration::from_secs(5),
                setup: None,
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        (!path.is_empty()).then(|| Self::file(path))
    }

    /// Runs `setup` on every new connection, after Portico's own settings
    /// (busy timeout, WAL, `foreign_keys = ON`): pragmas, functions,
    /// attached databases. A failure fails the connection.
    ///
    /// ```
    /// use portico_runtime::pool::SqliteManager;
    ///
    /// let manager = SqliteManager::file("app.db")
    ///     .on_connect(|conn| conn.pragma_update(None, "synchronous", "NORMAL"));
    /// # let _ = manager;
    /// ```
    pub fn on_connect(
        mut self,
        setup: impl Fn(&rusqlite::Connection) -> rusqlite::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.setup = Some(Arc::new(setup));
        self
    }

    /// Where it connects.
    pub fn target(&self) -> &str {
        &self.target
    }
}

/// Why a SQLite call failed.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    /// SQLite said no.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The connection was lost (a call was cancelled mid-way).
    #[error("the connection was lost")]
    Lost,
    /// The blocking thread panicked.
    #[error("a database call panicked")]
    Panicked,
}

/// A SQLite connection for async code: [`call`](Self::call) runs a closure
/// with the `rusqlite::Connection` on a blocking thread.
pub struct SqliteConnection {
    conn: Option<rusqlite::Connection>,
}

impl std::fmt::Debug for SqliteConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteConnection")
            .field("open", &self.conn.is_some())
            .finish()
    }
}

impl SqliteConnection {
    /// Runs `f` with the connection, off the async threads.
    ///
    /// If the returned future is dropped before it completes, the call
    /// still finishes on its thread, but the connection goes with it: this
    /// `SqliteConnection` is then broken and the pool replaces it.
    pub async fn call<R, F>(&mut self, f: F) -> Result<R, SqliteError>
    where
        F: FnOnce(&mut rusqlite::Connection) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        let mut conn = self.conn.take().ok_or(SqliteError::Lost)?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&mut conn);
            (conn, result)
        })
        .await
        .map_err(|_| SqliteError::Panicked)?;
        self.conn = Some(conn);
        Ok(result?)
    }
}

/// Switches the database file to write-ahead logging, waiting up to `busy`
/// for other connections. SQLite answers `SQLITE_BUSY` at once, without its
/// busy handler, when two fresh connections both read the header and then
/// both ask for the exclusive lock the switch needs (one must back off or
/// they would deadlock), so the wait is done here.
fn use_wal(conn: &rusqlite::Connection, busy: Duration) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + busy;
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() + pause < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            done => return done,
        }
    }
}

impl Manager for SqliteManager {
    type Connection = SqliteConnection;
    type Error = SqliteError;

    async fn connect(&self) -> Result<SqliteConnection, SqliteError> {
        let target = self.target.clone();
        let busy = self.busy_timeout;
        let setup = self.setup.clone();
        let conn = tokio::task::spawn_blocking(move || {
            let flags = rusqlite::OpenFlags::default() | rusqlite::OpenFlags::SQLITE_OPEN_URI;
            let conn = rusqlite::Connection::open_with_flags(&target, flags)?;
            conn.busy_timeout(busy)?;
            if !target.starts_with("file:") {
                use_wal(&conn, busy)?;
            }
            conn.pragma_update(None, "foreign_keys", "ON")?;
            if let Some(setup) = setup {
                setup(&conn)?;
            }
            Ok::<_, rusqlite::Error>(conn)
        })
        .await
        .map_err(|_| SqliteError::Panicked)??;
        Ok(SqliteConnection { conn: Some(conn) })
    }

    async fn check(&self, conn: &mut SqliteConnection) -> Result<(), SqliteError> {
        conn.call(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }

    async fn reset(&self, conn: &mut SqliteConnection) -> Result<(), SqliteError> {
        conn.call(|c| {
            if c.is_autocommit() {
                Ok(())
            } else {
                c.execute_batch("ROLLBACK")
            }
        })
        .await
    }

    fn is_broken(&self, conn: &SqliteConnection) -> bool {
        conn.conn.is_none()
    }
}
