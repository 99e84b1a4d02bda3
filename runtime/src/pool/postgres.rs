//! PostgreSQL connections (tokio-postgres, no TLS: for a database on the
//! same host or private network).

use tokio_postgres::{Client, NoTls};

use super::Manager;

/// Opens PostgreSQL connections from a `postgres://` URL or a
/// `host=… port=… user=…` string.
#[derive(Debug, Clone)]
pub struct PostgresManager {
    config: String,
    setup: Option<String>,
}

impl PostgresManager {
    /// What it connects with.
    pub fn config(&self) -> &str {
        &self.config
    }

    /// Connections as `config` says.
    pub fn new(config: impl Into<String>) -> Self {
        PostgresManager {
            config: config.into(),
            setup: None,
        }
    }

    /// Runs `sql` (one or more statements) on every new connection:
    /// `SET search_path = app`, `SET statement_timeout = '5s'`… A failure
    /// fails the connection.
    pub fn on_connect(mut self, sql: impl Into<String>) -> Self {
        self.setup = Some(sql.into());
        self
    }
}

impl Manager for PostgresManager {
    type Connection = Client;
    type Error = tokio_postgres::Error;

    async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(&self.config, NoTls).await?;
        // The connection object does the I/O; it ends when the client is
        // dropped or the server goes away (then `is_closed` says so).
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "postgres connection ended");
            }
        });
        if let Some(setup) = &self.setup {
            client.batch_execute(setup).await?;
        }
        Ok(client)
    }

    async fn check(&self, conn: &mut Client) -> Result<(), tokio_postgres::Error> {
        conn.simple_query("SELECT 1").await.map(drop)
    }

    async fn reset(&self, conn: &mut Client) -> Result<(), tokio_postgres::Error> {
        // A transaction left open by a panicking user is rolled back.
        conn.batch_execute("ROLLBACK").await.or(Ok(()))
    }

    fn is_broken(&self, conn: &Client) -> bool {
        conn.is_closed()
    }
}
