//! PostgreSQL: `SELECT 1`, then version, connections in use / max and uptime. The
//! PostgreSQL-protocol document engines (GaussDB, SereneDB): `SELECT 1`, then the version.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};

use super::kept::Kept;
use super::sql::{self, SqlFacts, SqlRefusal, SqlTarget};
use super::{Outcome, Probe, ProbeError};
use crate::config::{CaFile, KeyError, Login};
use crate::{connect, net};

/// Default PostgreSQL port.
const POSTGRES_PORT: u16 = 5432;

/// Facts read in one round trip after `SELECT 1`.
const DETAILS_QUERY: &str = "SELECT current_setting('server_version'), \
     current_setting('max_connections')::bigint, \
     (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), \
     extract(epoch FROM now() - pg_postmaster_start_time())::bigint";

/// Probes a PostgreSQL server over one kept connection.
pub struct PostgresProbe {
    options: PgConnectOptions,
    target: SqlTarget,
    facts: SqlFacts,
    connection: Kept<PgConnection>,
}

impl PostgresProbe {
    /// Reads connection options from the login whose URL is configured at `key`; its TLS
    /// trusts `ca_file` too.
    pub fn new(
        login: &Login,
        key: &str,
        facts: SqlFacts,
        ca_file: Option<&CaFile>,
    ) -> Result<Self, KeyError> {
        let options = connect::postgres(login).map_err(|e| KeyError::new(key, e.to_string()))?;
        let options = net::postgres_tls(options, ca_file).map_err(|e| KeyError::new(key, e))?;
        Ok(Self {
            options,
            target: SqlTarget::from_login(login, POSTGRES_PORT, "postgres"),
            facts,
            connection: Kept::new(),
        })
    }

    fn error(&self, error: sqlx::Error) -> ProbeError {
        self.target.error(error, |db| match db.code().as_deref() {
            // invalid_password, invalid_authorization_specification
            Some("28P01" | "28000") => SqlRefusal::Auth,
            // invalid_catalog_name
            Some("3D000") => SqlRefusal::UnknownDatabase,
            _ => SqlRefusal::Other,
        })
    }

    async fn query(&self, conn: &mut PgConnection) -> Result<Outcome, sqlx::Error> {
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        let SqlFacts::Version { product_version } = self.facts else {
            return self.server_facts(conn).await;
        };
        // version() rather than current_setting(): servers that only speak the protocol
        // implement it first, as drivers and tools ask for it.
        let version = sqlx::query_scalar("SELECT version()")
            .fetch_one(&mut *conn)
            .await?;
        let product = product_version.map(|query| sqlx::query_scalar(query).fetch_one(&mut *conn));
        sql::version_outcome(version, product).await
    }

    async fn server_facts(&self, conn: &mut PgConnection) -> Result<Outcome, sqlx::Error> {
        let row = sqlx::query(DETAILS_QUERY).fetch_one(&mut *conn).await?;
        let version: String = row.try_get(0)?;
        let max_connections: i64 = row.try_get(1)?;
        let connections: i64 = row.try_get(2)?;
        let uptime_s: i64 = row.try_get(3)?;
        Ok(sql::outcome(
            version,
            connections,
            max_connections,
            uptime_s,
        ))
    }
}

impl Probe for PostgresProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        self.connection
            .run(
                || PgConnection::connect_with(&self.options),
                |mut conn| async move {
                    let result = self.query(&mut conn).await;
                    (conn, result)
                },
                |error| matches!(error, sqlx::Error::Io(_)),
            )
            .await
            .map_err(|e| self.error(e))
    }
}
