//! What the MySQL and PostgreSQL probes share: what they read, who they connect to, how a
//! driver error reads to an operator, and the verdict on what the server told them.

use super::{Details, Outcome, ProbeError, into_details, near_limit};
use crate::config::Login;

/// What a SQL probe reads after `SELECT 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlFacts {
    /// The platform's database (`db`): version, connections in use / max, uptime.
    Server,
    /// A document engine that speaks the protocol (OceanBase, GaussDB, ...): the version
    /// only, as their status tables are not MySQL's or PostgreSQL's. `product_version` is a
    /// query for the product's own version, which its protocol-level version hides.
    Version {
        /// `SELECT` of the product's version function, if it has one.
        product_version: Option<&'static str>,
    },
}

/// What a SQL server's error code means, as each driver's probe reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlRefusal {
    /// Wrong user or password.
    Auth,
    /// The database named in the URL does not exist.
    UnknownDatabase,
    /// Anything else the server said.
    Other,
}

/// Who and what a SQL probe connects to, for error messages.
#[derive(Clone, Debug)]
pub struct SqlTarget {
    /// `host:port`.
    pub address: String,
    /// The user logged in as.
    pub user: String,
    /// The database name from the URL.
    pub database: String,
}

impl SqlTarget {
    /// Reads the target from a login (its user decoded, as the drivers read it).
    pub fn from_login(login: &Login, default_port: u16, default_user: &str) -> Self {
        Self {
            address: login.host_port(default_port),
            user: login.username().unwrap_or_else(|| default_user.to_owned()),
            database: login
                .url()
                .expose()
                .path()
                .trim_start_matches('/')
                .to_owned(),
        }
    }

    /// Classifies a driver error; `refusal` reads the server's error code.
    pub fn error(
        &self,
        error: sqlx::Error,
        refusal: impl Fn(&dyn sqlx::error::DatabaseError) -> SqlRefusal,
    ) -> ProbeError {
        match error {
            sqlx::Error::Database(db) => match refusal(db.as_ref()) {
                SqlRefusal::Auth => ProbeError::Auth {
                    user: self.user.clone(),
                    detail: None,
                },
                SqlRefusal::UnknownDatabase => {
                    ProbeError::Rejected(format!("database '{}' does not exist", self.database))
                }
                SqlRefusal::Other => {
                    ProbeError::Rejected(format!("database error: {}", db.message()))
                }
            },
            sqlx::Error::Io(io) => ProbeError::transport(&io, &self.address),
            sqlx::Error::Tls(tls) => ProbeError::Connect {
                target: self.address.clone(),
                reason: super::error::tls_failure(tls.as_ref()).unwrap_or(format!("TLS: {tls}")),
            },
            other => ProbeError::Protocol {
                target: self.address.clone(),
                reason: other.to_string(),
            },
        }
    }
}

/// Green with the server's facts, or yellow when its connections near their limit.
pub fn outcome(version: String, connections: i64, max_connections: i64, uptime_s: i64) -> Outcome {
    let details = into_details(serde_json::json!({
        "version": version,
        "connections": connections,
        "max_connections": max_connections,
        "uptime_s": uptime_s,
    }));
    let warning = near_limit("connections", connections as u64, max_connections as u64);
    Outcome::yellow_if(warning, details)
}

/// Green with the engine's version: the product's own when `product` (its query) answers,
/// else the server's, with `server_version` keeping the protocol-level one when they differ.
/// A server without the product's function (a stand-in speaking the protocol, or an older
/// release) is no failure: only a failed connection fails the probe.
pub async fn version_outcome(
    server_version: String,
    product: Option<impl Future<Output = Result<String, sqlx::Error>>>,
) -> Result<Outcome, sqlx::Error> {
    let product = match product {
        Some(query) => match query.await {
            Ok(version) => Some(version),
            Err(sqlx::Error::Database(_)) => None,
            Err(other) => return Err(other),
        },
        None => None,
    };
    let mut details = Details::new();
    match product {
        Some(product) if product != server_version => {
            details.insert("version".into(), product.into());
            details.insert("server_version".into(), server_version.into());
        }
        _ => {
            details.insert("version".into(), server_version.into());
        }
    }
    Ok(Outcome::green(details))
}
