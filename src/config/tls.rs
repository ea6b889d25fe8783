//! `tls_ca_file`: a PEM file of certificate authorities a component trusts beside the
//! system's store. It is read when the configuration loads, so a missing, unreadable or
//! malformed file is refused at start, naming the key and the path.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The certificates of a `tls_ca_file`, with the path they came from.
#[derive(Clone, PartialEq, Eq)]
pub struct CaFile {
    path: PathBuf,
    certificates: Arc<[CertificateDer<'static>]>,
}

impl CaFile {
    /// Reads every certificate of the PEM file at `path`; at least one, each usable as a
    /// trusted root.
    pub fn read(path: impl Into<PathBuf>) -> Result<Self, String> {
        let path = path.into();
        let shown = path.display();
        let pem = std::fs::read(&path).map_err(|e| format!("{shown}: {e}"))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{shown}: not a PEM file of certificates ({e})"))?;
        if certificates.is_empty() {
            return Err(format!(
                "{shown}: holds no certificate (a PEM file with -----BEGIN CERTIFICATE----- blocks)"
            ));
        }
        let mut store = RootCertStore::empty();
        for (i, certificate) in certificates.iter().enumerate() {
            store.add(certificate.clone()).map_err(|e| {
                format!(
                    "{shown}: certificate {} cannot be a trusted root: {e}",
                    i + 1
                )
            })?;
        }
        Ok(Self {
            path,
            certificates: certificates.into(),
        })
    }

    /// Where the certificates were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The certificates, in the file's order.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CaFile({}, {} certificates)",
            self.path.display(),
            self.certificates.len()
        )
    }
}

impl Serialize for CaFile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.path.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CaFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let path = PathBuf::deserialize(deserializer)?;
        Self::read(path).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn a_file_without_certificates_is_refused_naming_its_path() {
        let empty = file("no certificate here\n");
        let path = empty.path().display().to_string();
        assert_eq!(
            CaFile::read(empty.path()).unwrap_err(),
            format!(
                "{path}: holds no certificate (a PEM file with -----BEGIN CERTIFICATE----- blocks)"
            )
        );
        let garbage = file(
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        );
        let err = CaFile::read(garbage.path()).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "{}: certificate 1 cannot be a trusted root: ",
                garbage.path().display()
            )),
            "{err}"
        );
        let missing = CaFile::read("/nonexistent/ca.pem").unwrap_err();
        assert_eq!(
            missing,
            "/nonexistent/ca.pem: No such file or directory (os error 2)"
        );
    }
}
