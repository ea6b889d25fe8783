//! PostgreSQL history, which several ragwatch replicas can share (each writes as its own
//! observer). The schema is created and migrated on start.

use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, Postgres};

use super::sql::SqlStore;
use crate::config::CaFile;
use crate::dialect::Dialect;
use crate::net;

/// History in a PostgreSQL database.
pub type PostgresStore = SqlStore<Postgres>;

/// Connects to the database a `postgres://` URL names, on first use, with a bounded wait
/// for a connection; its TLS trusts `ca_file` too.
pub fn open(
    url: &url::Url,
    timeout: Duration,
    ca_file: Option<&CaFile>,
) -> Result<PostgresStore, String> {
    let options = PgConnectOptions::from_url(url)
        .map_err(|e| format!("history.url: {e}"))?
        .application_name("ragwatch")
        .disable_statement_logging();
    let options = net::postgres_tls(options, ca_file).map_err(|e| format!("history.url: {e}"))?;
    let name = format!("postgres {}", crate::config::host_port(url, 5432));
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(timeout)
        .connect_lazy_with(options);
    Ok(SqlStore::new(pool, name, Dialect::Postgres, |r| {
        r.rows_affected()
    }))
}
