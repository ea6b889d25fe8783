//! [`TestApp`]: ragwatch itself, built from a TOML configuration and served in-process on a
//! free port, the way `ragwatch serve` runs it (every `?fresh=1` probing afresh unless the
//! configuration sets `server.fresh_min_interval`).

use std::net::SocketAddr;
use std::sync::Arc;

use ragwatch::app::{App, Mode, Running};
use ragwatch::monitor::Monitor;
use tokio::task::JoinHandle;

/// A running ragwatch: monitor (optionally scheduled), history and HTTP API on 127.0.0.1.
pub struct TestApp {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// The monitor behind the API.
    pub monitor: Arc<Monitor>,
    tasks: Running,
    server: JoinHandle<()>,
    client: reqwest::Client,
    _history_dir: tempfile::TempDir,
}

/// Loads a configuration from TOML text exactly as the binary loads a file.
pub fn config(toml: &str) -> ragwatch::config::Config {
    let file = tempfile::NamedTempFile::new().expect("temp config file");
    std::fs::write(file.path(), toml).expect("write config");
    ragwatch::config::load(Some(file.path()), std::iter::empty())
        .unwrap_or_else(|e| panic!("test config refused: {e}\n{toml}"))
}

/// The configuration, with the default history file moved into `dir` (tests never write
/// into the working directory).
fn with_private_history(toml: &str, dir: &std::path::Path) -> ragwatch::config::Config {
    let mut config = config(toml);
    if config.history.url.expose().as_str() == ragwatch::config::DEFAULT_HISTORY_URL {
        let url = format!("sqlite://{}/history.db", dir.display());
        config.history.url = ragwatch::config::SecretUrl::parse(&url).unwrap();
    }
    config
}

impl TestApp {
    /// Starts ragwatch with every component on its schedule.
    pub async fn start(toml: &str) -> Self {
        Self::build(toml, true).await
    }

    /// Starts ragwatch without schedules: probes run only through refreshes.
    pub async fn start_unscheduled(toml: &str) -> Self {
        Self::build(toml, false).await
    }

    async fn build(toml: &str, scheduled: bool) -> Self {
        let history_dir = tempfile::tempdir().unwrap();
        let mut config = with_private_history(toml, history_dir.path());
        // Tests change a dependency and expect the next `?fresh=1` to see it at once; the
        // bound on fresh probes has its own tests, which set `server.fresh_min_interval`.
        if !toml.contains("fresh_min_interval") {
            config.server.fresh_min_interval = std::time::Duration::ZERO;
        }
        let app = App::build(config, Mode::Serve).expect("the app builds");
        let tasks = app.start(scheduled).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app.router();
        let monitor = Arc::clone(&app.monitor);
        let limits = ragwatch::api::Limits::of(&app.config().server);
        let server = tokio::spawn(async move {
            let _ = ragwatch::api::serve(listener, router, limits, std::future::pending()).await;
        });
        Self {
            addr,
            monitor,
            tasks,
            server,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            _history_dir: history_dir,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GETs a path; returns status, content type and body.
    pub async fn get(&self, path: &str) -> (u16, String, String) {
        self.get_as(path, None).await
    }

    /// GETs a path with `Authorization: Bearer <token>` when a token is given.
    pub async fn get_as(&self, path: &str, token: Option<&str>) -> (u16, String, String) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, response.text().await.unwrap())
    }

    /// Asks a path with any method, an optional bearer token and an optional JSON body;
    /// returns the status and the body.
    pub async fn request_as(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        json: Option<&str>,
    ) -> (u16, String) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(json) = json {
            request = request
                .header("content-type", "application/json")
                .body(json.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// GETs a path and parses the JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        self.get_json_as(path, None).await
    }

    /// GETs a path with an optional bearer token and parses the JSON body.
    pub async fn get_json_as(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let (status, _, body) = self.get_as(path, token).await;
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path} answered non-JSON ({e}): {body}"));
        (status, json)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        self.tasks.abort_all();
    }
}

/// Probes every enabled component of a configuration once, as `ragwatch check` does, and
/// returns each key with its result.
pub async fn probe_once(toml: &str) -> Vec<(String, ragwatch::probe::ProbeResult)> {
    probe_config(config(toml)).await
}

/// [`probe_once`] for a configuration loaded already (with an environment of its own, say).
pub async fn probe_config(
    config: ragwatch::config::Config,
) -> Vec<(String, ragwatch::probe::ProbeResult)> {
    let app = App::build(config, Mode::Check).expect("the app builds");
    let monitor = &app.monitor;
    monitor.refresh_all().await;
    let snapshot = monitor.snapshot();
    monitor
        .components()
        .iter()
        .zip(&snapshot.results)
        .map(|(c, timed)| {
            let timed = timed.as_ref().expect("every component was probed");
            (c.key.as_str().to_owned(), (*timed.result).clone())
        })
        .collect()
}

/// The one result of a configuration with exactly one enabled component.
pub async fn probe_only(toml: &str) -> ragwatch::probe::ProbeResult {
    let mut results = probe_once(toml).await;
    assert_eq!(results.len(), 1, "expected one enabled component");
    results.remove(0).1
}

/// TOML that disables every component except `keep` (a section name).
pub fn only(keep: &str) -> String {
    ["db", "redis", "doc_engine", "storage", "task_executors"]
        .iter()
        .filter(|s| **s != keep)
        .map(|s| format!("[{s}]\nenabled = false\n"))
        .collect()
}

impl TestApp {
    /// Stops the background work (every component's schedule, the history writer, alert
    /// delivery) as if it had died, while the API keeps serving: the results it has age
    /// until they go stale.
    pub fn stop_background(&mut self) {
        self.tasks.abort_all();
    }
}

/// What `ragwatch check --json` said: its exit code, its JSON (`Null` when it printed
/// none) and its stderr.
pub struct Checked {
    /// The exit code.
    pub code: Option<i32>,
    /// The JSON printed on stdout.
    pub json: serde_json::Value,
    /// What it logged.
    pub stderr: String,
}

/// Runs the built binary's `check --json` with the configuration `toml` and the
/// environment variables `env`, in an environment without proxy or certificate-store
/// variables of its own (the test's `env` alone sets those).
pub async fn check_binary(toml: &str, env: &[(&str, &str)]) -> Checked {
    let file = tempfile::NamedTempFile::new().expect("temp config file");
    std::fs::write(file.path(), toml).expect("write config");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ragwatch"));
    command
        .args(["check", "--json", "--config"])
        .arg(file.path());
    for name in [
        "RAGWATCH_CONFIG",
        "RUST_LOG",
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let out = command.output().await.expect("ragwatch runs");
    Checked {
        code: out.status.code(),
        json: serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
