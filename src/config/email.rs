//! `[[alerts.email]]`: an SMTP server that mails each alert to a list of addresses.

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use url::Url;

use super::receivers::{ReceiverConfig, Routing, Severity, all_severities, yes};
use super::secret::host_port;
use super::{CaFile, KeyError, Secret, Secrets, secret};

/// The submission port, for an `smtp://` URL without one (STARTTLS).
pub const SUBMISSION_PORT: u16 = 587;
/// The submissions port, for an `smtps://` URL without one (TLS from the first byte).
pub const SUBMISSIONS_PORT: u16 = 465;

/// How an address is written, for the messages that refuse one.
const ADDRESS_FORM: &str = "ops@example.com or \"RAGFlow ops <ops@example.com>\"";

/// `[[alerts.email]]`: e-mail through an SMTP server.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The server: `smtp://host:587` (STARTTLS) or `smtps://host:465` (implicit TLS).
    #[serde(deserialize_with = "secret::plain_url")]
    pub smtp_url: Url,
    /// The sender, `ragwatch@example.com` or `"ragwatch <ragwatch@example.com>"`.
    #[serde(deserialize_with = "secret::text")]
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// Whether an `smtp://` server must offer STARTTLS (else nothing is sent); when false,
    /// STARTTLS is still used if offered, and mail and credentials go unencrypted if not.
    #[serde(default = "yes")]
    pub require_tls: bool,
    /// The user name to sign in with (SMTP AUTH); none when empty.
    #[serde(default, deserialize_with = "secret::text")]
    pub username: String,
    /// Its password.
    #[serde(default)]
    pub password: Secret,
    /// Certificate authorities the server is trusted by beside the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<CaFile>,
    /// Component keys whose alerts it takes; all when empty.
    #[serde(default)]
    pub components: Vec<String>,
    /// The severities it takes; both by default.
    #[serde(default = "all_severities")]
    pub severities: Vec<Severity>,
    /// Whether resolutions are sent.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// A message template (minijinja) replacing the default text of both parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl EmailConfig {
    /// Whether the server speaks TLS from the first byte (`smtps://`).
    pub fn implicit_tls(&self) -> bool {
        self.smtp_url.scheme() == "smtps"
    }

    /// The server's port, the scheme's when the URL has none.
    pub fn port(&self) -> u16 {
        let default = if self.implicit_tls() {
            SUBMISSIONS_PORT
        } else {
            SUBMISSION_PORT
        };
        self.smtp_url.port().unwrap_or(default)
    }

    /// The server's host name or address (an IPv6 address without its brackets).
    pub fn server(&self) -> String {
        match self.smtp_url.host() {
            Some(url::Host::Ipv6(address)) => address.to_string(),
            Some(host) => host.to_string(),
            None => String::new(),
        }
    }

    /// The sender, read.
    pub fn sender(&self) -> Option<Mailbox> {
        self.from.parse().ok()
    }

    /// The recipients, read; those that do not read are left out.
    pub fn recipients(&self) -> Vec<Mailbox> {
        self.to.iter().filter_map(|to| to.parse().ok()).collect()
    }

    /// An SMTP URL with a host, addresses that read, and both credentials or neither;
    /// `key` is the receiver's (`alerts.email[0]`).
    pub(super) fn validate(&self, key: &str) -> Result<(), KeyError> {
        let url = &self.smtp_url;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(KeyError::new(
                format!("{key}.smtp_url"),
                "must be smtp://host:587 (STARTTLS) or smtps://host:465 (implicit TLS)",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(KeyError::new(
                format!("{key}.smtp_url"),
                "names no host: write smtp://host:587 or smtps://host:465",
            ));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(KeyError::new(
                format!("{key}.smtp_url"),
                "takes a host and port only (no path or query): smtp://host:587 or smtps://host:465",
            ));
        }
        if self.sender().is_none() {
            return Err(KeyError::new(
                format!("{key}.from"),
                format!("{:?} is not an e-mail address ({ADDRESS_FORM})", self.from),
            ));
        }
        if self.to.is_empty() {
            return Err(KeyError::new(
                format!("{key}.to"),
                format!("must list at least one recipient ({ADDRESS_FORM})"),
            ));
        }
        if let Some(bad) = self.to.iter().find(|to| to.parse::<Mailbox>().is_err()) {
            return Err(KeyError::new(
                format!("{key}.to"),
                format!("{bad:?} is not an e-mail address ({ADDRESS_FORM})"),
            ));
        }
        match (self.username.is_empty(), self.password.is_empty()) {
            (false, true) => Err(KeyError::new(
                format!("{key}.username"),
                "is set without a password: give password (or password_file) too",
            )),
            (true, false) => Err(KeyError::new(
                format!("{key}.password"),
                "is set without a username: give username too",
            )),
            _ => Ok(()),
        }
    }
}

