//! [`PostgresInstance`]: a PostgreSQL server of its own.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::programs::{is_root, os_user, postgres_bin_dir};
use super::wire::pg_startup;
use super::{Instance, Kind, Launch, run_setup, temp_dir};
use crate::common::free_port;
use crate::common::tls::ServerCertificate;

/// A PostgreSQL server of its own: `initdb` into a temp dir and `postgres` on a free port of
/// 127.0.0.1. The bootstrap superuser is `ragwatch` with a password; TCP logins use
/// `scram-sha-256` (so a wrong password fails), the Unix socket in the temp dir is `trust`.
/// Databases `postgres` and `ragwatch` exist. When the tests run as root, initdb and postgres run
/// as the `postgres` OS user (PostgreSQL refuses to run as root) and the temp dir belongs to it.
/// `stop()` is a fast shutdown (SIGINT: closes sessions, then exits); `kill()` a crash (the next
/// start does crash recovery).
pub type PostgresInstance = Instance<Postgres>;

/// PostgreSQL: ready when it asks a login for authentication.
pub struct Postgres {
    user: String,
    password: String,
}

impl Kind for Postgres {
    async fn ready(&self, port: u16) -> bool {
        matches!(pg_startup(port, &self.user, "ragwatch").await, Ok(b'R'))
    }
}

impl Instance<Postgres> {
    /// The password [`PostgresInstance::start`] gives the user `ragwatch`.
    pub const DEFAULT_PASSWORD: &'static str = "ragwatch-pg-pw";

    /// Starts a server with user `ragwatch`, password [`Self::DEFAULT_PASSWORD`].
    pub async fn start() -> Self {
        Self::start_with_password(Self::DEFAULT_PASSWORD).await
    }

    /// Starts a server whose user `ragwatch` has this password, and waits until it accepts
    /// logins.
    pub async fn start_with_password(password: &str) -> Self {
        Self::start_with(password, None).await
    }

    /// Starts a server with user `ragwatch`, password [`Self::DEFAULT_PASSWORD`], that
    /// also speaks TLS (`ssl = on`) with `certificate`.
    pub async fn start_tls(certificate: &ServerCertificate) -> Self {
        Self::start_with(Self::DEFAULT_PASSWORD, Some(certificate)).await
    }

    async fn start_with(password: &str, tls: Option<&ServerCertificate>) -> Self {
        let user = "ragwatch";
        let bin = postgres_bin_dir();
        let dir = temp_dir("ragwatch-pg-");
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n")).expect("write pwfile");
        // The server reads its own copies: PostgreSQL wants its key private to its user.
        let tls_files = tls.map(|certificate| {
            let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::copy(&certificate.cert, &cert).expect("copy the certificate");
            std::fs::copy(&certificate.key, &key).expect("copy the key");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                .expect("chmod the key");
            (cert, key)
        });
        let run_as = if is_root() {
            let ids = os_user("postgres").unwrap_or_else(|| {
                panic!("running as root but there is no `postgres` OS user; install postgresql")
            });
            let tls_paths = tls_files.iter().flat_map(|(cert, key)| [cert, key]);
            for path in [dir.path(), pwfile.as_path()]
                .into_iter()
                .chain(tls_paths.map(PathBuf::as_path))
            {
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
        let mut args: Vec<OsString> = vec![
            "-D".into(),
            data.into(),
            "-p".into(),
            port.to_string().into(),
            "-h".into(),
            "127.0.0.1".into(),
            "-k".into(),
            dir.path().into(),
        ];
        for setting in [
            "fsync=off",
            "full_page_writes=off",
            "synchronous_commit=off",
            "shared_buffers=16MB",
            "max_connections=50",
            "logging_collector=off",
        ] {
            args.extend(["-c".into(), setting.into()]);
        }
        if let Some((cert, key)) = &tls_files {
            for setting in [
                "ssl=on".to_owned(),
                format!("ssl_cert_file={}", cert.display()),
                format!("ssl_key_file={}", key.display()),
            ] {
                args.extend(["-c".into(), setting.into()]);
            }
        }
        let launch = Launch {
            run_as,
            stop_signal: "INT",
            drop_signal: "QUIT",
            ..Launch::new(
                "postgres",
                bin.join("postgres"),
                args,
                Duration::from_secs(15),
            )
        };
        let kind = Postgres {
            user: user.to_owned(),
            password: password.to_owned(),
        };
        Self::launch(kind, port, launch, dir).await
    }

    /// The user's password.
    pub fn password(&self) -> &str {
        &self.kind.password
    }

    /// `postgres://ragwatch:<password>@127.0.0.1:<port>/ragwatch`.
    pub fn url(&self) -> String {
        self.url_with_password(&self.kind.password)
    }

    /// The URL with another password, for wrong-password tests.
    pub fn url_with_password(&self, password: &str) -> String {
        format!(
            "postgres://{}:{password}@127.0.0.1:{}/ragwatch",
            self.kind.user, self.port
        )
    }
}
