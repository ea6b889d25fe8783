//! Graceful shutdown of the real binary on SIGTERM: every result of a burst just before it
//! is in the store afterwards (SQLite and PostgreSQL); the alert notification in flight,
//! and the one queued behind it, are delivered; a store and a receiver that never answer
//! hold the exit no longer than `server.shutdown_timeout`, and the log counts what was lost.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::scratch::{POSTGRES_ADMIN, ScratchDatabase};
use common::served::{Served, get};
use common::{FaultProxy, FixtureResponse, FixtureServer, ProxyMode, wait_until};
use sqlx::Connection;

/// How long a test waits for ragwatch to exit after SIGTERM: far above what it needs.
const EXIT_BOUND: Duration = Duration::from_secs(60);

/// Writes `toml`, with ragwatch listening on `port` and every component a test does not
/// set turned off, as `dir/ragwatch.toml`.
fn config_file(dir: &Path, port: u16, server: &str, toml: &str) -> PathBuf {
    let path = dir.join("ragwatch.toml");
    let off: String = ["db", "redis", "doc_engine", "storage", "task_executors"]
        .iter()
        .filter(|section| !toml.contains(&format!("[{section}]")))
        .map(|section| format!("[{section}]\nenabled = false\n"))
        .collect();
    let text = format!("[server]\nlisten = \"127.0.0.1:{port}\"\n{server}{off}{toml}");
    std::fs::write(&path, text).unwrap();
    path
}

/// Where a test's history is, read directly (never through ragwatch).
enum Store {
    Sqlite(PathBuf),
    Postgres(String),
}

const RESULTS_PER_COMPONENT: &str = "SELECT component, COUNT(*) FROM results GROUP BY component";

impl Store {
    /// Results stored per component; none while the store or its schema is missing.
    async fn results(&self) -> BTreeMap<String, i64> {
        let rows: Result<Vec<(String, i64)>, sqlx::Error> = match self {
            Store::Sqlite(path) => {
                let url = format!("sqlite://{}", path.display());
                match sqlx::SqliteConnection::connect(&url).await {
                    Ok(mut conn) => {
                        sqlx::query_as(RESULTS_PER_COMPONENT)
                            .fetch_all(&mut conn)
                            .await
                    }
                    Err(error) => Err(error),
                }
            }
            Store::Postgres(name) => {
                let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query_as(RESULTS_PER_COMPONENT)
                    .fetch_all(&mut conn)
                    .await
            }
        };
        rows.unwrap_or_default().into_iter().collect()
    }
}

