//! Own server instances for tests, each on a free port of 127.0.0.1 with its own temp dir:
//! [`RedisInstance`], [`PostgresInstance`], [`MariadbInstance`], [`S3Server`] (s3s-fs),
//! [`AzuriteServer`] (Azure Blob) and [`GcsEmulator`] (gcp-storage-emulator).
//!
//! Every instance has the same life-cycle methods, so a test can take a dependency down and bring
//! it back on the same port:
//! - `kill()`: SIGKILL, like a crash (returns when the process is gone);
//! - `stop()`: graceful shutdown (bounded; SIGKILL after a grace period);
//! - `start_again()`: start it again if it is not running, and wait until it is ready;
//! - `restart()`: kill if running, then `start_again()`.
//!
//! Dropping an instance kills its process and deletes its temp dir. Start-up waits until the
//! server answers its protocol (at most [`READY_TIMEOUT`]) and panics with the tail of the
//! server's log otherwise. The binaries come from `scripts/test-services.sh`.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{READY_TIMEOUT, free_port};

/// Per-attempt timeout of the readiness probes and the raw protocol helpers.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// Raw protocol helpers (also handy in tests).

async fn with_timeout<T>(fut: impl Future<Output = std::io::Result<T>>) -> std::io::Result<T> {
    tokio::time::timeout(PROBE_TIMEOUT, fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "probe timed out"))?
}

async fn read_line(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
    }
    Ok(line)
}

fn resp_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Sends `AUTH <password>` (when given) and then `PING` (`*1\r\n$4\r\nPING\r\n`) over raw TCP to
/// a Redis server on 127.0.0.1:`port` and returns the reply line to PING, e.g. `+PONG\r\n` or
/// `-NOAUTH Authentication required.\r\n`.
pub async fn redis_ping(port: u16, password: Option<&str>) -> std::io::Result<Vec<u8>> {
    with_timeout(async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        if let Some(pw) = password {
            stream.write_all(&resp_command(&["AUTH", pw])).await?;
            read_line(&mut stream).await?;
        }
        stream.write_all(b"*1\r\n$4\r\nPING\r\n").await?;
        read_line(&mut stream).await
    })
    .await
}

/// Sends a PostgreSQL `SSLRequest` to 127.0.0.1:`port` and returns the one-byte answer:
/// `b'N'` (no TLS) or `b'S'`.
pub async fn pg_ssl_request(port: u16) -> std::io::Result<u8> {
    with_timeout(async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
            .await?;
        stream.read_u8().await
    })
    .await
}

/// Sends a PostgreSQL `StartupMessage` and returns the type byte of the first answer: `b'R'`
/// (authentication request: the server accepts logins) or `b'E'` (e.g. still starting up).
async fn pg_startup(port: u16, user: &str, database: &str) -> std::io::Result<u8> {
    with_timeout(async {
        let mut body = 196_608u32.to_be_bytes().to_vec();
        for part in ["user", user, "database", database] {
            body.extend_from_slice(part.as_bytes());
            body.push(0);
        }
        body.push(0);
        let len = u32::try_from(body.len() + 4).expect("startup message length");
        let mut msg = len.to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(&msg).await?;
        stream.read_u8().await
    })
    .await
}

/// Connects to a MySQL/MariaDB server on 127.0.0.1:`port` and returns the payload of the first
/// packet the server sends. For a ready server that is the initial handshake: its first byte is
/// the protocol version `10`, followed by the NUL-terminated server version. An error packet starts
/// with `0xff`.
pub async fn mysql_greeting(port: u16) -> std::io::Result<Vec<u8>> {
    with_timeout(async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await?;
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await?;
        Ok(payload)
    })
    .await
}

/// Sends `GET / HTTP/1.1` over raw TCP and returns whether an HTTP response line came back.
async fn http_answers(port: u16) -> bool {
    let res = with_timeout(async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 9];
        stream.read_exact(&mut head).await?;
        Ok(head)
    })
    .await;
    matches!(res, Ok(head) if head.starts_with(b"HTTP/1."))
}

