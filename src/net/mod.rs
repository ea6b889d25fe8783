//! How ragwatch reaches the services it watches and the receivers it notifies: the
//! certificate authorities every TLS client trusts ([`Trust`]). The composition root reads
//! them once at start and every client is built from them here, in the form its crate
//! takes.

mod sql;
mod tls;

pub use sql::{mysql_tls, postgres_tls};
pub use tls::{Roots, Trust, pem};

use crate::config::CaFile;

/// The trusted roots every outgoing connection uses.
#[derive(Clone)]
pub struct Network {
    /// The system's certificate authorities.
    pub trust: Trust,
}

impl Network {
    /// The system's store.
    pub fn from_env() -> Self {
        Self {
            trust: Trust::system(),
        }
    }

    /// An HTTP client builder trusting the system's roots plus `ca_file`, reaching every
    /// service directly; the caller adds its timeouts.
    pub fn http_client(&self, ca_file: Option<&CaFile>) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .use_preconfigured_tls(self.trust.roots(ca_file).rustls())
            .no_proxy()
    }
}
