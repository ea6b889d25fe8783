//! A Prometheus or an Alertmanager of the test's own (Debian's packages, installed by
//! `scripts/test-services.sh`), on a free port, killed when dropped.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::free_port;

/// A Prometheus or Alertmanager of the test's own, killed when dropped.
pub struct Daemon {
    _child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `program` (`prometheus` or `prometheus-alertmanager`) with this config file,
    /// its data in `dir`, on a free port, and waits until it is ready.
    pub async fn start(
        program: &str,
        config: &Path,
        dir: tempfile::TempDir,
        extra: &[&str],
    ) -> Self {
        let port = free_port();
        let data = dir.path().join("data");
        let storage = if program == "prometheus" {
            "--storage.tsdb.path"
        } else {
            "--storage.path"
        };
        let child = tokio::process::Command::new(program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("{storage}={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program} (scripts/test-services.sh installs it): {e}"));
        let daemon = Self {
            _child: child,
            port,
            _dir: dir,
        };
        for _ in 0..150 {
            if reqwest::get(daemon.url("/-/ready"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return daemon;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{program} did not become ready");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> serde_json::Value {
        reqwest::Client::new()
            .get(self.url(path))
            .query(query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
