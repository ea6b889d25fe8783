//! `[history]`: the store of results and incidents.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CaFile, KeyError, Login, Secret, SecretUrl, Secrets, duration_text};

/// `[history]`: the store of results and incidents.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Keep history at all (`ragwatch serve` only).
    pub enabled: bool,
    /// `sqlite://path` (created if missing) or `postgres://user:pw@host/db`.
    pub url: SecretUrl,
    /// PostgreSQL user name; wins over the URL's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// PostgreSQL password; wins over the URL's, and needs no percent-encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// How long raw results and minute roll-ups are kept.
    #[serde(with = "duration_text")]
    pub results_retention: Duration,
    /// How long incidents, status changes and hour roll-ups are kept.
    #[serde(with = "duration_text")]
    pub incidents_retention: Duration,
    /// The name this ragwatch records under in a shared history (default: the host name).
    pub observer: String,
    /// Fail readyz while the store cannot be written.
    pub required: bool,
    /// Certificate authorities a `postgres://` store's TLS trusts beside the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<CaFile>,
}

/// Default history location: a SQLite file in the working directory.
pub const DEFAULT_HISTORY_URL: &str = "sqlite://ragwatch.db";

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            url: SecretUrl::parse(DEFAULT_HISTORY_URL).expect("default URL parses"),
            username: None,
            password: None,
            results_retention: Duration::from_secs(7 * 24 * 3600),
            incidents_retention: Duration::from_secs(90 * 24 * 3600),
            observer: String::new(),
            required: false,
            tls_ca_file: None,
        }
    }
}

impl HistoryConfig {
    /// The URL and the credentials to sign in with.
    pub fn login(&self) -> Login {
        Login::new(
            self.url.clone(),
            self.username.clone(),
            self.password.clone(),
        )
    }

    /// A store ragwatch can write; credentials and trusted roots only for PostgreSQL.
    pub(super) fn validate(&self) -> Result<(), KeyError> {
        match self.url.expose().scheme() {
            "postgres" | "postgresql" => Ok(()),
            "sqlite" => match (&self.username, &self.password, &self.tls_ca_file) {
                (Some(_), _, _) => Err(KeyError::new(
                    "history.username",
                    "is not used by a sqlite:// history",
                )),
                (_, Some(_), _) => Err(KeyError::new(
                    "history.password",
                    "is not used by a sqlite:// history",
                )),
                (_, _, Some(_)) => Err(KeyError::new(
                    "history.tls_ca_file",
                    "a sqlite:// history is a local file, reached without TLS: remove tls_ca_file",
                )),
                _ => Ok(()),
            },
            _ => Err(KeyError::new(
                "history.url",
                "must be a sqlite://path or postgres:// URL",
            )),
        }
    }

    /// `observer`, or the host name when it is empty.
    pub fn observer_name(&self) -> String {
        if !self.observer.is_empty() {
            return self.observer.clone();
        }
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "ragwatch".into())
    }
}

impl Secrets for HistoryConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            enabled: _,
            url,
            username: _,
            password,
            results_retention: _,
            incidents_retention: _,
            observer: _,
            required: _,
            tls_ca_file: _,
        } = self;
        url.secrets(out);
        password.secrets(out);
    }
}
