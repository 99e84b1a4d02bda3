//! What components that keep their state in the app's database share: the
//! engine they name, and the clock their rows are stamped with.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch: the clock of the state kept
/// in a database (leases, expiries, schedules). Instances sharing one
/// database must keep their clocks in step (NTP), as leases are seconds
/// long.
pub(crate) fn now_ms() -> i64 {
    epoch_ms(SystemTime::now())
}

/// `at` in milliseconds since the Unix epoch.
pub(crate) fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `d` in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A database engine a pool can reach: where a component that keeps its
/// state in the app's database (idempotency records, tasks) says it does,
/// so that a handler's transaction can write that state too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlEngine {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}
