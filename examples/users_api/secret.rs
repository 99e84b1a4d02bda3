//! The JWT secret when `PORTICO_JWT_SECRET` is not set: never a value
//! anyone could know. In development the app makes a random one the first
//! time and keeps it beside the database, readable by its owner only (as
//! Rails keeps its development secret), so `users_api token` signs with
//! what the server verifies; with `PORTICO_ENV=production` it refuses to
//! start instead.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Where the generated secret lives for `database_url`: beside an SQLite
/// file; nowhere for an in-memory database (its secret lives as long as
/// its data); `portico.secret` in the working directory otherwise.
pub(crate) fn file_for(database_url: &str) -> Option<PathBuf> {
    match database_url.strip_prefix("sqlite://") {
        Some(file) => Some(PathBuf::from(format!("{file}.secret"))),
        None if database_url.starts_with("sqlite::memory:") => None,
        None => Some(PathBuf::from("portico.secret")),
    }
}

/// The secret kept in `file`, made (32 random bytes, hex, mode 0600) when
/// there is none yet.
pub(crate) fn load_or_create(file: Option<&Path>) -> Result<Vec<u8>, portico::Error> {
    let Some(file) = file else {
        return random_hex();
    };
    match fs::read_to_string(file) {
        Ok(text) => return Ok(text.trim().as_bytes().to_vec()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(config(format!("cannot read {}: {err}", file.display()))),
    }
    let secret = random_hex()?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(mut out) => {
            out.write_all(&secret)
                .map_err(|err| config(format!("cannot write {}: {err}", file.display())))?;
            eprintln!(
                "users_api: made a JWT secret for development in {} (set PORTICO_JWT_SECRET in production)",
                file.display()
            );
            Ok(secret)
        }
        // Another process made it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(Some(file)),
        Err(err) => Err(config(format!("cannot create {}: {err}", file.display()))),
    }
}

/// 32 bytes from the operating system's random source, as 64 hex digits.
fn random_hex() -> Result<Vec<u8>, portico::Error> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(|err| config(format!("cannot read /dev/urandom for a secret: {err}")))?;
    Ok(bytes
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect())
}

fn config(message: String) -> portico::Error {
    portico::Error::Config {
        name: "PORTICO_JWT_SECRET".into(),
        message,
    }
}
