//! [`NatsInstance`]: a `nats-server` of its own on a free port of 127.0.0.1, optionally with a
//! user and password and with JetStream (its store in the instance's temp dir).
//!
//! Like the instances in [`super::instances`]: `kill()` is a crash, `start_again()` brings it
//! back on the same port and waits until it greets clients, dropping it kills the process and
//! deletes the temp dir.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::{READY_TIMEOUT, free_port};

/// How a [`NatsInstance`] is started.
#[derive(Clone, Debug, Default)]
pub struct NatsOptions {
    /// `--user`/`--pass`: clients must log in with these.
    pub credentials: Option<(String, String)>,
    /// `-js -sd <tempdir>/jetstream`: JetStream enabled.
    pub jetstream: bool,
}

/// A `nats-server` of its own.
pub struct NatsInstance {
    port: u16,
    options: NatsOptions,
    program: PathBuf,
    child: Option<Child>,
    dir: TempDir,
}

impl NatsInstance {
    /// Starts nats-server on a free port and waits until it sends its `INFO` greeting.
    pub async fn start(options: NatsOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ragwatch-nats-")
            .tempdir()
            .expect("create temp dir");
        let program = ["/usr/sbin", "/usr/bin", "/usr/local/bin"]
            .iter()
            .map(|d| Path::new(d).join("nats-server"))
            .chain(
                std::env::var_os("PATH")
                    .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| d.join("nats-server")),
            )
            .find(|p| p.is_file())
            .expect("nats-server not found; run scripts/test-services.sh to install it");
        let mut instance = Self {
            port: free_port(),
            options,
            program,
            child: None,
            dir,
        };
        instance.start_again().await;
        instance
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
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
        let out = Command::new(&self.program)
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

    fn spawn(&mut self) {
        let log = self.dir.path().join("nats.log");
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("open nats.log")
        };
        let mut cmd = Command::new(&self.program);
        cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(open())
            .stderr(open());
        if let Some((user, pass)) = &self.options.credentials {
            cmd.args(["--user", user, "--pass", pass]);
        }
        if self.options.jetstream {
            cmd.arg("-js")
                .arg("-sd")
                .arg(self.dir.path().join("jetstream"));
        }
        self.child = Some(cmd.spawn().expect("start nats-server"));
    }

    fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL (a crash); the port is closed when this returns.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (if not running) and waits for its `INFO` greeting.
    pub async fn start_again(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut respawns = 0;
        if !self.is_running() {
            self.spawn();
        }
        loop {
            if greets(self.port).await {
                return;
            }
            let log_path = self.dir.path().join("nats.log");
            let log = || std::fs::read_to_string(&log_path);
            assert!(
                Instant::now() < deadline,
                "nats-server not ready after {READY_TIMEOUT:?}: {:?}",
                log()
            );
            if !self.is_running() {
                // The previous process may still hold the port for a moment.
                assert!(respawns < 3, "nats-server keeps exiting: {:?}", log());
                respawns += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
                self.spawn();
            } else {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    }
}

/// Whether a NATS server on 127.0.0.1:`port` sends its `INFO {...}` line.
async fn greets(port: u16) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(&head == b"INFO ")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Ok(true))
    )
}

impl Drop for NatsInstance {
    fn drop(&mut self) {
        self.kill();
    }
}
