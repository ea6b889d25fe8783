//! PostgreSQL history, which several ragwatch replicas can share (each writes as its own
//! observer). The schema is created and migrated on start.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, Postgres};

use super::sql::SqlStore;
use crate::config::{CaFile, Login};
use crate::connect;
use crate::dialect::Dialect;
use crate::net;

/// History in a PostgreSQL database.
pub type PostgresStore = SqlStore<Postgres>;

/// Connects to the database a `postgres://` login names, on first use, with a bounded wait
/// for a connection; its TLS trusts `ca_file` too.
pub fn open(
    login: &Login,
    timeout: Duration,
    ca_file: Option<&CaFile>,
) -> Result<PostgresStore, String> {
    let options = connect_options(login, ca_file)?;
    let name = format!("postgres {}", login.host_port(5432));
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(timeout)
        .connect_lazy_with(options);
    Ok(SqlStore::new(pool, name, Dialect::Postgres, |r| {
        r.rows_affected()
    }))
}

/// How to reach the database a `postgres://` login names, its TLS trusting `ca_file` too;
/// the history's pool and the cluster's lease both connect so.
pub fn connect_options(
    login: &Login,
    ca_file: Option<&CaFile>,
) -> Result<PgConnectOptions, String> {
    let options = connect::postgres(login).map_err(|e| format!("history.url: {e}"))?;
    net::postgres_tls(options, ca_file).map_err(|e| format!("history.url: {e}"))
}
