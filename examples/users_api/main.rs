//! The flagship Portico app: a users API.
//!
//! ```text
//! cargo run --example users_api                              # serve on PORTICO_ADDR
//! cargo run --example users_api -- --routes                  # print the route table
//! cargo run --example users_api -- token --sub 42 --role admin   # print a signed token
//! ```
//!
//! Settings (environment): PORTICO_ADDR (127.0.0.1:8080), PORTICO_DATABASE_URL
//! (sqlite://portico.db; postgres://… for PostgreSQL), PORTICO_JWT_SECRET
//! (at least 32 bytes; a development secret otherwise, with a warning),
//! PORTICO_RATE_CAPACITY (100), PORTICO_RATE_REFILL_PER_SEC (10),
//! PORTICO_IDEMPOTENCY_TTL_SECS (86400), PORTICO_IDEMPOTENCY_LEASE_SECS (60),
//! PORTICO_TASK_LEASE_SECS (30), PORTICO_METRICS_TOKEN (unset: `/metrics`
//! is open; required when PORTICO_ENV=production), PORTICO_STATE_URL
//! (unset: rate-limit buckets in this process; redis://… or postgres://…
//! to share them between instances).

mod app;
mod secret;
mod store;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use app::Settings;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> Result<T, portico::Error> {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().map_err(|_| portico::Error::Config {
            name: name.to_owned(),
            message: format!("`{text}` is not a valid value"),
        }),
        Err(_) => Ok(default),
    }
}

fn settings() -> Result<Settings, portico::Error> {
    let defaults = Settings::default();
    let database_url = std::env::var("PORTICO_DATABASE_URL").unwrap_or(defaults.database_url);
    let production = std::env::var("PORTICO_ENV").is_ok_and(|env| env == "production");
    let jwt_secret = match std::env::var("PORTICO_JWT_SECRET") {
        Ok(secret) => secret.into_bytes(),
        Err(_) if production => {
            return Err(portico::Error::Config {
                name: "PORTICO_JWT_SECRET".into(),
                message: "must be set when PORTICO_ENV=production (at least 32 random bytes)"
                    .into(),
            });
        }
        Err(_) => secret::load_or_create(secret::file_for(&database_url).as_deref())?,
    };
    Ok(Settings {
        database_url,
        jwt_secret,
        rate_capacity: setting("PORTICO_RATE_CAPACITY", defaults.rate_capacity)?,
        rate_refill_per_sec: setting("PORTICO_RATE_REFILL_PER_SEC", defaults.rate_refill_per_sec)?,
        idempotency_ttl: Duration::from_secs(setting(
            "PORTICO_IDEMPOTENCY_TTL_SECS",
            defaults.idempotency_ttl.as_secs(),
        )?),
        idempotency_lease: Duration::from_secs(setting(
            "PORTICO_IDEMPOTENCY_LEASE_SECS",
            defaults.idempotency_lease.as_secs(),
        )?),
        task_lease: Duration::from_secs(setting(
            "PORTICO_TASK_LEASE_SECS",
            defaults.task_lease.as_secs(),
        )?),
        state_url: std::env::var("PORTICO_STATE_URL").ok(),
        metrics_token: match std::env::var("PORTICO_METRICS_TOKEN") {
            Ok(token) if token.len() >= 16 => Some(token),
            Ok(_) => {
                return Err(portico::Error::Config {
                    name: "PORTICO_METRICS_TOKEN".into(),
                    message: "must be at least 16 characters".into(),
                });
            }
            Err(_) if production => {
                return Err(portico::Error::Config {
                    name: "PORTICO_METRICS_TOKEN".into(),
                    message: "must be set when PORTICO_ENV=production: /metrics is served to \
                              whoever holds it"
                        .into(),
                });
            }
            Err(_) => None,
        },
    })
}

/// `token --sub 42 --role admin`.
fn token(args: &[String]) -> Result<String, portico::Error> {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .ok_or_else(|| portico::Error::Config {
                name: flag.to_owned(),
                message: "usage: users_api token --sub <subject> --role <role>".into(),
            })
    };
    settings()?.token(&value("--sub")?, &value("--role")?)
}

/// Prints the route table, on a throwaway in-memory database.
async fn routes() -> Result<(), portico::Error> {
    let settings = Settings {
        database_url: "sqlite::memory:".into(),
        jwt_secret: secret::load_or_create(None)?,
        ..Settings::default()
    };
    print!("{}", app::app(&settings).await?.routes());
    Ok(())
}

/// Prints the OpenAPI document (what `GET /openapi.json` serves), on a
/// throwaway in-memory database.
async fn openapi() -> Result<(), portico::Error> {
    let settings = Settings {
        database_url: "sqlite::memory:".into(),
        jwt_secret: secret::load_or_create(None)?,
        ..Settings::default()
    };
    let document = app::app(&settings).await?.openapi_document();
    let text = serde_json::to_string_pretty(&document).map_err(|err| portico::Error::Config {
        name: "--openapi".into(),
        message: err.to_string(),
    })?;
    println!("{text}");
    Ok(())
}

async fn serve() -> Result<(), portico::Error> {
    let addr = setting("PORTICO_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?;
    let settings = settings()?;
    let server = app::app(&settings).await?.bind(addr).await?;
    eprintln!("users_api listening on http://{}", server.local_addr());
    server.run().await
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--routes") => routes().await,
        Some("--openapi") => openapi().await,
        Some("token") => token(&args).map(|token| println!("{token}")),
        Some(other) => Err(portico::Error::Config {
            name: other.to_owned(),
            message:
                "unknown argument; use --routes, --openapi or token --sub <subject> --role <role>"
                    .into(),
        }),
        None => serve().await.map(|()| eprintln!("users_api stopped")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("users_api: {err}");
            ExitCode::FAILURE
        }
    }
}