/// An HTTP client for set-up requests to the instances: loopback only, so no proxy.
fn local_http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("build HTTP client")
}

// ---------------------------------------------------------------------------------------------
// Finding programs and users.

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

fn cargo_bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs
}

/// The first of `names` found in `PATH`, `/usr/sbin`, `/usr/bin`, or `extra_dirs`.
fn find_program(names: &[&str], extra_dirs: &[PathBuf]) -> PathBuf {
    let mut dirs = path_dirs();
    dirs.extend(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"].map(PathBuf::from));
    dirs.extend_from_slice(extra_dirs);
    for name in names {
        for dir in &dirs {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "none of {names:?} found in PATH or {extra_dirs:?}; run scripts/test-services.sh to install it"
    );
}

/// The directory holding PostgreSQL's `initdb` and `postgres`: `$RAGWATCH_PG_BINDIR`, else the
/// newest `/usr/lib/postgresql/<version>/bin`, else a `PATH` directory.
fn postgres_bin_dir() -> PathBuf {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("RAGWATCH_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    path_dirs()
        .into_iter()
        .find(|d| has_both(d))
        .unwrap_or_else(|| {
            panic!("PostgreSQL initdb/postgres not found; run scripts/test-services.sh")
        })
}

fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    })
}

/// `(uid, gid)` of an OS user, from `/etc/passwd`.
fn os_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 3 && fields[0] == name {
            Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
        } else {
            None
        }
    })
}

