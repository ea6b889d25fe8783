//! [`Daemon`]: a Prometheus or an Alertmanager of the test's own (Debian's packages,
//! installed by `scripts/test-services.sh`).

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use super::programs::find_program;
use super::wire::http_status;
use super::{Instance, Kind, Launch, local_http};
use crate::common::free_port;

/// A Prometheus or an Alertmanager of the test's own.
pub type Daemon = Instance<Prometheus>;

/// Prometheus or Alertmanager: ready when `/-/ready` answers 200.
pub struct Prometheus;

impl Kind for Prometheus {
    async fn ready(&self, port: u16) -> bool {
        http_status(port, "/-/ready").await == Some(200)
    }
}

impl Instance<Prometheus> {
    /// Starts `program` (`prometheus` or `prometheus-alertmanager`) with this config file,
    /// its data in `dir`, on a free port, and waits until it is ready.
    pub async fn start(
        program: &'static str,
        config: &Path,
        dir: tempfile::TempDir,
        extra: &[&str],
    ) -> Self {
        let port = free_port();
        let storage = if program == "prometheus" {
            "--storage.tsdb.path"
        } else {
            "--storage.path"
        };
        let mut args: Vec<OsString> = vec![
            format!("--config.file={}", config.display()).into(),
            format!("{storage}={}", dir.path().join("data").display()).into(),
            format!("--web.listen-address=127.0.0.1:{port}").into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        let launch = Launch::new(
            program,
            find_program(&[program], &[]),
            args,
            Duration::from_secs(5),
        );
        Self::launch(Prometheus, port, launch, dir).await
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GETs a path with a query and parses the JSON answer.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> serde_json::Value {
        local_http()
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
