//! Own server instances for tests, each on a free port of 127.0.0.1 with its own temp dir:
//! [`RedisInstance`], [`PostgresInstance`], [`MariadbInstance`], [`NatsInstance`],
//! [`S3Server`] (s3s-fs), [`AzuriteServer`] (Azure Blob), [`GcsEmulator`]
//! (gcp-storage-emulator), [`Daemon`] (a Prometheus or an Alertmanager), [`NginxProxy`]
//! (nginx as a reverse proxy) and [`SmtpServer`] (aiosmtpd).
//!
//! They share one life cycle, [`Instance`]: a kind (one file here each) says how to prepare
//! the data dir, which program to run with which arguments, and when the server is ready;
//! the instance does the rest the same way for all:
//! - start: spawn the process, its output in a log in the temp dir, and wait until it
//!   answers its protocol (at most [`READY_TIMEOUT`]; panics with the log's tail);
//! - `kill()`: SIGKILL, like a crash (returns when the process is gone);
//! - `stop()`: graceful shutdown (bounded; SIGKILL after the kind's grace period);
//! - `start_again()`: start it again on the same port if it is not running, and wait until
//!   it is ready;
//! - `restart()`: kill if running, then `start_again()`;
//! - drop: kill the process and delete the temp dir.
//!
//! The binaries come from `scripts/test-services.sh`.

mod azurite;
mod daemon;
mod gcs;
mod mariadb;
mod nats;
mod nginx;
mod postgres;
mod programs;
mod redis;
mod s3;
mod smtp;
mod wire;

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::READY_TIMEOUT;

pub use azurite::AzuriteServer;
pub use daemon::Daemon;
pub use gcs::GcsEmulator;
pub use mariadb::MariadbInstance;
pub use nats::{NatsInstance, NatsOptions};
pub use nginx::NginxProxy;
pub use postgres::PostgresInstance;
pub use redis::RedisInstance;
pub use s3::S3Server;
pub use smtp::{Received, SmtpMode, SmtpServer};
pub use wire::{mysql_greeting, pg_ssl_request, redis_ping};

/// What one kind of server adds to the shared life cycle: its own data (credentials, ...)
/// and how to tell that it is ready.
pub trait Kind {
    /// Whether the server on 127.0.0.1:`port` answers its protocol.
    fn ready(&self, port: u16) -> impl Future<Output = bool>;
}

/// How to run a server process.
struct Launch {
    /// Shown in panics.
    name: &'static str,
    program: PathBuf,
    args: Vec<OsString>,
    /// Extra environment variables.
    env: Vec<(OsString, OsString)>,
    /// `(uid, gid)` to run as, when not the current user.
    run_as: Option<(u32, u32)>,
    /// Signal for a graceful stop (`TERM`, `INT`, ...).
    stop_signal: &'static str,
    /// How long a graceful stop may take before SIGKILL.
    grace: Duration,
    /// Signal used when dropped (`KILL` for most; PostgreSQL gets `QUIT`).
    drop_signal: &'static str,
}

impl Launch {
    /// A process stopped with SIGTERM (`grace` to exit) and killed when dropped.
    fn new(name: &'static str, program: PathBuf, args: Vec<OsString>, grace: Duration) -> Self {
        Self {
            name,
            program,
            args,
            env: Vec::new(),
            run_as: None,
            stop_signal: "TERM",
            grace,
            drop_signal: "KILL",
        }
    }
}

/// A server of its own of kind `K`: its port, temp dir, process and life cycle.
pub struct Instance<K: Kind> {
    kind: K,
    port: u16,
    launch: Launch,
    log: PathBuf,
    child: Option<Child>,
    /// Deleted when the instance is dropped (after the process is gone).
    dir: TempDir,
}

impl<K: Kind> Instance<K> {
    /// Spawns the process on `port` with its data in `dir` and waits until it is ready.
    async fn launch(kind: K, port: u16, launch: Launch, dir: TempDir) -> Self {
        let log = dir.path().join(format!("{}.log", launch.name));
        let mut instance = Self {
            kind,
            port,
            launch,
            log,
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

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
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

    /// Graceful shutdown with the kind's signal; SIGKILL after its grace period. The port is
    /// closed when this returns.
    pub async fn stop(&mut self) {
        if self.is_running() {
            self.signal(self.launch.stop_signal);
            let deadline = Instant::now() + self.launch.grace;
            while Instant::now() < deadline && self.is_running() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.kill();
    }

    /// Starts it again on the same port (if not running) and waits until it is ready. If the
    /// process exits first it is started again (at most 3 times: a previous process may still
    /// be releasing the port or shared memory). Panics with the log's tail after
    /// [`READY_TIMEOUT`].
    pub async fn start_again(&mut self) {
        if !self.is_running() {
            self.spawn();
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut respawns = 0;
        while !self.kind.ready(self.port).await {
            if !self.is_running() {
                let status = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                assert!(
                    respawns < 3 && Instant::now() < deadline,
                    "{} exited before it was ready ({status:?}); log {}:\n{}",
                    self.launch.name,
                    self.log.display(),
                    log_tail(&self.log, 40)
                );
                respawns += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.spawn();
                continue;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready after {READY_TIMEOUT:?}; log {}:\n{}",
                self.launch.name,
                self.log.display(),
                log_tail(&self.log, 40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills it (if running) and starts it again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.start_again().await;
    }

    fn spawn(&mut self) {
        let launch = &self.launch;
        let log = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .unwrap_or_else(|e| panic!("{}: open log {}: {e}", launch.name, self.log.display()))
        };
        let mut cmd = std::process::Command::new(&launch.program);
        cmd.args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log())
            .stderr(log());
        if let Some((uid, gid)) = launch.run_as {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "{}: cannot start {}: {e}",
                launch.name,
                launch.program.display()
            )
        });
        self.child = Some(child);
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = std::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl<K: Kind> Drop for Instance<K> {
    fn drop(&mut self) {
        if self.launch.drop_signal != "KILL" && self.is_running() {
            self.signal(self.launch.drop_signal);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && self.is_running() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }
}

/// A temp dir for an instance. /tmp is traversable by every user, which matters when a
/// server runs as another OS user.
fn temp_dir(prefix: &str) -> TempDir {
    let base = if programs::is_root() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(base)
        .expect("create temp dir")
}

fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Runs a one-shot setup command to completion; panics with its output if it fails.
async fn run_setup(what: &str, cmd: &mut tokio::process::Command) {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An HTTP client for set-up requests to the instances: loopback only, so no proxy.
fn local_http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("build HTTP client")
}
