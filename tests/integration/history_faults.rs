//! The history under faults, against real stores: a SQLite file on a filesystem that fills
//! up and is given space again, a PostgreSQL database dropped and recreated under a running
//! writer, a PostgreSQL store behind a black hole while the API is asked, and the first
//! result after start opening an incident whose earlier status nobody knows.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::app::TestApp;
use common::{FaultProxy, ProxyMode};
use jiff::Timestamp;
use ragwatch::config::{ComponentKey, HistoryConfig, Scrubber, SecretUrl};
use ragwatch::history::{AnyStore, Batch, BucketQuery, History, Record, ResultRecord, Store};
use ragwatch::probe::Status;
use sqlx::Connection;

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallFilesystem {
    dir: tempfile::TempDir,
}

impl SmallFilesystem {
    /// A tmpfs of `size` (as `mount` reads it, e.g. `2m`); the tests run as root, as
    /// `scripts/test.sh` does, so they may mount.
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "mounting a {size} tmpfs needs root (CAP_SYS_ADMIN): {status:?}"
        );
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Frees space the way an operator would: the filesystem grows.
    fn grow(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "remount {size}");
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A history writing into the SQLite file `db` as `serve` runs it.
async fn sqlite_history(db: &Path) -> (Arc<History>, tokio::task::JoinSet<()>) {
    let config = HistoryConfig {
        url: SecretUrl::parse(&format!("sqlite://{}", db.display())).unwrap(),
        observer: "me".into(),
        ..HistoryConfig::default()
    };
    let history =
        Arc::new(History::open(&config, Duration::from_secs(5), Scrubber::default()).unwrap());
    let mut tasks = tokio::task::JoinSet::new();
    history.start(&mut tasks).await;
    (history, tasks)
}

/// A Redis result at `at` (unix ms) whose error text is `padding` bytes long.
fn padded_result(at: i64, padding: usize) -> Record {
    Record::Result(ResultRecord {
        component: ComponentKey::Redis,
        checked_at: Timestamp::from_millisecond(at).unwrap(),
        status: Status::Red,
        elapsed_ms: 1.0,
        error: Some("x".repeat(padding)),
    })
}

/// Results committed at or after `since_ms`, counted through a connection of its own (so
/// nothing a pooled connection holds uncommitted is seen).
async fn committed_since(db: &Path, since_ms: i64) -> i64 {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM results WHERE checked_at_ms >= ?")
        .bind(since_ms)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    count
}

