//! [`MariadbInstance`]: a MariaDB server of its own.

use std::ffi::OsString;
use std::time::Duration;

use super::programs::{find_program, is_root};
use super::wire::mysql_greeting;
use super::{Instance, Kind, Launch, run_setup, temp_dir};
use crate::common::free_port;

/// A MariaDB server of its own: `mariadb-install-db` into a temp dir and `mariadbd --no-defaults`
/// on a free port of 127.0.0.1 with its own socket, datadir and error log. `root` (at `localhost`
/// and `127.0.0.1`) has a password; `--skip-name-resolve`; database `ragwatch` exists. The
/// password and database are set by an `--init-file` that runs at every start before the server
/// accepts connections.
pub type MariadbInstance = Instance<Mariadb>;

/// MariaDB: ready when it sends its handshake (protocol version 10).
pub struct Mariadb {
    password: String,
}

impl Kind for Mariadb {
    async fn ready(&self, port: u16) -> bool {
        matches!(mysql_greeting(port).await, Ok(p) if p.first() == Some(&10))
    }
}

impl Instance<Mariadb> {
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
            // Its own temp dir (passed on to the bootstrap server): in the shared /tmp, a
            // bootstrap's temporary tables were once found missing midway.
            .arg(format!("--tmpdir={}", dir.path().display()))
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
        let p = |name: &str| dir.path().join(name).display().to_string();
        let mut args: Vec<OsString> = vec![
            "--no-defaults".into(),
            format!("--datadir={}", data.display()).into(),
            format!("--socket={}", p("mysqld.sock")).into(),
            format!("--pid-file={}", p("mysqld.pid")).into(),
            format!("--tmpdir={}", dir.path().display()).into(),
            format!("--log-error={}", p("mariadbd.log")).into(),
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
        let launch = Launch::new(
            "mariadbd",
            find_program(&["mariadbd", "mysqld"], &[]),
            args,
            Duration::from_secs(20),
        );
        let kind = Mariadb {
            password: password.to_owned(),
        };
        Self::launch(kind, port, launch, dir).await
    }

    /// `mysql://root:<password>@127.0.0.1:<port>/ragwatch`.
    pub fn url(&self) -> String {
        self.url_with_password(&self.kind.password)
    }

    /// The URL with another password, for wrong-password tests.
    pub fn url_with_password(&self, password: &str) -> String {
        format!("mysql://root:{password}@127.0.0.1:{}/ragwatch", self.port)
    }
}
