//! TLS for test servers: [`PrivateCa`], a certificate authority of its own made with the
//! `openssl` command (installed by `scripts/test-services.sh`) that issues server
//! certificates for the names and addresses a test gives, and [`Front`], a TCP forwarder
//! on an address of the test's choosing that can terminate TLS: it serves a plain server
//! (the fixture server) as HTTPS, or at an address that is not loopback.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto};

use super::free_port;

/// A certificate authority of its own, in a temp dir (deleted when dropped). Nothing on
/// this machine trusts it unless a test says so.
pub struct PrivateCa {
    dir: tempfile::TempDir,
}

/// A server certificate and its key, PEM files issued by a [`PrivateCa`].
pub struct ServerCertificate {
    /// The certificate.
    pub cert: PathBuf,
    /// Its private key (unencrypted).
    pub key: PathBuf,
}

/// Runs `openssl ARGS` in `dir`; panics with what it said when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (scripts/test-services.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PrivateCa {
    /// A new authority: an EC P-256 key and a self-signed CA certificate valid two days.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ragwatch-ca-")
            .tempdir()
            .expect("temp dir");
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=ragwatch test CA",
            ],
        );
        Self { dir }
    }

    /// The CA certificate (PEM): what a client must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate named `name` for these subject alternative names
    /// (`IP:127.0.0.1`, `DNS:localhost`), signed by this authority.
    pub fn issue(&self, name: &str, alt_names: &[&str]) -> ServerCertificate {
        let dir = self.dir.path();
        let (key, csr, cert, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        std::fs::write(
            dir.join(&ext),
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
                alt_names.join(",")
            ),
        )
        .expect("write the extensions");
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        ServerCertificate {
            cert: dir.join(cert),
            key: dir.join(key),
        }
    }
}

/// Serves an upstream TCP server at another address, over TLS with a
/// [`ServerCertificate`] when given one: each connection's handshake is done here, then
/// bytes are copied both ways. A client that refuses the certificate ends its connection in
/// the handshake. Stops when dropped.
pub struct Front {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Front {
    /// Listens on `ip`, port 0, in front of `upstream`, over plain TCP.
    pub async fn plain(ip: IpAddr, upstream: SocketAddr) -> Self {
        Self::start(ip, upstream, None).await
    }

    /// Listens on `ip`, port 0, in front of `upstream`, over TLS with `certificate`.
    pub async fn tls(ip: IpAddr, upstream: SocketAddr, certificate: &ServerCertificate) -> Self {
        Self::start(ip, upstream, Some(acceptor(certificate))).await
    }

    async fn start(ip: IpAddr, upstream: SocketAddr, tls: Option<TlsAcceptor>) -> Self {
        // On loopback, a port no other helper of this process was handed.
        let port = if ip.is_loopback() { free_port() } else { 0 };
        let listener = TcpListener::bind((ip, port))
            .await
            .unwrap_or_else(|e| panic!("Front: bind {ip}: {e}"));
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let tls = tls.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    match tls {
                        None => {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                        Some(acceptor) => {
                            if let Ok(mut tls) = acceptor.accept(client).await {
                                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                            }
                        }
                    }
                });
            }
        });
        Self { addr, task }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The TLS server side for `certificate`.
fn acceptor(certificate: &ServerCertificate) -> TlsAcceptor {
    let chain = CertificateDer::pem_file_iter(&certificate.cert)
        .expect("the certificate file")
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM certificates");
    let key = PrivateKeyDer::from_pem_file(&certificate.key).expect("the key file");
    let config = ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("default TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a usable certificate and key");
    TlsAcceptor::from(Arc::new(config))
}