/// A disk-full episode: the writer fails and says so, and once there is space again it
/// commits by itself, says it works only when it does, and every reader sees the same
/// committed rows.
#[tokio::test]
async fn the_history_recovers_from_a_full_disk_and_never_claims_to_work_while_not_committing() {
    let disk = SmallFilesystem::mount("1m");
    let db = disk.path().join("history.db");
    let (history, _tasks) = sqlite_history(&db).await;
    let start = Timestamp::now().as_millisecond();

    // Fill it: 100 KB of results a second until the store says the disk is full.
    let mut at = start;
    let full = common::wait_until("the store fills up and says so", || {
        for _ in 0..5 {
            at += 1;
            history.record(padded_result(at, 2_000));
        }
        let health = history.health();
        async move {
            match &health.error {
                Some(error) if error.contains("full") => Ok(error.clone()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    assert!(full.contains("database or disk is full"), "{full}");
    // It goes on failing while full, and never says it works meanwhile.
    for _ in 0..20 {
        history.record(padded_result(at, 2_000));
        at += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            history.health().error.is_some(),
            "no write can succeed on a full disk"
        );
    }

    disk.grow("64m");
    let after = at + 1_000_000;
    let mut marker = after;
    common::wait_until("new results are committed once there is space", || {
        marker += 1;
        history.record(padded_result(marker, 10));
        let db = db.clone();
        async move {
            let committed = committed_since(&db, after).await;
            (committed > 0).then_some(()).ok_or(format!("{committed}"))
        }
    })
    .await;

    // From now on, whenever the store says it works, what it has taken is committed.
    for round in 0..10 {
        let first = marker + 1;
        for _ in 0..5 {
            marker += 1;
            history.record(padded_result(marker, 10));
        }
        let db = db.clone();
        let history = &history;
        common::wait_until(&format!("round {round} committed"), || {
            let db = db.clone();
            async move {
                let health = history.health();
                let committed = committed_since(&db, first).await;
                if health.error.is_none() && health.pending == 0 && committed == 5 {
                    Ok(())
                } else {
                    Err(format!("{health:?}, {committed} of 5 committed"))
                }
            }
        })
        .await;
    }
    assert!(history.health().error.is_none());

    // Every pooled reader agrees with a connection of its own.
    let store = history.store().unwrap();
    let own = committed_since(&db, start).await;
    let query = BucketQuery {
        component: "redis",
        resolution_s: 60,
        since: Timestamp::from_millisecond(start - 60_000).unwrap(),
        until: Timestamp::from_millisecond(marker + 60_000).unwrap(),
        step: jiff::SignedDuration::from_hours(24),
    };
    let reads = futures_util::future::join_all((0..8).map(|_| store.buckets(&query))).await;
    for read in reads {
        let total: i64 = read
            .unwrap()
            .iter()
            .map(|b| b.green + b.yellow + b.red)
            .sum();
        assert_eq!(total, own, "a pooled reader sees exactly what is committed");
    }
}

/// Reads the store's results of Redis through its pool: what the roll-ups count.
async fn pooled_count(store: &AnyStore) -> i64 {
    let query = BucketQuery {
        component: "redis",
        resolution_s: 60,
        since: Timestamp::UNIX_EPOCH,
        until: Timestamp::from_millisecond(4_000_000_000_000).unwrap(),
        step: jiff::SignedDuration::from_hours(24 * 365 * 100),
    };
    store
        .buckets(&query)
        .await
        .unwrap()
        .iter()
        .map(|b| b.green + b.yellow + b.red)
        .sum()
}

/// The store itself on a filling disk, batch after batch as the writer sends them: a write
/// that says it succeeded has committed (a connection of its own sees it), a failed one
/// leaves nothing behind on the connection it used, and once there is space every write
/// commits again.
#[tokio::test]
async fn a_store_write_on_a_full_disk_succeeds_only_when_committed() {
    let disk = SmallFilesystem::mount("1m");
    let db = disk.path().join("history.db");
    let url = SecretUrl::parse(&format!("sqlite://{}", db.display())).unwrap();
    let store = AnyStore::open(&url.into(), Duration::from_secs(5)).unwrap();
    store.migrate().await.unwrap();
    let mut at = 1_800_000_000_000;
    let mut batch = |records: usize| {
        let results = (0..records)
            .map(|_| {
                at += 1;
                match padded_result(at, 2_000) {
                    Record::Result(result) => result,
                    _ => unreachable!("a result"),
                }
            })
            .collect();
        Batch {
            results,
            ..Batch::default()
        }
    };
    let (mut failures, mut committed) = (0, 0);
    for round in 0..80 {
        if round == 50 {
            assert!(failures > 0, "the disk filled up");
            disk.grow("64m");
        }
        match store.write("me", &batch(50)).await {
            Ok(()) => committed += 50,
            Err(error) => {
                assert!(
                    error.to_string().contains("database or disk is full"),
                    "{error}"
                );
                assert!(round < 50, "round {round}: there is space: {error}");
                failures += 1;
            }
        }
        assert_eq!(
            committed_since(&db, 0).await,
            committed,
            "round {round}: every write that said so is committed, no other"
        );
        for reader in 0..4 {
            assert_eq!(
                pooled_count(&store).await,
                committed,
                "round {round}: pooled reader {reader} sees only what is committed"
            );
        }
    }
}

const POSTGRES_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of its own on the machine's PostgreSQL, dropped by [`ScratchDatabase::drop_it`].
struct ScratchDatabase {
    name: String,
}

impl ScratchDatabase {
    async fn create() -> Self {
        let name = format!(
            "ragwatch_faults_{}_{}",
            std::process::id(),
            common::free_port()
        );
        let db = Self { name };
        db.admin(&format!("CREATE DATABASE {}", db.name)).await;
        db
    }

    async fn admin(&self, sql: &str) {
        let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN).await.unwrap();
        sqlx::query(sql).execute(&mut admin).await.unwrap();
        admin.close().await.unwrap();
    }

    /// Drops it, whoever is connected.
    async fn drop_it(&self) {
        self.admin(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await;
    }
}

fn app_config(history_url: &str) -> String {
    format!(
        "[server]\ntokens = [\"faults-token\"]\n[monitor]\ninterval = \"1h\"\ntimeout = \"2s\"\n\
         [db]\nenabled = false\n[doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
         [task_executors]\nenabled = false\n[redis]\nurl = \"redis://127.0.0.1:6379/1\"\n\
         [history]\nurl = \"{history_url}\"\nobserver = \"me\"\n"
    )
}

/// While the store is known to be down, one component is answered at once from its latest
/// result, saying the history is unavailable, instead of after the pool's wait.
#[tokio::test]
async fn a_component_is_answered_at_once_while_the_history_is_down() {
    let db = ScratchDatabase::create().await;
    let postgres = FaultProxy::start("127.0.0.1:5432").await;
    let app = TestApp::start_unscheduled(&app_config(&format!(
        "postgres://postgres@{}/{}",
        postgres.host_port(),
        db.name
    )))
    .await;
    let get = async |path: &str| app.get_json_as(path, Some("faults-token")).await;
    assert_eq!(app.get_json("/v1/system/healthz?fresh=1").await.0, 200);
    common::wait_until("the first result is in the history", || async {
        let (status, body) = get("/api/v1/components/redis").await;
        (status == 200 && body["uptime"]["last_24h"] == 1.0)
            .then_some(())
            .ok_or(format!("{status} {body}"))
    })
    .await;

    postgres.set_mode(ProxyMode::BlackHole).await;
    assert_eq!(app.get_json("/v1/system/healthz?fresh=1").await.0, 200);
    common::wait_until("readyz says the history failed", || async {
        let readyz = app.get("/readyz?verbose").await.2;
        readyz
            .contains("[-]history failed")
            .then_some(())
            .ok_or(readyz)
    })
    .await;
    let asked = std::time::Instant::now();
    let (status, body) = get("/api/v1/components/redis").await;
    let took = asked.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "answered in {took:?}, not after the pool's 2 s wait: {body}"
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "green", "the latest result: {body}");
    assert!(body["checked_at"].is_string(), "{body}");
    assert!(
        body["history_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("history unavailable: ")),
        "{body}"
    );
    assert!(body.get("uptime").is_none(), "{body}");

    drop(app);
    postgres.set_mode(ProxyMode::Refuse).await;
    db.drop_it().await;
}

/// Results the PostgreSQL database `name` holds, or why it cannot say.
async fn postgres_results(name: &str) -> Result<i64, String> {
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .map_err(|e| e.to_string())?;
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM results")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string());
    conn.close().await.ok();
    count
}

/// A history database dropped and created again under a running writer gets its schema
/// again from the writer, which then goes on writing.
#[tokio::test]
async fn a_recreated_history_database_is_migrated_again() {
    let db = ScratchDatabase::create().await;
    let config = HistoryConfig {
        url: SecretUrl::parse(&format!("postgres://postgres@127.0.0.1:5432/{}", db.name)).unwrap(),
        observer: "me".into(),
        ..HistoryConfig::default()
    };
    let history =
        Arc::new(History::open(&config, Duration::from_secs(5), Scrubber::default()).unwrap());
    let mut tasks = tokio::task::JoinSet::new();
    history.start(&mut tasks).await;
    let mut at = Timestamp::now().as_millisecond();
    let mut written = async |history: &History, what: &str| {
        common::wait_until(what, || {
            at += 1;
            history.record(padded_result(at, 10));
            async {
                match postgres_results(&db.name).await {
                    Ok(count) if count > 0 => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
    };
    written(&history, "the first results are written").await;

    db.drop_it().await;
    db.admin(&format!("CREATE DATABASE {}", db.name)).await;
    written(&history, "the new database has the schema and the results").await;
    assert!(history.health().error.is_none(), "{:?}", history.health());

    drop(tasks);
    db.drop_it().await;
}

/// An incident opened by the first result after start, red, came from nothing known: its
/// `from` is null, in both stores and in the API; one opened by a change from green says
/// green.
#[tokio::test]
async fn an_incident_opened_by_the_first_result_came_from_an_unknown_status() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDatabase::create().await;
    let stores = [
        format!("sqlite://{}/h.db", dir.path().display()),
        format!("postgres://postgres@127.0.0.1:5432/{}", db.name),
    ];
    let t0 = 1_800_000_000_000;
    let change = |at: i64, component: ComponentKey, from: Option<Status>, to: Status| {
        ragwatch::history::ChangeRecord {
            component,
            at: Timestamp::from_millisecond(t0 + at).unwrap(),
            from,
            to,
            error: None,
        }
    };
    let (g, r) = (Status::Green, Status::Red);
    for url in stores {
        let store = AnyStore::open(
            &SecretUrl::parse(&url).unwrap().into(),
            Duration::from_secs(5),
        )
        .unwrap();
        store.migrate().await.unwrap();
        let batch = Batch {
            changes: vec![
                change(0, ComponentKey::Redis, None, r),
                change(0, ComponentKey::Db, None, g),
                change(1_000, ComponentKey::Db, Some(g), r),
            ],
            ..Batch::default()
        };
        store.write("me", &batch).await.unwrap();
        let incidents = store
            .incidents(&ragwatch::history::IncidentQuery {
                since: Timestamp::UNIX_EPOCH,
                component: None,
                limit: 10,
            })
            .await
            .unwrap();
        let from: Vec<(String, Option<Status>)> = incidents
            .iter()
            .map(|i| (i.component.clone(), i.from))
            .collect();
        assert_eq!(
            from,
            [("db".to_owned(), Some(g)), ("redis".to_owned(), None)],
            "{url}"
        );
        let json = serde_json::to_value(&incidents[1]).unwrap();
        assert_eq!(json["from"], serde_json::Value::Null, "{url}: {json}");
    }
    db.drop_it().await;

    // Through ragwatch: the first result after start is red.
    let dir = tempfile::tempdir().unwrap();
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    redis.set_mode(ProxyMode::Refuse).await;
    let app = TestApp::start_unscheduled(
        &app_config(&format!("sqlite://{}/h.db", dir.path().display()))
            .replace("127.0.0.1:6379", &redis.host_port()),
    )
    .await;
    assert_eq!(app.get_json("/v1/system/healthz?fresh=1").await.0, 500);
    let incident = common::wait_until("the incident is recorded", || async {
        let (status, body) = app
            .get_json_as("/api/v1/incidents", Some("faults-token"))
            .await;
        match body["incidents"].as_array() {
            Some(list) if status == 200 && list.len() == 1 => Ok(list[0].clone()),
            _ => Err(format!("{status} {body}")),
        }
    })
    .await;
    assert_eq!(incident["from"], serde_json::Value::Null, "{incident}");
    assert_eq!(incident["worst"], "red", "{incident}");
}