/// `ragwatch_probes_total` per component, from ragwatch's own /metrics: every result it
/// published so far.
async fn probes(port: u16) -> BTreeMap<String, i64> {
    let (status, text) = get(port, "/metrics", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter_map(|line| line.strip_prefix("ragwatch_probes_total{"))
        .map(|line| {
            let component = line.split("component=\"").nth(1).unwrap();
            let component = component.split('"').next().unwrap().to_owned();
            let count = line.rsplit(' ').next().unwrap().parse().unwrap();
            (component, count)
        })
        .collect()
}

/// The number in field `name` of the log line with `message`, if there is one. The logs go
/// to a pipe, so they carry no colour escapes.
fn logged_count(logs: &str, message: &str, name: &str) -> Option<u64> {
    assert!(
        !logs.contains('\u{1b}'),
        "colour escapes in piped logs:\n{logs}"
    );
    let line = logs.lines().find(|line| line.contains(message))?;
    let value = line.split(&format!("{name}=")).nth(1)?;
    let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A component's schedule in the tests with many results: several a second, each probe
/// within its interval (the store's own waits follow `monitor.timeout`, kept generous).
const FAST: &str = "interval = \"200ms\"\ntimeout = \"200ms\"\n";

/// Redis and PostgreSQL (the machine's) probed every 200 ms: results arrive many times
/// faster than the writer's one-second batches. SIGTERM comes once results have been
/// published that are not stored yet; after the exit, every one of them is.
async fn every_result_of_a_burst_is_stored_after_sigterm(store: &Store, history_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config = config_file(
        dir.path(),
        port,
        "",
        &format!(
            "[monitor]\ninterval = \"5s\"\ntimeout = \"5s\"\n\
             [redis]\nurl = \"redis://127.0.0.1:6379/1\"\n{FAST}\
             [db]\nkind = \"postgres\"\nurl = \"{POSTGRES_ADMIN}\"\n{FAST}\
             [history]\nurl = \"{history_url}\"\nobserver = \"drain\"\n"
        ),
    );
    let server = Served::start(&config, port, 1024).await;
    let published = wait_until("a burst of results not stored yet", || async {
        let published = probes(port).await;
        let stored = store.results().await;
        let unstored = published
            .iter()
            .any(|(component, n)| *n > stored.get(component).copied().unwrap_or(0));
        let burst = published.len() == 2 && published.values().all(|n| *n >= 20);
        if burst && unstored {
            Ok(published)
        } else {
            Err(format!("published {published:?}, stored {stored:?}"))
        }
    })
    .await;
    let logs = server.stop(EXIT_BOUND).await;
    let stored = store.results().await;
    for (component, n) in &published {
        let kept = stored.get(component).copied().unwrap_or(0);
        assert!(
            kept >= *n,
            "{component}: {n} results published before SIGTERM, {kept} stored after; logs:\n{logs}"
        );
    }
    assert!(
        logs.contains("History written before shutting down."),
        "{logs}"
    );
    assert!(logs.contains("Stopped."), "{logs}");
}

#[tokio::test]
async fn sigterm_after_a_burst_loses_no_result_with_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let store = Store::Sqlite(db.clone());
    every_result_of_a_burst_is_stored_after_sigterm(&store, &format!("sqlite://{}", db.display()))
        .await;
}

#[tokio::test]
async fn sigterm_after_a_burst_loses_no_result_with_postgres() {
    let scratch = ScratchDatabase::create("shutdown").await;
    let store = Store::Postgres(scratch.name.clone());
    every_result_of_a_burst_is_stored_after_sigterm(&store, &scratch.url()).await;
    scratch.drop_it().await;
}

/// How long the test's webhook receiver takes to answer.
const ANSWER_DELAY: Duration = Duration::from_secs(3);

/// Redis and PostgreSQL both refused: two alerts fire at once for one slow webhook, so
/// one is in flight and the other queued behind it when SIGTERM comes. The receiver
/// gets the second only once ragwatch has the answer to the first, and ragwatch logs no
/// notification lost.
#[tokio::test]
async fn sigterm_delivers_the_notification_in_flight_and_the_one_queued() {
    let hook = FixtureServer::start([(
        "POST",
        "/hook",
        FixtureResponse::new(200, "ok").with_delay(ANSWER_DELAY),
    )])
    .await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    redis.set_mode(ProxyMode::Refuse).await;
    let postgres = FaultProxy::start("127.0.0.1:5432").await;
    postgres.set_mode(ProxyMode::Refuse).await;
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config = config_file(
        dir.path(),
        port,
        "",
        &format!(
            "[monitor]\ninterval = \"1h\"\ntimeout = \"5s\"\n\
             [redis]\nurl = \"redis://{}/1\"\n\
             [db]\nkind = \"postgres\"\nurl = \"postgres://postgres@{}/postgres\"\n\
             [history]\nenabled = false\n\
             [alerts]\nfailure_threshold = 1\n\
             [[alerts.webhook]]\nurl = \"{}/hook\"\n",
            redis.host_port(),
            postgres.host_port(),
            hook.url()
        ),
    );
    let server = Served::start(&config, port, 1024).await;
    common::wait_for("a notification in flight", || async {
        !hook.requests_to("/hook").is_empty()
    })
    .await;
    assert_eq!(
        hook.requests_to("/hook").len(),
        1,
        "SIGTERM comes while the first is in flight"
    );
    let logs = server.stop(EXIT_BOUND).await;
    let mut fired: Vec<String> = hook
        .requests_to("/hook")
        .iter()
        .map(|request| {
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            format!("{} {}", body["component"], body["state"]).replace('"', "")
        })
        .collect();
    fired.sort();
    assert_eq!(fired, ["db firing", "redis firing"], "{logs}");
    assert!(!logs.contains("could not be delivered"), "{logs}");
    assert!(logs.contains("Stopped."), "{logs}");
}

/// The shutdown deadline of the next test.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// A PostgreSQL history that stops answering mid-run (its proxy black-holes every
/// connection) and a webhook that never answers: ragwatch exits 0 once
/// `server.shutdown_timeout` has passed, not before and not much after, logging how many
/// records it could not write (at least every result published since the store went
/// silent) and the one notification it could not deliver.
#[tokio::test]
async fn a_store_and_a_receiver_that_never_answer_cost_the_shutdown_timeout_and_are_counted() {
    let scratch = ScratchDatabase::create("shutdown").await;
    let store = Store::Postgres(scratch.name.clone());
    let postgres = FaultProxy::start("127.0.0.1:5432").await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    redis.set_mode(ProxyMode::Refuse).await;
    let silent_hook = FaultProxy::black_hole().await;
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config = config_file(
        dir.path(),
        port,
        &format!("shutdown_timeout = \"{}s\"\n", SHUTDOWN_TIMEOUT.as_secs()),
        &format!(
            "[monitor]\ninterval = \"2s\"\ntimeout = \"2s\"\n\
             [redis]\nurl = \"redis://{}/1\"\n{FAST}\
             [history]\nurl = \"postgres://postgres@{}/{}\"\nobserver = \"drain\"\n\
             [alerts]\nfailure_threshold = 1\n\
             [[alerts.webhook]]\nurl = \"http://{}/hook\"\n",
            redis.host_port(),
            postgres.host_port(),
            scratch.name,
            silent_hook.host_port()
        ),
    );
    let server = Served::start(&config, port, 1024).await;
    wait_until("results are written", || async {
        let stored = store.results().await;
        stored
            .contains_key("redis")
            .then_some(())
            .ok_or(format!("{stored:?}"))
    })
    .await;
    postgres.set_mode(ProxyMode::BlackHole).await;
    let (published, stored) = wait_until("results held while the store is silent", || async {
        let stored = store.results().await["redis"];
        let published = probes(port).await["redis"];
        (published >= stored + 10)
            .then_some((published, stored))
            .ok_or(format!("published {published}, stored {stored}"))
    })
    .await;

    let sent = Instant::now();
    let logs = server.stop(EXIT_BOUND).await;
    let took = sent.elapsed();
    assert!(
        took >= SHUTDOWN_TIMEOUT,
        "the writer and the delivery tried until the deadline; exited after {took:?}:\n{logs}"
    );
    assert!(
        took < SHUTDOWN_TIMEOUT + Duration::from_secs(5),
        "exited {took:?} after SIGTERM with shutdown_timeout {SHUTDOWN_TIMEOUT:?}:\n{logs}"
    );
    let lost = logged_count(
        &logs,
        "History records could not be written before the shutdown deadline.",
        "lost",
    )
    .unwrap_or_else(|| panic!("no count of lost records:\n{logs}"));
    assert!(
        lost >= (published - stored) as u64,
        "{lost} records lost, yet {published} results published and {stored} stored:\n{logs}"
    );
    assert_eq!(
        store.results().await["redis"],
        stored,
        "the store was silent"
    );
    let undelivered = logged_count(
        &logs,
        "Alert notifications could not be delivered before the shutdown deadline.",
        "undelivered",
    );
    assert_eq!(undelivered, Some(1), "{logs}");
    assert!(logs.contains("Stopped."), "{logs}");
    drop(postgres);
    scratch.drop_it().await;
}
