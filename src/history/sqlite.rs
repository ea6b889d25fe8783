//! The embedded SQLite history: one file, WAL journal, created and migrated on start.

use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};

use super::sql::SqlStore;
use crate::dialect::Dialect;

/// History in a SQLite file.
pub type SqliteStore = SqlStore<Sqlite>;

/// Opens (creating if missing) the file a `sqlite://path` URL names; nothing is read until
/// the first statement.
pub fn open(url: &str) -> Result<SqliteStore, String> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| format!("history.url: {e}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .disable_statement_logging();
    let name = format!("sqlite:{}", options.get_filename().display());
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_lazy_with(options);
    Ok(SqlStore::new(pool, name, Dialect::Sqlite, |r| {
        r.rows_affected()
    }))
}
