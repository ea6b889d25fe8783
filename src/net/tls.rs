//! The certificate authorities ragwatch trusts: the system's store, read once at start
//! (`rustls-native-certs`: the OS bundle, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, so
//! a private CA installed in the image or on the host is trusted), plus a component's
//! `tls_ca_file`. One root list, handed to each client as its crate takes it: a rustls
//! configuration (reqwest, NATS) or PEM (Redis).

use std::sync::Arc;

use base64::Engine as _;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::config::CaFile;

/// The system's certificate authorities.
#[derive(Clone)]
pub struct Trust {
    system: Roots,
}

impl Trust {
    /// Reads the system's store. A certificate that cannot be read is skipped with a
    /// warning: the others still work.
    pub fn system() -> Self {
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::warn!(%error, "A certificate of the system's store cannot be read.");
        }
        if loaded.certs.is_empty() {
            tracing::warn!(
                "The system's certificate store is empty: TLS connections trust only their tls_ca_file."
            );
        }
        Self {
            system: Roots::new(loaded.certs),
        }
    }

    /// The roots of a client: the system's, plus those of its `tls_ca_file`.
    pub fn roots(&self, ca_file: Option<&CaFile>) -> Roots {
        match ca_file {
            None => self.system.clone(),
            Some(file) => {
                let mut certificates = self.system.certificates.to_vec();
                certificates.extend_from_slice(file.certificates());
                Roots::new(certificates)
            }
        }
    }
}

/// The certificate authorities one client trusts, and the rustls configuration built
/// from them once (clients share it; cloning it shares the verifier).
#[derive(Clone)]
pub struct Roots {
    certificates: Arc<[CertificateDer<'static>]>,
    config: Arc<ClientConfig>,
}

impl Roots {
    fn new(certificates: Vec<CertificateDer<'static>>) -> Self {
        let mut store = RootCertStore::empty();
        // The system's store may hold certificates webpki cannot use; they are skipped,
        // as every TLS library does. A tls_ca_file's were checked when it was read.
        store.add_parsable_certificates(certificates.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(store)
            .with_no_client_auth();
        Self {
            certificates: certificates.into(),
            config: Arc::new(config),
        }
    }

    /// The rustls client configuration trusting these roots.
    pub fn rustls(&self) -> ClientConfig {
        (*self.config).clone()
    }

    /// The roots rustls can use, for a client that takes them one by one and refuses
    /// the whole list for one it cannot use (the system's store may hold such a one).
    pub fn usable(&self) -> Vec<CertificateDer<'static>> {
        self.certificates
            .iter()
            .filter(|certificate| RootCertStore::empty().add((*certificate).clone()).is_ok())
            .cloned()
            .collect()
    }

    /// These roots as PEM, for a client that takes a bundle.
    pub fn pem(&self) -> Vec<u8> {
        pem(&self.certificates)
    }
}

/// Certificates as a PEM bundle.
pub fn pem(certificates: &[CertificateDer<'_>]) -> Vec<u8> {
    let mut out = String::new();
    for certificate in certificates {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = base64::engine::general_purpose::STANDARD.encode(certificate.as_ref());
        for line in encoded.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::pem::PemObject;

    use super::*;

    #[test]
    fn roots_handed_out_one_by_one_leave_out_those_rustls_cannot_use() {
        let ca = CaFile::read("tests/data/config/ca.pem").unwrap();
        let mut certificates = ca.certificates().to_vec();
        certificates.push(CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]));
        assert_eq!(Roots::new(certificates).usable(), ca.certificates());
    }

    #[test]
    fn pem_reads_back_as_the_same_certificates() {
        let certificates = vec![
            CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
            CertificateDer::from((0..200u8).collect::<Vec<u8>>()),
        ];
        let text = pem(&certificates);
        let read: Vec<CertificateDer> = CertificateDer::pem_slice_iter(&text)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(read, certificates);
        assert!(
            String::from_utf8(text)
                .unwrap()
                .lines()
                .all(|line| line.len() <= 64)
        );
    }
}
