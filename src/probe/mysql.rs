//! MySQL and MariaDB: `SELECT 1`, then version, connections in use / max and uptime. The
//! MySQL-protocol document engines (OceanBase, SeekDB): `SELECT 1`, then the version.

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError};
use sqlx::{Connection, Row};

use super::kept::Kept;
use super::sql::{self, SqlFacts, SqlRefusal, SqlTarget};
use super::{Outcome, Probe, ProbeError};
use crate::config::{CaFile, KeyError, Login};
use crate::{connect, net};

/// Default MySQL port.
const MYSQL_PORT: u16 = 3306;

/// Probes a MySQL-protocol server over one kept connection.
pub struct MysqlProbe {
    options: MySqlConnectOptions,
    target: SqlTarget,
    facts: SqlFacts,
    connection: Kept<MySqlConnection>,
}

impl MysqlProbe {
    /// Reads connection options from the login whose URL is configured at `key`; its TLS
    /// trusts `ca_file` too.
    pub fn new(
        login: &Login,
        key: &str,
        facts: SqlFacts,
        ca_file: Option<&CaFile>,
    ) -> Result<Self, KeyError> {
        let options = connect::mysql(login).map_err(|e| KeyError::new(key, e.to_string()))?;
        let options = net::mysql_tls(options, ca_file).map_err(|e| KeyError::new(key, e))?;
        Ok(Self {
            options,
            target: SqlTarget::from_login(login, MYSQL_PORT, "root"),
            facts,
            connection: Kept::new(),
        })
    }

    fn error(&self, error: sqlx::Error) -> ProbeError {
        self.target.error(error, |db| {
            match db
                .try_downcast_ref::<MySqlDatabaseError>()
                .map(|e| e.number())
            {
                // ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR
                Some(1045) => SqlRefusal::Auth,
                // ER_BAD_DB_ERROR
                Some(1049) => SqlRefusal::UnknownDatabase,
                _ => SqlRefusal::Other,
            }
        })
    }

    async fn query(&self, conn: &mut MySqlConnection) -> Result<Outcome, sqlx::Error> {
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        let SqlFacts::Version { product_version } = self.facts else {
            return self.server_facts(conn).await;
        };
        let version = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
            .fetch_one(&mut *conn)
            .await?;
        let product = product_version.map(|query| sqlx::query_scalar(query).fetch_one(&mut *conn));
        sql::version_outcome(version, product).await
    }

    async fn server_facts(&self, conn: &mut MySqlConnection) -> Result<Outcome, sqlx::Error> {
        let row = sqlx::query("SELECT CAST(VERSION() AS CHAR), CAST(@@max_connections AS SIGNED)")
            .fetch_one(&mut *conn)
            .await?;
        let version: String = row.try_get(0)?;
        let max_connections: i64 = row.try_get(1)?;
        let mut connections = 0_i64;
        let mut uptime_s = 0_i64;
        let status = sqlx::query(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Uptime')",
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in status {
            let name: String = row.try_get(0)?;
            let value: String = row.try_get(1)?;
            let value = value.parse().unwrap_or_default();
            match name.as_str() {
                "Threads_connected" => connections = value,
                _ => uptime_s = value,
            }
        }
        Ok(sql::outcome(
            version,
            connections,
            max_connections,
            uptime_s,
        ))
    }
}

impl Probe for MysqlProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        self.connection
            .run(
                || MySqlConnection::connect_with(&self.options),
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
