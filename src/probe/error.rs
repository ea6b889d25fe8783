//! Why a probe failed, in words an operator can act on. Each variant names the target.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// A failed probe. The text is shown to operators (after secret scrubbing).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No answer within the component's timeout.
    #[error("timed out after {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Nothing listens at the target.
    #[error("connection refused to {0}")]
    Refused(String),
    /// The connection could not be made for another reason (DNS, reset, TLS, ...).
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// `host:port`.
        target: String,
        /// The root cause.
        reason: String,
    },
    /// The service refused the credentials.
    #[error("authentication failed for user {user}{}", detail_suffix(.detail))]
    Auth {
        /// The user ragwatch logged in as.
        user: String,
        /// What the service said, when it says something useful.
        detail: Option<String>,
    },
    /// The service answered, and its answer says what is wrong ("database 'x' does not
    /// exist", "bucket 'b' does not exist", "cluster has no elected master").
    #[error("{0}")]
    Rejected(String),
    /// The service answered something this probe cannot read.
    #[error("unexpected answer from {target}: {reason}")]
    Protocol {
        /// `host:port`.
        target: String,
        /// What was wrong with it.
        reason: String,
    },
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_ref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}

impl ProbeError {
    /// Classifies a transport-level failure: a TLS failure says why the handshake failed,
    /// else the innermost I/O error decides.
    pub fn transport(error: &(dyn StdError + 'static), target: &str) -> Self {
        if let Some(reason) = tls_failure(error) {
            return Self::Connect {
                target: target.to_owned(),
                reason,
            };
        }
        match io_error_kind(error) {
            Some(io::ErrorKind::ConnectionRefused) => Self::Refused(target.to_owned()),
            Some(io::ErrorKind::TimedOut) => Self::Connect {
                target: target.to_owned(),
                reason: "connection timed out".into(),
            },
            _ => Self::Connect {
                target: target.to_owned(),
                reason: root_cause(error),
            },
        }
    }

    /// Classifies an HTTP client failure. The URL is never included: it may carry a
    /// signature or credentials.
    pub fn http(error: reqwest::Error, target: &str, timeout: Duration) -> Self {
        let error = error.without_url();
        if error.is_timeout() {
            Self::Timeout(timeout)
        } else if error.is_connect() || error.is_request() {
            Self::transport(&error, target)
        } else {
            Self::Protocol {
                target: target.to_owned(),
                reason: root_cause(&error),
            }
        }
    }
}

/// The kind of the innermost `io::Error` in an error's source chain.
fn io_error_kind(error: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    let mut found = None;
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            found = Some(io.kind());
        }
        current = e.source();
    }
    found
}

/// The TLS failure in an error's source chain, in an operator's words.
pub fn tls_failure(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(tls) = rustls_error(e) {
            return Some(tls_words(tls));
        }
        current = e.source();
    }
    None
}

/// rustls's error, when `error` is one or wraps one: a TLS library hands its error up
/// inside an `io::Error` (or two), whose `source()` skips what it wraps, and Redis keeps
/// its I/O errors behind an `Arc`.
fn rustls_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(shared) = error.downcast_ref::<Arc<dyn StdError + Send + Sync>>() {
        return rustls_error(shared.as_ref());
    }
    rustls_error(error.downcast_ref::<io::Error>()?.get_ref()?)
}

fn tls_words(error: &rustls::Error) -> String {
    use rustls::CertificateError as Certificate;
    let rustls::Error::InvalidCertificate(certificate) = error else {
        return format!("TLS: {error}");
    };
    let why = match certificate {
        Certificate::UnknownIssuer => {
            "is signed by an authority ragwatch does not trust: add its CA to the section's tls_ca_file or to the system's store"
        }
        Certificate::NotValidForName | Certificate::NotValidForNameContext { .. } => {
            "does not name the host or address ragwatch connects to"
        }
        Certificate::Expired | Certificate::ExpiredContext { .. } => "has expired",
        Certificate::NotValidYet | Certificate::NotValidYetContext { .. } => "is not valid yet",
        _ => "is refused",
    };
    format!("TLS: the server's certificate {why} ({error})")
}

/// The last message in an error's source chain: usually the one that says what happened.
pub fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] io::Error);

    #[test]
    fn refused_is_found_in_the_source_chain() {
        let err = Outer(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            ProbeError::transport(&err, "127.0.0.1:1").to_string(),
            "connection refused to 127.0.0.1:1"
        );
    }

    #[test]
    fn other_transport_errors_keep_the_root_cause() {
        let err = Outer(io::Error::other("no route to host"));
        assert_eq!(
            ProbeError::transport(&err, "10.0.0.1:5432").to_string(),
            "cannot connect to 10.0.0.1:5432: no route to host"
        );
    }

    #[test]
    fn a_certificate_refused_in_the_handshake_says_what_to_do() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // As reqwest hands it up: rustls's error in an io::Error in another.
        let inner = io::Error::new(io::ErrorKind::InvalidData, refused);
        let err = Outer(io::Error::other(inner));
        assert_eq!(
            ProbeError::transport(&err, "127.0.0.1:6380").to_string(),
            "cannot connect to 127.0.0.1:6380: TLS: the server's certificate is signed by an authority ragwatch does not trust: add its CA to the section's tls_ca_file or to the system's store (invalid peer certificate: UnknownIssuer)"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("shared")]
    struct Shared(#[source] Arc<dyn StdError + Send + Sync>);

    #[test]
    fn a_certificate_refused_under_redis_says_so_too() {
        // Redis keeps its I/O errors in an Arc.
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        let err = Shared(Arc::new(io::Error::new(
            io::ErrorKind::InvalidData,
            refused,
        )));
        assert_eq!(
            ProbeError::transport(&err, "h:6380").to_string(),
            "cannot connect to h:6380: TLS: the server's certificate has expired (invalid peer certificate: Expired)"
        );
    }

    #[test]
    fn messages_read_as_operators_expect() {
        assert_eq!(
            ProbeError::Timeout(Duration::from_secs(3)).to_string(),
            "timed out after 3000 ms"
        );
        let auth = ProbeError::Auth {
            user: "root".into(),
            detail: None,
        };
        assert_eq!(auth.to_string(), "authentication failed for user root");
    }
}
