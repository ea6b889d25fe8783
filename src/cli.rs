//! The command line: `serve` (the default), `check`, `config`, `healthcheck` and
//! `notify --test`. Exit codes carry
//! meaning: 0 all ok, 1 something is not ok (or the server failed), 2 bad configuration.

mod silence;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::api;
use crate::app::{App, Mode};
use crate::config::{Config, ConfigError, Import};
use crate::monitor::{Verdict, all_required_ok};

/// ragwatch: tells people and machines whether each service a RAG platform depends on works.
#[derive(Debug, Parser)]
#[command(name = "ragwatch", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Without one, defaults match a stock RAGFlow deployment.
    #[arg(long, global = true, env = "RAGWATCH_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// RAGFlow's own configuration: its service_conf.yaml (or .template), or the docker
    /// folder holding it and .env. Its backends become the components; --config and
    /// RAGWATCH_* variables still override single keys.
    #[arg(
        long,
        global = true,
        env = "RAGWATCH_RAGFLOW_CONF",
        value_name = "PATH"
    )]
    pub ragflow_conf: Option<PathBuf>,
    /// Format of the log lines written to stderr (filter them with RUST_LOG).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch the components and serve the HTTP API (the default).
    Serve,
    /// Probe every component once, print the result and exit 0 (all ok), 1 or 2.
    Check {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Ask the running server (at `server.listen`) whether ragwatch itself works: exit 0
    /// when `/livez` answers, else 1. Meant for a container's HEALTHCHECK; says nothing of
    /// the dependencies.
    Healthcheck,
    /// Send a test notification to every receiver of `[alerts]` (or the one named) and
    /// print each outcome: exit 0 when all were delivered, else 1.
    Notify {
        /// Send a test notification (a paging service's is resolved at once).
        #[arg(long, required = true)]
        test: bool,
        /// Only this receiver: its name as readyz shows it (`slack hooks.slack.com:443`)
        /// or its key (`alerts.slack[0]`).
        #[arg(long, value_name = "NAME")]
        receiver: Option<String>,
    },
    /// Hold back the notifications of components for a while, through the running
    /// server's API: `ragwatch silence redis 30m --comment "upgrade"`; `--list`,
    /// `--delete ID`.
    Silence(silence::SilenceArgs),
}

/// Log line formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything ok.
    Ok = 0,
    /// Something is not ok, or the server failed.
    NotOk = 1,
    /// The configuration was refused.
    BadConfig = 2,
}

/// A command that could not run.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The configuration was refused (exit 2).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The command asks for what the configuration does not have (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Anything else (exit 1).
    #[error(transparent)]
    Runtime(#[from] anyhow::Error),
}

impl Failure {
    /// The exit code this failure maps to.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Config(_) | Failure::Usage(_) => Exit::BadConfig,
            Failure::Runtime(_) => Exit::NotOk,
        }
    }
}