impl ReceiverConfig for EmailConfig {
    fn routing(&self) -> Routing {
        Routing {
            components: self.components.clone(),
            severities: self.severities.clone(),
            send_resolved: self.send_resolved,
        }
    }

    fn host(&self) -> String {
        host_port(&self.smtp_url, self.port())
    }

    fn ca_file(&self) -> Option<CaFile> {
        self.tls_ca_file.clone()
    }

    fn template(&self) -> Option<&str> {
        self.template.as_deref()
    }
}

impl Secrets for EmailConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            smtp_url: _,
            from: _,
            to: _,
            require_tls: _,
            username: _,
            password,
            tls_ca_file: _,
            components: _,
            severities: _,
            send_resolved: _,
            template: _,
        } = self;
        password.secrets(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> EmailConfig {
        toml::from_str(&format!(
            "from = \"ragwatch@example.com\"\nto = [\"ops@example.com\"]\n{toml}"
        ))
        .unwrap()
    }

    #[test]
    fn the_port_is_the_schemes_unless_given() {
        for (url, port, name) in [
            ("smtp://mail.example.com", 587, "mail.example.com:587"),
            ("smtps://mail.example.com", 465, "mail.example.com:465"),
            ("smtp://mail.example.com:25", 25, "mail.example.com:25"),
            ("smtp://[::1]:2525", 2525, "[::1]:2525"),
        ] {
            let config = config(&format!("smtp_url = \"{url}\""));
            assert_eq!(config.port(), port, "{url}");
            assert_eq!(config.host(), name, "{url}");
        }
        assert_eq!(config("smtp_url = \"smtp://[::1]:25\"").server(), "::1");
    }

    #[test]
    fn bad_receivers_are_refused_naming_the_key() {
        for (toml, key, words) in [
            (
                "smtp_url = \"http://mail:25\"",
                "smtp_url",
                "must be smtp://",
            ),
            ("smtp_url = \"smtp:mail\"", "smtp_url", "names no host"),
            ("smtp_url = \"smtp://mail:25/x\"", "smtp_url", "no path"),
            (
                "smtp_url = \"smtp://mail\"\nfrom = \"nobody\"",
                "from",
                "\"nobody\" is not an e-mail address",
            ),
            (
                "smtp_url = \"smtp://mail\"\nto = []",
                "to",
                "at least one recipient",
            ),
            (
                "smtp_url = \"smtp://mail\"\nto = [\"a@b\", \"x y\"]",
                "to",
                "\"x y\" is not",
            ),
            (
                "smtp_url = \"smtp://mail\"\nusername = \"u\"",
                "username",
                "without a password",
            ),
            (
                "smtp_url = \"smtp://mail\"\npassword = \"p\"",
                "password",
                "without a username",
            ),
        ] {
            // A later key of the same name wins: the table is written over the defaults.
            let mut table: toml::Table =
                toml::from_str("from = \"ragwatch@example.com\"\nto = [\"ops@example.com\"]")
                    .unwrap();
            table.extend(toml::from_str::<toml::Table>(toml).unwrap());
            let config: EmailConfig = table.try_into().unwrap();
            let error = config.validate("alerts.email[0]").unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("alerts.email[0].{key}: ")) && error.contains(words),
                "{toml}: {error}"
            );
        }
        config("smtp_url = \"smtps://mail\"\nusername = \"u\"\npassword = \"p\"")
            .validate("alerts.email[0]")
            .unwrap();
    }
}
