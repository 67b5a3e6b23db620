//! SQLite storage through sqlx: users, groups, login tokens and the call log.
//!
//! One [`Store`] wraps a connection pool over one database file in WAL mode
//! (`synchronous=NORMAL`: a crash may lose the last transactions, never
//! corrupt the file), with a busy timeout so the call-log writer and logins
//! never fail on a momentary lock. Queries are checked at run time
//! (`sqlx::query`), so building needs no database; the schema lives in
//! `migrations/`, applied at open.
//!
//! - [`users`]: accounts and login tokens.
//! - [`groups`]: groups and their members.
//! - [`calls`]: the call log (write, read, filter, crash recovery).
//! - [`writer`]: the task that batches call-log writes off the routing path.

pub mod calls;
pub mod groups;
pub mod users;
pub mod writer;

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The underlying pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Waits for pending work and closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Checks a user or group id: 1–32 characters from `a-z0-9._-`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = (1..=32).contains(&id.len())
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_owned()))
    }
}

/// Checks a display name: 1–100 characters, no control characters.
pub fn validate_display_name(name: &str) -> Result<()> {
    let count = name.chars().count();
    if count == 0 || count > 100 || name.chars().any(char::is_control) || name.trim().is_empty() {
        return Err(Error::Invalid(format!(
            "{name:?} is not a usable display name: use 1 to 100 printable characters"
        )));
    }
    Ok(())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A `u64` for SQLite's signed integers (saturating; times and durations
/// never come near the limit).
pub(crate) fn to_db(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Back from SQLite (negative values, which the server never writes, become 0).
pub(crate) fn from_db(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The wire name of a unit enum (`CallStatus::Ongoing` → `"ongoing"`).
pub(crate) fn enum_str<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => {
            tracing::error!(?other, "enum did not serialize to a string");
            String::new()
        }
    }
}

/// Parses a wire name back into its enum.
pub(crate) fn parse_enum<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| Error::Invalid(format!("the database holds an unknown value {text:?}")))
}

/// True if `err` is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::Store;

    /// A store on a fresh file in a temporary directory (kept alive by the guard).
    pub async fn temp_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("test.db"))
            .await
            .expect("open store");
        (store, dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_rule() {
        for ok in ["alice", "a", "bob.smith", "x_1-2", &"a".repeat(32)] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Alice", "a b", "ä", &"a".repeat(33), "a/b"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enums_round_trip() {
        use softphone_proto::CallStatus;
        assert_eq!(enum_str(&CallStatus::Ongoing), "ongoing");
        assert_eq!(
            parse_enum::<CallStatus>("busy").ok(),
            Some(CallStatus::Busy)
        );
        assert!(parse_enum::<CallStatus>("nope").is_err());
    }
}