impl Cli {
    /// Logging for this command: stderr, `RUST_LOG` filtering, text or JSON. `check`,
    /// `config` and the others print their result on stdout, so they log only errors
    /// (`notify`, warnings too) unless asked.
    pub fn init_logging(&self) {
        let default = match self.command {
            None | Some(Command::Serve) => "info",
            // A template that fails on the test is worth a warning to the person testing.
            Some(Command::Notify { .. }) => "warn",
            Some(_) => "error",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        // Colours only for a person at a terminal: journald, `docker logs` and log
        // shippers read a pipe and would keep the escape codes.
        let builder = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_env_filter(filter);
        match self.log_format {
            LogFormat::Text => builder.init(),
            LogFormat::Json => builder.json().init(),
        }
    }

    /// Runs the command.
    pub async fn run(self) -> Result<Exit, Failure> {
        let loaded = crate::config::load_with_ragflow(
            self.config.as_deref(),
            self.ragflow_conf.as_deref(),
            std::env::vars(),
        )
        .and_then(|(config, imported)| {
            crate::app::check_templates(&config)?;
            Ok((config, imported))
        });
        let command = self.command.unwrap_or(Command::Serve);
        let (config, imported) = match (&command, loaded) {
            // Docker reserves exit code 2: a healthcheck says 0 or 1, whatever went wrong.
            (Command::Healthcheck, Err(error)) => {
                return Err(anyhow::anyhow!("invalid configuration: {error}").into());
            }
            (_, loaded) => loaded?,
        };
        match command {
            Command::Serve => serve(config).await,
            Command::Check { json } => check(config, json).await,
            Command::Config => print_config(&config, imported.as_ref()),
            Command::Healthcheck => healthcheck(&config).await,
            Command::Notify { test: _, receiver } => {
                notify_test(&config, receiver.as_deref()).await
            }
            Command::Silence(args) => silence::silence(&config, args).await,
        }
    }
}

async fn serve(config: Config) -> Result<Exit, Failure> {
    let listen = config.server.listen;
    let app = App::build(config, Mode::Serve)?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().context("listener has no address")?;
    let watched: Vec<&str> = app
        .monitor
        .components()
        .iter()
        .map(|c| c.key.as_str())
        .collect();
    let limits = api::Limits::of(&app.config().server);
    tracing::info!(
        %address,
        components = ?watched,
        max_connections = limits.max_connections,
        "Serving."
    );
    let server = &app.config().server;
    if server.open && server.tokens.is_empty() {
        tracing::warn!(
            "server.open = true: every client that reaches this address reads the protected \
             endpoints (document names, tenant ids, RAGFlow's error texts) without a token."
        );
    }
    let mut running = app.start(true).await;
    let (stop_serving, serving_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = api::serve(listener, app.router(), limits, async {
        let _ = serving_stopped.await;
    });
    tokio::pin!(server);
    tokio::select! {
        // The server ends only when told to: ending before is a failure.
        served = &mut server => {
            served.context("the HTTP server failed")?;
            return Err(anyhow::anyhow!("the HTTP server stopped on its own").into());
        }
        () = shutdown_signal() => {}
    }
    let timeout = app.config().server.shutdown_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    // Stop probing and accepting, then finish the requests in flight (a `?fresh=1` one
    // may still record a result) before the history and the alerts are drained.
    running.stop_probing().await;
    let _ = stop_serving.send(());
    let served = match tokio::time::timeout_at(deadline, &mut server).await {
        Ok(served) => served.context("the HTTP server failed"),
        Err(_) => {
            tracing::warn!(
                ?timeout,
                "Requests still in flight at the shutdown deadline were cut."
            );
            Ok(())
        }
    };
    app.drain(running, deadline).await;
    served?;
    tracing::info!("Stopped.");
    Ok(Exit::Ok)
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("Shutting down.");
}

/// One component's line in `check --json`.
#[derive(Serialize)]
struct CheckedComponent<'a> {
    kind: &'a str,
    required: bool,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<String>,
    elapsed_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    checked_at: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    details: serde_json::Value,
}

async fn check(config: Config, json: bool) -> Result<Exit, Failure> {
    let app = App::build(config, Mode::Check)?;
    let monitor = &app.monitor;
    monitor.refresh_all().await;
    let snapshot = monitor.snapshot();
    let now = Instant::now();
    let verdicts: Vec<Verdict> = snapshot.verdicts(monitor.components(), now);
    let ok = all_required_ok(monitor.components().iter().zip(&verdicts));
    let mut out = String::new();
    if json {
        let components: serde_json::Map<String, serde_json::Value> = monitor
            .components()
            .iter()
            .zip(verdicts)
            .map(|(c, v)| {
                let line = CheckedComponent {
                    kind: c.kind,
                    required: c.required,
                    status: v.shown_status(),
                    cause: v.cause_text(),
                    elapsed_ms: v.elapsed_ms,
                    checked_at: v.result.as_ref().map(|r| r.checked_at),
                    details: v
                        .result
                        .as_ref()
                        .map_or(serde_json::Value::Null, |r| r.details.clone().into()),
                    error: v.error,
                };
                (c.key.as_str().to_owned(), serde_json::json!(line))
            })
            .collect();
        let body = serde_json::json!({
            "status": if ok { "ok" } else { "nok" },
            "components": components,
        });
        out = serde_json::to_string_pretty(&body).expect("JSON serialises");
        out.push('\n');
    } else {
        // Columns as wide as their longest entry (`models.<name>` keys can be long).
        let components = monitor.components();
        let key_width = components
            .iter()
            .map(|c| c.key.as_str().len())
            .fold(9, usize::max);
        let kind_width = components.iter().map(|c| c.kind.len()).fold(4, usize::max);
        out.push_str(&format!(
            "{:<key_width$} {:<kind_width$} {:<7} {:>10}  {}\n",
            "COMPONENT", "KIND", "STATUS", "ELAPSED", "ERROR"
        ));
        for (c, v) in components.iter().zip(verdicts) {
            let required = if c.required { "" } else { " (not required)" };
            let error = match (v.cause_text(), v.error.as_deref()) {
                (Some(cause), Some(error)) => format!("{cause} ({error})"),
                (_, error) => error.unwrap_or("-").to_owned(),
            };
            out.push_str(&format!(
                "{:<key_width$} {:<kind_width$} {:<7} {:>7.1} ms  {error}{required}\n",
                c.key.as_str(),
                c.kind,
                v.shown_status(),
                v.elapsed_ms,
            ));
        }
        out.push_str(if ok { "status: ok\n" } else { "status: nok\n" });
    }
    write_stdout(&out)?;
    Ok(if ok { Exit::Ok } else { Exit::NotOk })
}

fn print_config(config: &Config, imported: Option<&Import>) -> Result<Exit, Failure> {
    let mut text = String::new();
    if let Some(import) = imported {
        let files: Vec<String> = import
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        text.push_str(&format!(
            "# Imported from RAGFlow's configuration: {}\n",
            files.join(" with ")
        ));
        for (choice, source) in &import.choices {
            text.push_str(&format!("# {choice}: {source}\n"));
        }
        for (key, sources) in &import.sources {
            text.push_str(&format!("# {key}:\n"));
            for source in sources {
                text.push_str(&format!("#     {source}\n"));
            }
        }
        text.push_str("# (values set by --config or RAGWATCH_* variables win over these)\n\n");
    }
    // The effective values: an unset observer is the host name.
    let mut shown = config.clone();
    shown.history.observer = shown.history.observer_name();
    text.push_str(
        &shown
            .to_annotated_toml()
            .context("cannot print the configuration")?,
    );
    write_stdout(&text)?;
    Ok(Exit::Ok)
}

/// How long a healthcheck waits for the server's answer.
const HEALTHCHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where this machine reaches the server of `server.listen`: one listening on every
/// interface is asked on loopback.
fn local_address(config: &Config) -> std::net::SocketAddr {
    let mut address = config.server.listen;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    address
}

async fn healthcheck(config: &Config) -> Result<Exit, Failure> {
    let address = local_address(config);
    let url = format!("http://{address}/livez");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(HEALTHCHECK_TIMEOUT)
        .build()
        .context("cannot make an HTTP client")?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("ragwatch does not answer at {url}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(anyhow::anyhow!("{url} answered HTTP {}", status.as_u16()).into());
    }
    write_stdout("ok\n")?;
    Ok(Exit::Ok)
}

/// Sends a test notification to the receivers and prints one line each: `ok` or `failed`,
/// the receiver's name and key, and why it failed (scrubbed).
async fn notify_test(config: &Config, only: Option<&str>) -> Result<Exit, Failure> {
    let no_receiver = || Failure::Usage("no receiver to test: [alerts] configures none".into());
    let alerts = crate::app::receivers(config)?.ok_or_else(no_receiver)?;
    if alerts.health().is_empty() {
        return Err(no_receiver());
    }
    let outcomes = alerts.test(only).await.map_err(|names| {
        Failure::Usage(format!(
            "no receiver is named {:?}; the receivers are: {}",
            only.unwrap_or_default(),
            names.join(", ")
        ))
    })?;
    let mut out = String::new();
    for outcome in &outcomes {
        let (verdict, why) = match &outcome.error {
            None => ("ok", String::new()),
            Some(error) => ("failed", format!(": {error}")),
        };
        out.push_str(&format!(
            "{verdict:<6} {} ({}){why}\n",
            outcome.name, outcome.key
        ));
    }
    write_stdout(&out)?;
    let all_ok = outcomes.iter().all(|o| o.error.is_none());
    Ok(if all_ok { Exit::Ok } else { Exit::NotOk })
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    Ok(())
}
