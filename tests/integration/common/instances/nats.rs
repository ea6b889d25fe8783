//! [`NatsInstance`]: a `nats-server` of its own, optionally with a user and password and
//! with JetStream (its store in the instance's temp dir).

use std::ffi::OsString;
use std::process::Command;
use std::time::Duration;

use super::programs::find_program;
use super::wire::nats_greets;
use super::{Instance, Kind, Launch, temp_dir};
use crate::common::free_port;
use crate::common::tls::ServerCertificate;

/// How a [`NatsInstance`] is started.
#[derive(Clone, Debug, Default)]
pub struct NatsOptions {
    /// `--user`/`--pass`: clients must log in with these.
    pub credentials: Option<(String, String)>,
    /// `-js -sd <tempdir>/jetstream`: JetStream enabled.
    pub jetstream: bool,
}

/// A `nats-server` of its own on 127.0.0.1.
pub type NatsInstance = Instance<Nats>;

/// NATS: ready when it greets a client with `INFO`.
pub struct Nats;

impl Kind for Nats {
    async fn ready(&self, port: u16) -> bool {
        nats_greets(port).await
    }
}

impl Instance<Nats> {
    /// Starts nats-server on a free port and waits until it sends its `INFO` greeting.
    pub async fn start(options: NatsOptions) -> Self {
        let dir = temp_dir("ragwatch-nats-");
        let port = free_port();
        let mut args: Vec<OsString> = ["-a", "127.0.0.1", "-p"].map(OsString::from).to_vec();
        args.push(port.to_string().into());
        if let Some((user, pass)) = &options.credentials {
            args.extend(["--user", user, "--pass", pass].map(OsString::from));
        }
        if options.jetstream {
            args.extend([
                "-js".into(),
                "-sd".into(),
                dir.path().join("jetstream").into(),
            ]);
        }
        Self::launch_with(port, args, dir).await
    }

    /// Starts nats-server requiring TLS with `certificate` (clients need no certificate of
    /// their own; its `INFO` greeting stays plain, as NATS' is) and waits for the greeting.
    pub async fn start_tls(certificate: &ServerCertificate) -> Self {
        let dir = temp_dir("ragwatch-nats-");
        let port = free_port();
        let mut args: Vec<OsString> = ["-a", "127.0.0.1", "-p"].map(OsString::from).to_vec();
        args.push(port.to_string().into());
        args.extend([
            "--tls".into(),
            "--tlscert".into(),
            certificate.cert.clone().into(),
            "--tlskey".into(),
            certificate.key.clone().into(),
        ]);
        Self::launch_with(port, args, dir).await
    }

    async fn launch_with(port: u16, args: Vec<OsString>, dir: tempfile::TempDir) -> Self {
        let launch = Launch::new(
            "nats-server",
            find_program(&["nats-server"], &[]),
            args,
            Duration::from_secs(5),
        );
        Self::launch(Nats, port, launch, dir).await
    }

    /// `nats://127.0.0.1:<port>` (no credentials).
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// `nats://<user>:<password>@127.0.0.1:<port>`.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("nats://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// The server's version as `nats-server --version` prints it, without the `v`: `2.9.10`.
    pub fn version(&self) -> String {
        let out = Command::new(&self.launch.program)
            .arg("--version")
            .output()
            .expect("nats-server --version");
        // "nats-server: v2.9.10"
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .rsplit_once(" v")
            .map(|(_, v)| v.to_owned())
            .unwrap_or_else(|| panic!("no version in {text:?}"))
    }
}
