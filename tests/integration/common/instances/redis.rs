//! [`RedisInstance`]: a `redis-server` of its own.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use super::programs::find_program;
use super::wire::redis_ping;
use super::{Instance, Kind, Launch, temp_dir};
use crate::common::free_port;
use crate::common::tls::ServerCertificate;

/// A `redis-server` of its own: `--port P --bind 127.0.0.1 --save "" --appendonly no`
/// (`--requirepass` when a password is given), nothing kept on disk.
pub type RedisInstance = Instance<Redis>;

/// Redis: ready when it answers PING (after AUTH when it has a password).
pub struct Redis {
    password: Option<String>,
    /// The TLS port, beside the plain one, when started with a certificate.
    tls_port: Option<u16>,
}

impl Kind for Redis {
    async fn ready(&self, port: u16) -> bool {
        matches!(redis_ping(port, self.password.as_deref()).await, Ok(r) if r.starts_with(b"+PONG"))
    }
}

impl Instance<Redis> {
    /// Starts redis-server on a free port and waits until it answers PING.
    pub async fn start(password: Option<&str>) -> Self {
        Self::start_with(password, None).await
    }

    /// Starts redis-server serving TLS with `certificate` on a second free port (clients
    /// need no certificate of their own), beside the plain port, and waits until it answers
    /// PING on the plain one.
    pub async fn start_tls(certificate: &ServerCertificate, ca_file: &Path) -> Self {
        Self::start_with(None, Some((certificate, ca_file))).await
    }

    async fn start_with(password: Option<&str>, tls: Option<(&ServerCertificate, &Path)>) -> Self {
        let dir = temp_dir("ragwatch-redis-");
        let port = free_port();
        let mut args: Vec<OsString> = vec![
            "--port".into(),
            port.to_string().into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--daemonize".into(),
            "no".into(),
            "--dir".into(),
            dir.path().into(),
        ];
        if let Some(pw) = password {
            args.extend(["--requirepass".into(), pw.into()]);
        }
        let tls_port = tls.map(|(certificate, ca_file)| {
            let tls_port = free_port();
            args.extend([
                "--tls-port".into(),
                tls_port.to_string().into(),
                "--tls-cert-file".into(),
                certificate.cert.clone().into(),
                "--tls-key-file".into(),
                certificate.key.clone().into(),
                "--tls-ca-cert-file".into(),
                ca_file.into(),
                "--tls-auth-clients".into(),
                "no".into(),
            ]);
            tls_port
        });
        let launch = Launch::new(
            "redis-server",
            find_program(&["redis-server"], &[]),
            args,
            Duration::from_secs(10),
        );
        let kind = Redis {
            password: password.map(str::to_owned),
            tls_port,
        };
        Self::launch(kind, port, launch, dir).await
    }

    /// `rediss://127.0.0.1:<TLS port>/0` of an instance started with [`Self::start_tls`].
    pub fn tls_url(&self) -> String {
        let port = self.kind.tls_port.expect("started with start_tls");
        format!("rediss://127.0.0.1:{port}/0")
    }

    /// `redis://127.0.0.1:<port>/0`, or `redis://:<password>@127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        match &self.kind.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }
}
