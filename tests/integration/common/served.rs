//! [`Served`]: the built `ragwatch serve` as a process of its own, for what only the real
//! binary shows (signals, exit codes, open-files limits), its log collected; [`get`] asks
//! it over a fresh connection.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::wait_until;

const BIN: &str = env!("CARGO_BIN_EXE_ragwatch");

/// GET with a fresh connection, within `bound`.
pub async fn get(port: u16, path: &str, bound: Duration) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(bound)
        .build()
        .unwrap();
    let response = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.map_err(|e| e.to_string())?))
}

/// `ragwatch serve` as a process under an open-files limit, its logs collected.
pub struct Served {
    process: tokio::process::Child,
    logs: tokio::task::JoinHandle<String>,
}

impl Served {
    /// Starts it with `config` under a limit of `files` open files and waits until it
    /// answers on `port`.
    pub async fn start(config: &Path, port: u16, files: usize) -> Self {
        // The shell lowers the limit, then becomes ragwatch (same process id).
        let mut process = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n {files} && exec \"$0\" serve --config \"$1\""
            ))
            .arg(BIN)
            .arg(config)
            .env_remove("RAGWATCH_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stderr = process.stderr.take().unwrap();
        let logs = tokio::spawn(async move {
            let mut logs = String::new();
            stderr.read_to_string(&mut logs).await.unwrap();
            logs
        });
        wait_until("ragwatch serves", || async {
            get(port, "/livez", Duration::from_secs(5)).await.map(drop)
        })
        .await;
        Self { process, logs }
    }

    /// Sends SIGTERM; asserts a clean exit within `bound` and returns the logs.
    pub async fn stop(mut self, bound: Duration) -> String {
        let pid = self.process.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let status = tokio::time::timeout(bound, self.process.wait())
            .await
            .unwrap_or_else(|_| panic!("ragwatch still runs {bound:?} after SIGTERM"))
            .unwrap();
        assert!(status.success(), "graceful shutdown exits 0: {status:?}");
        self.logs.await.unwrap()
    }

    /// SIGKILL (a crash): nothing is drained or given up. Returns the logs.
    pub async fn kill(mut self) -> String {
        self.process.kill().await.unwrap();
        self.logs.await.unwrap()
    }
}
