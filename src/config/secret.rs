//! Credential types that cannot leak by accident, and the one scrubber every URL and error
//! message passes through before it reaches output.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// What a redacted value prints as, everywhere.
pub const REDACTED: &str = "***";

/// A password, secret key or token. It prints, logs and serialises as [`REDACTED`]; only
/// [`Secret::expose`] hands out the real value, for the client library that needs it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for a client library. Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no credential is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            serializer.serialize_str("")
        } else {
            serializer.serialize_str(REDACTED)
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// A service URL that may carry a password (`mysql://root:pw@host/db`). It displays,
/// logs and serialises with the password replaced by [`REDACTED`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// Parses a URL; the error never repeats the input, which may hold a password.
    pub fn parse(input: &str) -> Result<Self, String> {
        Url::parse(input).map(SecretUrl).map_err(|e| {
            format!("invalid URL ({e}); write it as scheme://[user:password@]host:port/...")
        })
    }

    /// The real URL, for a client library. Never format it.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// The credential inside the URL, if any (percent-decoded), so the scrubber knows it:
    /// the password, or the token of a `nats://TOKEN@host` URL.
    pub fn password(&self) -> Option<String> {
        // Percent-decoding only: a `+` in user info is a plus, as the drivers read it.
        secret_part(&self.0).map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
    }

    /// `host:port` for error messages such as "connection refused to 127.0.0.1:6379".
    pub fn host_port(&self, default_port: u16) -> String {
        host_port(&self.0, default_port)
    }
}

/// `host:port` of a URL, with the scheme's default port filled in.
pub fn host_port(url: &Url, default_port: u16) -> String {
    let host = url.host_str().unwrap_or("?");
    let port = url.port_or_known_default().unwrap_or(default_port);
    format!("{host}:{port}")
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&redact_url(&self.0))
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        SecretUrl::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The secret part of a URL's user info: its password, or for NATS a lone user name,
/// which NATS reads as an authentication token.
fn secret_part(url: &Url) -> Option<&str> {
    match url.password() {
        Some(password) => Some(password),
        None if url.scheme() == "nats" && !url.username().is_empty() => Some(url.username()),
        None => None,
    }
}

/// A URL with its password or token (and any query parameter that looks like a
/// credential) replaced by [`REDACTED`].
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    // Setting fails only for URLs that cannot carry credentials, which have none.
    if shown.password().is_some() {
        let _ = shown.set_password(Some(REDACTED));
    } else if secret_part(url).is_some() {
        let _ = shown.set_username(REDACTED);
    }
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(k, v)| {
                let secret = is_credential_name(&k);
                (
                    k.into_owned(),
                    if secret {
                        REDACTED.into()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

fn is_credential_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "signature",
        "credential",
        "key",
        "sig",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// Hands every credential a value holds to the scrubber. Each implementation destructures
/// its struct field by field (never `..`), so a new field does not compile until it is
/// handed over or said to hold none.
pub trait Secrets {
    /// Appends the credentials held.
    fn secrets(&self, out: &mut Vec<String>);
}

impl Secrets for Secret {
    fn secrets(&self, out: &mut Vec<String>) {
        out.push(self.0.clone());
    }
}

impl Secrets for SecretUrl {
    fn secrets(&self, out: &mut Vec<String>) {
        out.extend(self.password());
    }
}

impl<T: Secrets> Secrets for Option<T> {
    fn secrets(&self, out: &mut Vec<String>) {
        if let Some(value) = self {
            value.secrets(out);
        }
    }
}

impl<T: Secrets> Secrets for Vec<T> {
    fn secrets(&self, out: &mut Vec<String>) {
        for value in self {
            value.secrets(out);
        }
    }
}

/// Replaces every known secret, and the password of every URL, inside free text such as
/// a client library's error message. Built once from the configuration.
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    secrets: Vec<Secret>,
}

impl Scrubber {
    /// A scrubber for these secret values (empty ones are ignored).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<Secret> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(Secret)
            .collect();
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        Self { secrets }
    }

    /// The text with secrets and URL passwords replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = scrub_url_passwords(text);
        for secret in &self.secrets {
            out = out.replace(secret.expose(), REDACTED);
        }
        out
    }
}

/// Rewrites `scheme://user:password@` inside free text to `scheme://user:<redacted>@`.
fn scrub_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..=colon]);
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(
            serde_json::to_string(&secret).unwrap(),
            format!("\"{REDACTED}\"")
        );
    }

    #[test]
    fn url_password_is_redacted_everywhere() {
        let url = SecretUrl::parse("mysql://root:p%40ss@db:3306/rag_flow").unwrap();
        for shown in [
            url.to_string(),
            format!("{url:?}"),
            serde_json::to_string(&url).unwrap(),
        ] {
            assert!(
                !shown.contains("p%40ss") && !shown.contains("p@ss"),
                "{shown}"
            );
            assert!(
                shown.contains("root:") && shown.contains(REDACTED),
                "{shown}"
            );
        }
        assert_eq!(url.password().as_deref(), Some("p@ss"));
        let plus = SecretUrl::parse("mysql://root:a+b@db:3306/rag_flow").unwrap();
        assert_eq!(plus.password().as_deref(), Some("a+b"));
    }

    #[test]
    fn a_nats_token_is_a_secret() {
        let url = SecretUrl::parse("nats://s3cr3t-token@queue:4222").unwrap();
        assert_eq!(url.to_string(), format!("nats://{REDACTED}@queue:4222"));
        assert_eq!(url.password().as_deref(), Some("s3cr3t-token"));
        let user = SecretUrl::parse("redis://someuser@cache:6379/1").unwrap();
        assert_eq!(
            user.password(),
            None,
            "other schemes' user names are not secret"
        );
    }

    #[test]
    fn url_without_password_is_unchanged() {
        let url = SecretUrl::parse("http://127.0.0.1:1200").unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:1200/");
    }

    #[test]
    fn credential_query_parameters_are_redacted() {
        let url = Url::parse("http://h/x?X-Amz-Signature=abc&X-Amz-Credential=AK&page=2").unwrap();
        let shown = redact_url(&url);
        assert!(!shown.contains("abc") && !shown.contains("AK"), "{shown}");
        assert!(shown.contains("page=2"));
    }

    #[test]
    fn scrubber_removes_secrets_and_url_passwords_from_text() {
        let scrubber = Scrubber::new(["s3cr3t".to_owned(), String::new()]);
        let text = "failed: redis://:pw@host:6379/1 said s3cr3t; see http://h/p";
        let out = scrubber.scrub(text);
        assert_eq!(
            out,
            format!("failed: redis://:{REDACTED}@host:6379/1 said {REDACTED}; see http://h/p")
        );
    }

    #[test]
    fn invalid_url_error_does_not_repeat_input() {
        let err = SecretUrl::parse("hunter2@127.0.0.1:6379").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(
            err.starts_with("invalid URL (relative URL without a base)"),
            "{err}"
        );
    }
}
