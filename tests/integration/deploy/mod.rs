//! The operator files in `deploy/` and the `Dockerfile`, each checked against the real
//! thing, one file per artefact: [`prometheus`] (promtool on the config and rules, and a
//! real Prometheus running them against a running ragwatch), [`grafana`] (the dashboard's
//! shape, and every name it and the rules read exported by a real scrape), [`alertmanager`]
//! (amtool, and a real Alertmanager inhibiting the task executors' alerts while Redis is
//! down), [`compose`] and [`kubernetes`] (their environments through `ragwatch config`),
//! [`systemd`] (`systemd-analyze verify`) and [`dockerfile`] (its commands through the
//! binary's own parser, its build context through cargo), [`operator`] (the Prometheus
//! Operator objects written from the rules and the dashboard). [`names`] reads metric and label
//! names out of PromQL, Grafana queries and an exposition; this file holds what they share.

mod alertmanager;
mod compose;
mod dockerfile;
mod grafana;
mod kubernetes;
mod names;
mod operator;
mod prometheus;
mod systemd;

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::app::TestApp;
use common::ragflow::{Beat, RagflowDb, create_task_streams, redis, unix_now, write_beats};
use common::{FixtureResponse, FixtureServer, RedisInstance, free_port, wait_until};
use names::{Exposition, parse_exposition};
use serde::Deserialize;
use serde_norway::Value as Yaml;

const BIN: &str = env!("CARGO_BIN_EXE_ragwatch");
const TOKEN: &str = "deploy-Token-42";

// ---------------------------------------------------------------------------------------------
// Files and processes.

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The YAML file at `path`, its merge keys (`<<: *anchor`) applied as docker compose does.
fn yaml(path: &str) -> Yaml {
    let mut value: Yaml =
        serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"));
    value
        .apply_merge()
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    value
}

fn yaml_documents(path: &str) -> Vec<Yaml> {
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            Yaml::deserialize(document).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
        })
        .filter(|document| !document.is_null())
        .collect()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn output(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs a command that must exit 0; returns its stdout.
fn run_ok(command: &mut Command) -> String {
    let out = output(command);
    assert!(out.status.success(), "{command:?} failed:\n{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Whether ragwatch's argument parser accepts these arguments (subcommand and flags): clap
/// reads them all before `--help` prints and exits 0, and refuses an unknown one with 2.
fn assert_ragwatch_accepts(args: &[&str]) {
    let out = output(Command::new(BIN).args(args).arg("--help"));
    assert!(
        out.status.success(),
        "ragwatch does not accept {args:?}:\n{}",
        text(&out)
    );
}

/// `ragwatch config` with exactly this environment: the effective configuration, as TOML.
fn ragwatch_config(args: &[&str], env: &[(String, String)]) -> toml::Table {
    let stdout = run_ok(
        Command::new(BIN)
            .args(args)
            .env_clear()
            .envs(env.iter().cloned()),
    );
    toml::from_str(&stdout).unwrap_or_else(|e| panic!("ragwatch config printed non-TOML: {e}"))
}

fn toml_str<'a>(table: &'a toml::Table, path: &str) -> &'a str {
    let (sections, key) = path.rsplit_once('.').unwrap();
    let mut current = table;
    for section in sections.split('.') {
        current = current[section].as_table().unwrap();
    }
    current[key]
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

fn listen_port(config: &toml::Table) -> u16 {
    toml_str(config, "server.listen")
        .parse::<std::net::SocketAddr>()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------------
// A ragwatch exporting every series: a red required document engine, RAGFlow's database
// (its parsing pipeline), Redis with a live task executor and the task queue, the history
// store and an alert receiver.

struct Watched {
    pub(super) app: TestApp,
    db: RagflowDb,
    _redis: RedisInstance,
    _hook: FixtureServer,
}

impl Watched {
    /// Stops ragwatch and drops RAGFlow's database.
    async fn finish(self) {
        drop(self.app);
        self.db.drop_database().await;
    }
}

async fn watched() -> Watched {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    // Alive for a minute: as long as these tests take.
    write_beats(
        &mut conn,
        "te_deploy",
        &[Beat::new(unix_now() - 1.0, 12, 1)],
    )
    .await;
    // RAGFlow's task queue, read as Redis streams: the groups exist, nothing is queued.
    create_task_streams(&mut conn).await;
    let hook = FixtureServer::start([("POST", "/hook", FixtureResponse::new(200, "ok"))]).await;
    let db = RagflowDb::create(false).await;
    let toml = format!(
        "[server]\ntokens = [\"{TOKEN}\"]\n[monitor]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         [db]\nurl = \"{}\"\n[redis]\nurl = \"{}\"\n\
         [doc_engine]\nurl = \"http://127.0.0.1:{}\"\n[storage]\nenabled = false\n\
         [message_queue]\nkind = \"redis_stream\"\n[parsing]\n\
         [alerts]\n[[alerts.webhook]]\nurl = \"{}/hook\"\n",
        db.url,
        server.url(),
        free_port(),
        hook.url()
    );
    Watched {
        app: TestApp::start(&toml).await,
        db,
        _redis: server,
        _hook: hook,
    }
}

/// Scrapes until the history store and the executor are in the exposition.
async fn full_scrape(app: &TestApp) -> Exposition {
    wait_until(
        "the exposition has the history and the executor",
        || async {
            let text = app.get_as("/metrics", Some(TOKEN)).await.2;
            let full = text.lines().any(|l| l == "ragwatch_history_up 1")
                && text.contains("ragwatch_parsing_queued_tasks ")
                && text.contains("ragwatch_task_executor_alive{executor=\"te_deploy\"} 1");
            full.then(|| parse_exposition(&text)).ok_or(text)
        },
    )
    .await
}