fn temp_dir(prefix: &str) -> TempDir {
    // /tmp is traversable by every user, which matters when a server runs as another OS user.
    let base = if is_root() {
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

// ---------------------------------------------------------------------------------------------
// A long-running server process.

/// A server process: how to (re)start it, its log, and the running child if any.
struct Server {
    name: &'static str,
    program: PathBuf,
    args: Vec<OsString>,
    /// Extra environment variables.
    env: Vec<(OsString, OsString)>,
    log: PathBuf,
    /// `(uid, gid)` to run as, when not the current user.
    run_as: Option<(u32, u32)>,
    /// Signal for a graceful stop (`TERM`, `INT`, ...).
    stop_signal: &'static str,
    /// Signal used when dropped (`KILL` for most; PostgreSQL gets `QUIT`).
    drop_signal: &'static str,
    child: Option<Child>,
}

impl Server {
    fn spawn(&mut self) {
        let log = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .unwrap_or_else(|e| panic!("{}: open log {}: {e}", self.name, self.log.display()))
        };
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log())
            .stderr(log());
        if let Some((uid, gid)) = self.run_as {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "{}: cannot start {}: {e}",
                self.name,
                self.program.display()
            )
        });
        self.child = Some(child);
    }

    fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
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

    /// SIGKILL and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal`, waits up to `grace` for the exit, then SIGKILLs.
    async fn stop_with(&mut self, signal: &str, grace: Duration) {
        if !self.is_running() {
            self.kill();
            return;
        }
        self.signal(signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.is_running() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
    }

    /// Blocking variant of [`Server::stop_with`], for `Drop`.
    fn stop_blocking(&mut self, signal: &str, grace: Duration) {
        if signal != "KILL" && self.is_running() {
            self.signal(signal);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline && self.is_running() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }

    /// Polls `probe` until it returns true. If the process exits first it is started again (at
    /// most 3 times: a previous instance may still be releasing the port or shared memory).
    /// Panics with the log tail after [`READY_TIMEOUT`].
    async fn wait_ready<F, Fut>(&mut self, mut probe: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut respawns = 0;
        loop {
            if probe().await {
                return;
            }
            if !self.is_running() {
                let status = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                assert!(
                    respawns < 3 && Instant::now() < deadline,
                    "{} exited before it was ready ({status:?}); log {}:\n{}",
                    self.name,
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
                self.name,
                self.log.display(),
                log_tail(&self.log, 40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_blocking(self.drop_signal, Duration::from_secs(5));
    }
}

// ---------------------------------------------------------------------------------------------
// Redis.

/// A `redis-server` of its own: `--port P --bind 127.0.0.1 --save "" --appendonly no`
/// (`--requirepass` when a password is given), nothing kept on disk.
pub struct RedisInstance {
    port: u16,
    password: Option<String>,
    server: Server,
    /// Deleted when the instance is dropped.
    _dir: TempDir,
}

impl RedisInstance {
    /// Starts redis-server on a free port and waits until it answers PING.
    pub async fn start(password: Option<&str>) -> Self {
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
        let mut instance = Self {
            port,
            password: password.map(str::to_owned),
            server: Server {
                name: "redis-server",
                program: find_program(&["redis-server"], &[]),
                args,
                env: Vec::new(),
                log: dir.path().join("redis.log"),
                run_as: None,
                stop_signal: "TERM",
                drop_signal: "KILL",
                child: None,
            },
            _dir: dir,
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

    /// `redis://127.0.0.1:<port>/0`, or `redis://:<password>@127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        match &self.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// SIGKILL (a crash); the port is closed when this returns.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Graceful shutdown (SIGTERM).
    pub async fn stop(&mut self) {
        self.server
            .stop_with(self.server.stop_signal, Duration::from_secs(10))
            .await;
    }

    /// Starts it again on the same port (if not running) and waits until it answers PING.
    pub async fn start_again(&mut self) {
        if !self.server.is_running() {
            self.server.spawn();
        }
        let (port, pw) = (self.port, self.password.clone());
        self.server
            .wait_ready(move || {
                let pw = pw.clone();
                async move {
                    matches!(redis_ping(port, pw.as_deref()).await, Ok(r) if r.starts_with(b"+PONG"))
                }
            })
            .await;
    }

    /// Kills it (if running) and starts it again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.start_again().await;
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

/// A PostgreSQL server of its own: `initdb` into a temp dir and `postgres` on a free port of
/// 127.0.0.1. The bootstrap superuser is `ragwatch` with a password; TCP logins use
/// `scram-sha-256` (so a wrong password fails), the Unix socket in the temp dir is `trust`.
/// Databases `postgres` and `ragwatch` exist. When the tests run as root, initdb and postgres run
/// as the `postgres` OS user (PostgreSQL refuses to run as root) and the temp dir belongs to it.
pub struct PostgresInstance {
    port: u16,
    user: String,
    password: String,
    server: Server,
    /// Deleted when the instance is dropped.
    _dir: TempDir,
}

impl PostgresInstance {
    /// The password [`PostgresInstance::start`] gives the user `ragwatch`.
    pub const DEFAULT_PASSWORD: &'static str = "ragwatch-pg-pw";

    /// Starts a server with user `ragwatch`, password [`Self::DEFAULT_PASSWORD`].
    pub async fn start() -> Self {
        Self::start_with_password(Self::DEFAULT_PASSWORD).await
    }

    /// Starts a server whose user `ragwatch` has this password, and waits until it accepts
    /// logins.
    pub async fn start_with_password(password: &str) -> Self {
        let user = "ragwatch";
        let bin = postgres_bin_dir();
        let dir = temp_dir("ragwatch-pg-");
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n")).expect("write pwfile");
        let run_as = if is_root() {
            let ids = os_user("postgres").unwrap_or_else(|| {
                panic!("running as root but there is no `postgres` OS user; install postgresql")
            });
            for path in [dir.path(), pwfile.as_path()] {
                std::os::unix::fs::chown(path, Some(ids.0), Some(ids.1))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
            }
            Some(ids)
        } else {
            None
        };
        let as_user = |cmd: &mut tokio::process::Command| {
            if let Some((uid, gid)) = run_as {
                cmd.uid(uid).gid(gid);
            }
        };

        let mut initdb = tokio::process::Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", user, "-A", "scram-sha-256", "--auth-local=trust"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["-E", "UTF8", "--locale=C", "--no-sync"])
            .current_dir(dir.path());
        as_user(&mut initdb);
        run_setup("initdb", &mut initdb).await;

        // Single-user mode runs as the bootstrap superuser; make the `ragwatch` database.
        let mut single = tokio::process::Command::new(bin.join("postgres"));
        single
            .args(["--single", "-D"])
            .arg(&data)
            .args(["-c", "fsync=off", "postgres"])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        as_user(&mut single);
        let mut child = single.spawn().expect("postgres --single");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"CREATE DATABASE ragwatch;\n")
            .await
            .expect("write to postgres --single");
        drop(stdin);
        let out = child.wait_with_output().await.expect("postgres --single");
        assert!(
            out.status.success(),
            "postgres --single CREATE DATABASE failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        let port = free_port();
        let args: Vec<OsString> = vec![
            "-D".into(),
            data.into(),
            "-p".into(),
            port.to_string().into(),
            "-h".into(),
            "127.0.0.1".into(),
            "-k".into(),
            dir.path().into(),
            "-c".into(),
            "fsync=off".into(),
            "-c".into(),
            "full_page_writes=off".into(),
            "-c".into(),
            "synchronous_commit=off".into(),
            "-c".into(),
            "shared_buffers=16MB".into(),
            "-c".into(),
            "max_connections=50".into(),
            "-c".into(),
            "logging_collector=off".into(),
        ];
        let mut instance = Self {
            port,
            user: user.to_owned(),
            password: password.to_owned(),
            server: Server {
                name: "postgres",
                program: bin.join("postgres"),
                args,
                env: Vec::new(),
                log: dir.path().join("postgres.log"),
                run_as,
                stop_signal: "INT",
                drop_signal: "QUIT",
                child: None,
            },
            _dir: dir,
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

    /// The user's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `postgres://ragwatch:<password>@127.0.0.1:<port>/ragwatch`.
    pub fn url(&self) -> String {
        self.url_with_password(&self.password)
    }

    /// The URL with another password, for wrong-password tests.
    pub fn url_with_password(&self, password: &str) -> String {
        format!(
            "postgres://{}:{password}@127.0.0.1:{}/ragwatch",
            self.user, self.port
        )
    }

    /// Whether the postmaster is running.
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// SIGKILL the postmaster (a crash; the next start does crash recovery).
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Fast shutdown (SIGINT): closes sessions, then exits; the port is closed when this returns.
    pub async fn stop(&mut self) {
        self.server
            .stop_with(self.server.stop_signal, Duration::from_secs(15))
            .await;
    }

    /// Starts it again on the same port (if not running) and waits until it accepts logins.
    pub async fn start_again(&mut self) {
        if !self.server.is_running() {
            self.server.spawn();
        }
        let (port, user) = (self.port, self.user.clone());
        self.server
            .wait_ready(move || {
                let user = user.clone();
                async move { matches!(pg_startup(port, &user, "ragwatch").await, Ok(b'R')) }
            })
            .await;
    }

    /// Kills it (if running) and starts it again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.start_again().await;
    }
}

// ---------------------------------------------------------------------------------------------
// MariaDB.

/// A MariaDB server of its own: `mariadb-install-db` into a temp dir and `mariadbd --no-defaults`
/// on a free port of 127.0.0.1 with its own socket, datadir and error log. `root` (at `localhost`
/// and `127.0.0.1`) has a password; `--skip-name-resolve`; database `ragwatch` exists. The
/// password and database are set by an `--init-file` that runs at every start before the server
/// accepts connections.
pub struct MariadbInstance {
    port: u16,
    password: String,
    server: Server,
    /// Deleted when the instance is dropped.
    _dir: TempDir,
}

impl MariadbInstance {
    /// The root password [`MariadbInstance::start`] sets.
    pub const DEFAULT_PASSWORD: &'static str = "ragwatch-maria-pw";

    /// Starts a server with root password [`Self::DEFAULT_PASSWORD`].
    pub async fn start() -> Self {
        Self::start_with_password(Self::DEFAULT_PASSWORD).await
    }

    /// Starts a server with this root password and waits until it sends its handshake.
    pub async fn start_with_password(password: &str) -> Self {
        assert!(
            !password.contains(['\'', '\\']),
            "MariadbInstance: password must not contain quotes or backslashes"
        );
        let dir = temp_dir("ragwatch-maria-");
        let data = dir.path().join("data");
        let root_user = is_root();

        let mut install = tokio::process::Command::new(find_program(
            &["mariadb-install-db", "mysql_install_db"],
            &[],
        ));
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ])
            .current_dir(dir.path());
        if root_user {
            install.arg("--user=root");
        }
        run_setup("mariadb-install-db", &mut install).await;

        let init = dir.path().join("init.sql");
        std::fs::write(
            &init,
            format!(
                "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';\n\
                 ALTER USER 'root'@'localhost' IDENTIFIED BY '{password}';\n\
                 ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '{password}';\n\
                 GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n\
                 CREATE DATABASE IF NOT EXISTS ragwatch;\n"
            ),
        )
        .expect("write init.sql");

        let port = free_port();
        let log = dir.path().join("mariadbd.err");
        let p = |name: &str| dir.path().join(name).display().to_string();
        let mut args: Vec<OsString> = vec![
            "--no-defaults".into(),
            format!("--datadir={}", data.display()).into(),
            format!("--socket={}", p("mysqld.sock")).into(),
            format!("--pid-file={}", p("mysqld.pid")).into(),
            format!("--tmpdir={}", dir.path().display()).into(),
            format!("--log-error={}", log.display()).into(),
            format!("--init-file={}", init.display()).into(),
            format!("--port={port}").into(),
            "--bind-address=127.0.0.1".into(),
            "--skip-name-resolve".into(),
            "--skip-log-bin".into(),
            "--innodb-buffer-pool-size=32M".into(),
            "--innodb-log-file-size=8M".into(),
            "--innodb-flush-log-at-trx-commit=0".into(),
            "--max-connections=50".into(),
        ];
        if root_user {
            args.push("--user=root".into());
        }
        let mut instance = Self {
            port,
            password: password.to_owned(),
            server: Server {
                name: "mariadbd",
                program: find_program(&["mariadbd", "mysqld"], &[]),
                args,
                env: Vec::new(),
                log,
                run_as: None,
                stop_signal: "TERM",
                drop_signal: "KILL",
                child: None,
            },
            _dir: dir,
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

    /// `mysql://root:<password>@127.0.0.1:<port>/ragwatch`.
    pub fn url(&self) -> String {
        self.url_with_password(&self.password)
    }

    /// The URL with another password, for wrong-password tests.
    pub fn url_with_password(&self, password: &str) -> String {
        format!("mysql://root:{password}@127.0.0.1:{}/ragwatch", self.port)
    }

    /// Whether mariadbd is running.
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// SIGKILL (a crash).
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Graceful shutdown (SIGTERM); the port is closed when this returns.
    pub async fn stop(&mut self) {
        self.server
            .stop_with(self.server.stop_signal, Duration::from_secs(20))
            .await;
    }

    /// Starts it again on the same port (if not running) and waits for its handshake.
    pub async fn start_again(&mut self) {
        if !self.server.is_running() {
            self.server.spawn();
        }
        let port = self.port;
        self.server
            .wait_ready(move || async move {
                matches!(mysql_greeting(port).await, Ok(p) if p.first() == Some(&10))
            })
            .await;
    }

    /// Kills it (if running) and starts it again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.start_again().await;
    }
}

// ---------------------------------------------------------------------------------------------
// S3 (s3s-fs).

/// An S3 server of its own: `s3s-fs --host 127.0.0.1 --port P --access-key .. --secret-key ..
/// <root>`, path-style. A bucket is a directory in the root dir; objects are files in it.
/// Requests must be signed (SigV4, any region); an unsigned request gets `403 AccessDenied`.
pub struct S3Server {
    port: u16,
    server: Server,
    dir: TempDir,
}

impl S3Server {
    /// Starts s3s-fs with these credentials and buckets and waits until it answers HTTP.
    pub async fn start(access_key: &str, secret_key: &str, buckets: &[&str]) -> Self {
        let dir = temp_dir("ragwatch-s3-");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("create s3 root");
        let port = free_port();
        let args: Vec<OsString> = vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string().into(),
            "--access-key".into(),
            access_key.into(),
            "--secret-key".into(),
            secret_key.into(),
            root.into(),
        ];
        let mut instance = Self {
            port,
            server: Server {
                name: "s3s-fs",
                program: find_program(&["s3s-fs"], &cargo_bin_dirs()),
                args,
                env: Vec::new(),
                log: dir.path().join("s3s-fs.log"),
                run_as: None,
                stop_signal: "TERM",
                drop_signal: "KILL",
                child: None,
            },
            dir,
        };
        for bucket in buckets {
            instance.create_bucket(bucket);
        }
        instance.start_again().await;
        instance
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The root dir: one directory per bucket.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Creates a bucket (a directory in the root dir); works while the server runs.
    pub fn create_bucket(&self, name: &str) {
        std::fs::create_dir_all(self.root().join(name))
            .unwrap_or_else(|e| panic!("create bucket {name}: {e}"));
    }

    /// SIGTERM (SIGKILL after 5 s).
    pub async fn stop(&mut self) {
        self.server
            .stop_with(self.server.stop_signal, Duration::from_secs(5))
            .await;
    }

    /// Starts it again on the same port (if not running) and waits until it answers HTTP.
    pub async fn start_again(&mut self) {
        if !self.server.is_running() {
            self.server.spawn();
        }
        let port = self.port;
        self.server.wait_ready(move || http_answers(port)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Azure Blob Storage (Azurite).

/// An Azure Blob service of its own: `azurite-blob` on a free port, in memory, telemetry off,
/// with one storage account (`AZURITE_ACCOUNTS`) whose key the test chooses. URLs are
/// path-style: `http://127.0.0.1:<port>/<account>/<container>`. Requests must be signed (Shared
/// Key or SAS); containers are created with an account SAS this helper signs itself.
pub struct AzuriteServer {
    port: u16,
    account: String,
    key: String,
    server: Server,
    /// Deleted when the instance is dropped.
    _dir: TempDir,
}

impl AzuriteServer {
    /// The service version the helper's own requests and SAS tokens use.
    const VERSION: &'static str = "2021-06-08";

    /// Starts Azurite with this account (lowercase letters and digits) and base64 key, creates
    /// the containers, and returns once it answers.
    pub async fn start(account: &str, key: &str, containers: &[&str]) -> Self {
        let dir = temp_dir("ragwatch-azurite-");
        let port = free_port();
        let args: Vec<OsString> = vec![
            "--blobHost".into(),
            "127.0.0.1".into(),
            "--blobPort".into(),
            port.to_string().into(),
            "--inMemoryPersistence".into(),
            "--disableTelemetry".into(),
            // Azurite lags behind the service versions the Azure SDK sends.
            "--skipApiVersionCheck".into(),
            "--silent".into(),
        ];
        let mut instance = Self {
            port,
            account: account.to_owned(),
            key: key.to_owned(),
            server: Server {
                name: "azurite-blob",
                program: find_program(&["azurite-blob"], &[]),
                args,
                env: vec![("AZURITE_ACCOUNTS".into(), format!("{account}:{key}").into())],
                log: dir.path().join("azurite.log"),
                run_as: None,
                stop_signal: "TERM",
                drop_signal: "KILL",
                child: None,
            },
            _dir: dir,
        };
        instance.start_again().await;
        for container in containers {
            instance.create_container(container).await;
        }
        instance
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>/<account>`: the account's blob endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{}", self.port, self.account)
    }

    /// An account SAS for the blob service, valid for an hour, signed with `key` (pass
    /// another key for a forged token). `permissions` as Azure writes them (`rl`, `rwdlac`),
    /// `resource_types` from `s` (service), `c` (container), `o` (object).
    pub fn account_sas(&self, key: &str, permissions: &str, resource_types: &str) -> String {
        let expiry = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1))
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        // Account SAS string-to-sign since version 2020-12-06 (empty IP, protocol and
        // encryption scope), with its closing newline.
        let to_sign = format!(
            "{}\n{permissions}\nb\n{resource_types}\n\n{expiry}\n\n\n{}\n\n",
            self.account,
            Self::VERSION
        );
        let signature = azure_core::hmac::hmac_sha256(
            &to_sign,
            &azure_core::credentials::Secret::new(key.to_owned()),
        )
        .expect("account key is base64");
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sv", Self::VERSION)
            .append_pair("ss", "b")
            .append_pair("srt", resource_types)
            .append_pair("sp", permissions)
            .append_pair("se", &expiry)
            .append_pair("sig", &signature)
            .finish()
    }

    /// Creates a container (`PUT ?restype=container`, authorised by an account SAS).
    pub async fn create_container(&self, name: &str) {
        let sas = self.account_sas(&self.key, "rwdlac", "sco");
        let url = format!("{}/{name}?restype=container&{sas}", self.endpoint());
        let response = local_http()
            .put(url)
            .header("x-ms-version", Self::VERSION)
            .header("content-length", "0")
            .send()
            .await
            .unwrap_or_else(|e| panic!("create container {name}: {e}"));
        assert_eq!(
            response.status().as_u16(),
            201,
            "create container {name}: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Starts it again on the same port (if not running; containers are gone) and waits
    /// until it answers HTTP.
    pub async fn start_again(&mut self) {
        if !self.server.is_running() {
            self.server.spawn();
        }
        let port = self.port;
        self.server.wait_ready(move || http_answers(port)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Google Cloud Storage (gcp-storage-emulator).

/// A GCS JSON API of its own: `gcp-storage-emulator start` on a free port, in memory. It takes
/// no credentials; buckets are made and changed with its JSON API.
pub struct GcsEmulator {
    port: u16,
    server: Server,
    /// Deleted when the instance is dropped.
    _dir: TempDir,
}

impl GcsEmulator {
    /// Starts the emulator and creates the buckets; returns once it answers.
    pub async fn start(buckets: &[&str]) -> Self {
        let dir = temp_dir("ragwatch-gcs-");
        let port = free_port();
        let args: Vec<OsString> = vec![
            "start".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string().into(),
            "--no-store-on-disk".into(),
        ];
        let mut instance = Self {
            port,
            server: Server {
                name: "gcp-storage-emulator",
                program: find_program(&["gcp-storage-emulator"], &[]),
                args,
                env: Vec::new(),
                log: dir.path().join("gcs.log"),
                run_as: None,
                stop_signal: "TERM",
                drop_signal: "KILL",
                child: None,
            },
            _dir: dir,
        };
        instance.start_again().await;
        for bucket in buckets {
            instance.create_bucket(bucket).await;
        }
        instance
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            response.status().is_success(),
            "{what}: HTTP {}",
            response.status()
        );
    }

    /// Creates a bucket (`POST /storage/v1/b`); the emulator makes it `US`, `STANDARD`.
    pub async fn create_bucket(&self, name: &str) {
        let url = format!("{}/storage/v1/b?project=ragwatch", self.endpoint());
        let body = serde_json::json!({ "name": name });
        self.send(
            local_http().post(url).json(&body),
            &format!("create bucket {name}"),
        )
        .await;
    }

    /// Sets a bucket's location and storage class (`PATCH /storage/v1/b/<name>`).
    pub async fn set_bucket(&self, name: &str, location: &str, storage_class: &str) {
        let url = format!("{}/storage/v1/b/{name}", self.endpoint());
        let body = serde_json::json!({ "location": location, "storageClass": storage_class });
        self.send(
            local_http().patch(url).json(&body),
            &format!("patch bucket {name}"),
        )
        .await;
    }

    /// Starts it again on the same port (if not running; buckets are gone) and waits until
    /// it answers HTTP.
    pub async fn start_again(&mut self) {
        if !self.server.is_running() {
            self.server.spawn();
        }
        let port = self.port;
        self.server.wait_ready(move || http_answers(port)).await;
    }
}
