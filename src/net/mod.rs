//! How ragwatch reaches the services it watches and the receivers it notifies: the
//! certificate authorities every TLS client trusts ([`Trust`]) and the HTTP proxies of the
//! environment ([`Proxies`]). The composition root reads both once at start and every
//! client is built from them here, in the form its crate takes.

mod proxy;
mod sql;
mod tls;

pub use proxy::{Proxies, ProxyError};
pub use sql::{mysql_tls, postgres_tls};
pub use tls::{Roots, Trust, pem};

use crate::config::CaFile;

/// The trusted roots and proxies every outgoing connection uses.
#[derive(Clone)]
pub struct Network {
    /// The system's certificate authorities.
    pub trust: Trust,
    /// The environment's HTTP proxies.
    pub proxies: Proxies,
}

impl Network {
    /// The system's store and the proxy variables of this process's environment.
    pub fn from_env() -> Result<Self, ProxyError> {
        Ok(Self {
            trust: Trust::system(),
            proxies: Proxies::from_env(|name| std::env::var(name).ok())?,
        })
    }

    /// An HTTP client builder trusting the system's roots plus `ca_file`, through the
    /// environment's proxies (never for loopback); the caller adds its timeouts.
    pub fn http_client(&self, ca_file: Option<&CaFile>) -> reqwest::ClientBuilder {
        let builder =
            reqwest::Client::builder().use_preconfigured_tls(self.trust.roots(ca_file).rustls());
        self.proxies.apply(builder)
    }
}
