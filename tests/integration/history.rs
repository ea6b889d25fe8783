//! The history against the real embedded SQLite file and the real PostgreSQL: migrations,
//! writes, roll-ups, incidents, retention; then through ragwatch itself: an incident driven
//! by a real dependency going down and coming back, the API, a store that goes away, and a
//! SIGKILL that loses nothing already written.

use crate::common;

use std::time::Duration;

use common::app::TestApp;
use common::scratch::ScratchDatabase;
use common::{FaultProxy, PostgresInstance, ProxyMode};
use jiff::Timestamp;
use ragwatch::config::{ComponentKey, HistoryConfig, Scrubber, SecretUrl};
use ragwatch::history::{
    AnyStore, Batch, BeatRecord, BucketQuery, ChangeRecord, ExecutorRecord, History, IncidentQuery,
    MAX_REMEMBERED_BEATS, NewSilence, QuietRecord, Record, ResultRecord, Store,
};
use ragwatch::probe::Status;
use serde_json::Value;
use sqlx::Connection;

const MINUTE: i64 = 60_000;

/// A time given as unix milliseconds, the way the tests count.
fn ms(at: i64) -> Timestamp {
    Timestamp::from_millisecond(at).unwrap()
}

/// Redis's roll-ups of `resolution_s` in `[since_ms, until_ms)`, one bucket per `step_ms`.
fn redis_buckets(
    resolution_s: i64,
    since_ms: i64,
    until_ms: i64,
    step_ms: i64,
) -> BucketQuery<'static> {
    BucketQuery {
        component: "redis",
        resolution_s,
        since: ms(since_ms),
        until: ms(until_ms),
        step: jiff::SignedDuration::from_millis(step_ms),
    }
}

fn result(at: i64, status: Status, elapsed_ms: f64) -> ResultRecord {
    ResultRecord {
        component: ComponentKey::Redis,
        checked_at: ms(at),
        status,
        elapsed_ms,
        error: None,
    }
}

fn change(at: i64, from: Option<Status>, to: Status, error: &str) -> ChangeRecord {
    ChangeRecord {
        component: ComponentKey::Redis,
        at: ms(at),
        from,
        to,
        error: (!error.is_empty()).then(|| error.to_owned()),
    }
}

fn executor(name: &str, at_ms: i64, done: u64) -> ExecutorRecord {
    ExecutorRecord {
        name: name.to_owned(),
        at: ms(at_ms),
        heartbeat: format!(
            r#"{{"boot_at": "b", "done": {done}, "failed": 0, "pending": 0, "lag": 0}}"#
        ),
    }
}

/// A fresh SQLite file and a fresh PostgreSQL database on the machine's server; the
/// database is dropped by [`Stores::drop_all`].
struct Stores {
    list: Vec<(&'static str, AnyStore)>,
    _dir: tempfile::TempDir,
    postgres: ScratchDatabase,
}

impl Stores {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let scratch = ScratchDatabase::create("history").await;
        let sqlite = SecretUrl::parse(&format!("sqlite://{}/h.db", dir.path().display())).unwrap();
        let postgres = SecretUrl::parse(&scratch.url()).unwrap();
        Self {
            list: vec![
                (
                    "sqlite",
                    AnyStore::open(&sqlite.into(), Duration::from_secs(5)).unwrap(),
                ),
                (
                    "postgres",
                    AnyStore::open(&postgres.into(), Duration::from_secs(5)).unwrap(),
                ),
            ],
            _dir: dir,
            postgres: scratch,
        }
    }

    async fn drop_all(self) {
        drop(self.list);
        self.postgres.drop_it().await;
    }
}

#[tokio::test]
async fn both_stores_write_roll_up_and_answer_the_same() {
    let stores = Stores::new().await;
    for (name, store) in &stores.list {
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("{name}: migrations re-run: {e}"));
        let t0 = 1_800_000_000_000 - 1_800_000_000_000 % (60 * MINUTE); // an hour boundary
        let batch = Batch {
            results: vec![
                result(t0 + 1_000, Status::Green, 2.0),
                result(t0 + 31_000, Status::Green, 4.0),
                result(t0 + MINUTE + 1_000, Status::Red, 3000.0),
                result(t0 + MINUTE + 31_000, Status::Yellow, 40.0),
                result(t0 + 2 * MINUTE + 1_000, Status::Green, 3.0),
            ],
            changes: vec![
                change(t0 + 1_000, None, Status::Green, ""),
                change(
                    t0 + MINUTE + 1_000,
                    Some(Status::Green),
                    Status::Red,
                    "connection refused to 127.0.0.1:6379",
                ),
                change(
                    t0 + MINUTE + 31_000,
                    Some(Status::Red),
                    Status::Yellow,
                    "slow",
                ),
                change(
                    t0 + 2 * MINUTE + 1_000,
                    Some(Status::Yellow),
                    Status::Green,
                    "",
                ),
            ],
            executors: vec![
                executor("te_a", t0 + 1_000, 1),
                executor("te_b", t0 + 2_000, 2),
            ],
            beats: vec![],
            quiet: vec![],
        };
        store
            .write("observer-a", &batch)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        let minutes = store
            .buckets(&redis_buckets(60, t0, t0 + 3 * MINUTE, MINUTE))
            .await
            .unwrap();
        let counts: Vec<(i64, i64, i64, i64)> = minutes
            .iter()
            .map(|b| (b.start.as_millisecond() - t0, b.green, b.yellow, b.red))
            .collect();
        assert_eq!(
            counts,
            [(0, 2, 0, 0), (MINUTE, 0, 1, 1), (2 * MINUTE, 1, 0, 0)],
            "{name}"
        );
        assert_eq!(minutes[1].uptime, Some(0.5), "{name}");
        assert_eq!(minutes[1].latency_max_ms, Some(3000.0), "{name}");
        assert_eq!(
            minutes[0].latency_p50_ms,
            Some(4.0),
            "{name}: capped by the maximum"
        );
        let hour = store
            .buckets(&redis_buckets(3600, t0, t0 + 60 * MINUTE, 60 * MINUTE))
            .await
            .unwrap();
        assert_eq!(
            (hour.len(), hour[0].green, hour[0].red),
            (1, 3, 1),
            "{name}"
        );
        assert_eq!(hour[0].uptime, Some(0.8), "{name}");
        // A second batch in the same minute adds onto the roll-up.
        store
            .write(
                "observer-b",
                &Batch {
                    results: vec![result(t0 + 2_000, Status::Red, 1.0)],
                    changes: vec![],
                    executors: vec![],
                    beats: vec![],
                    quiet: vec![],
                },
            )
            .await
            .unwrap();
        let again = store
            .buckets(&redis_buckets(60, t0, t0 + MINUTE, MINUTE))
            .await
            .unwrap();
        assert_eq!((again[0].green, again[0].red), (2, 1), "{name}");

        let incidents = store
            .incidents(&IncidentQuery {
                since: ms(0),
                component: None,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(incidents.len(), 1, "{name}: {incidents:?}");
        let incident = &incidents[0];
        assert_eq!(
            (
                incident.from.map(Status::as_str),
                incident.worst.as_str(),
                incident.last.as_str()
            ),
            (Some("green"), "red", "green"),
            "{name}"
        );
        assert_eq!(incident.started_at, ms(t0 + MINUTE + 1_000), "{name}");
        assert_eq!(
            incident.ended_at,
            Some(ms(t0 + 2 * MINUTE + 1_000)),
            "{name}"
        );
        assert_eq!(
            incident.first_error.as_deref(),
            Some("connection refused to 127.0.0.1:6379"),
            "{name}"
        );
        assert_eq!(incident.changes, 3, "{name}");
        assert_eq!(
            store.changes_since("redis", ms(t0)).await.unwrap(),
            3,
            "{name}: the first result is no change"
        );
        let other = store
            .incidents(&IncidentQuery {
                since: ms(0),
                component: Some("db".into()),
                limit: 10,
            })
            .await
            .unwrap();
        assert!(other.is_empty(), "{name}");

        // Executors: the newest heartbeat wins, an older one never overwrites it.
        let late = Batch {
            executors: vec![executor("te_a", t0 + 5_000, 9), executor("te_b", t0, 0)],
            ..Batch::default()
        };
        store.write("observer-a", &late).await.unwrap();
        let remembered = store.executors("observer-a").await.unwrap();
        assert_eq!(
            remembered,
            [
                executor("te_a", t0 + 5_000, 9),
                executor("te_b", t0 + 2_000, 2)
            ],
            "{name}"
        );
        assert!(
            store.executors("observer-b").await.unwrap().is_empty(),
            "{name}"
        );

        // Executors' windows: at most MAX_REMEMBERED_BEATS each, within 30 minutes of the
        // newest, each observer's apart, a heartbeat stored once.
        let beat = |executor: &str, at_ms: i64| BeatRecord {
            executor: executor.to_owned(),
            at: ms(at_ms),
            heartbeat: format!(r#"{{"at": {at_ms}}}"#),
        };
        let window =
            |from: i64, count: i64| (0..count).map(move |i| beat("te_a", t0 + from + i * 1_000));
        let first = Batch {
            beats: window(0, 100).chain([beat("te_b", t0)]).collect(),
            ..Batch::default()
        };
        store.write("observer-a", &first).await.unwrap();
        let again = Batch {
            beats: window(90_000, 40).collect(),
            ..Batch::default()
        };
        store.write("observer-a", &again).await.unwrap();
        store
            .write(
                "observer-b",
                &Batch {
                    beats: vec![beat("te_a", t0)],
                    ..Batch::default()
                },
            )
            .await
            .unwrap();
        let kept = store.executor_beats("observer-a").await.unwrap();
        let expected: Vec<BeatRecord> = window(
            130_000 - 1_000 * MAX_REMEMBERED_BEATS as i64,
            MAX_REMEMBERED_BEATS as i64,
        )
        .chain([beat("te_b", t0)])
        .collect();
        assert_eq!(kept, expected, "{name}: the newest 120 of 130");
        let late = Batch {
            beats: vec![beat("te_a", t0 + 129_000 + 30 * MINUTE)],
            ..Batch::default()
        };
        store.write("observer-a", &late).await.unwrap();
        let kept = store.executor_beats("observer-a").await.unwrap();
        let first_kept = kept.iter().find(|b| b.executor == "te_a").unwrap();
        assert_eq!(
            first_kept.at,
            ms(t0 + 129_000),
            "{name}: 30 minutes before the newest"
        );
        assert_eq!(kept.len(), 3, "{name}");
        assert_eq!(
            store.executor_beats("observer-b").await.unwrap(),
            [beat("te_a", t0)],
            "{name}"
        );

        // Retention: bounded deletes, repeated until nothing is left to delete.
        let mut rounds = 0;
        loop {
            let deleted = store
                .prune(ms(t0 + 2 * MINUTE), ms(t0 + 10 * MINUTE), 2)
                .await
                .unwrap();
            rounds += 1;
            if deleted == 0 {
                break;
            }
        }
        assert!(rounds > 2, "{name}: chunks of 2 need several rounds");
        let left = store
            .buckets(&redis_buckets(60, t0, t0 + 3 * MINUTE, MINUTE))
            .await
            .unwrap();
        assert_eq!(left.len(), 1, "{name}: only the newest minute is kept");
        let incidents = store
            .incidents(&IncidentQuery {
                since: ms(0),
                component: None,
                limit: 10,
            })
            .await
            .unwrap();
        assert!(
            incidents.is_empty(),
            "{name}: the incident ended before the cut-off"
        );
    }
    stores.drop_all().await;
}

/// The incident list: open ones first, then the newest; closed ones only when they ended
/// since `since`; the component filter and the limit over both.
#[tokio::test]
async fn incidents_list_open_ones_first_then_the_newest() {
    let stores = Stores::new().await;
    let t0 = 1_800_000_000_000;
    let on = |component: &'static str, at: i64, from: Option<Status>, to: Status| ChangeRecord {
        component: ComponentKey::ALL
            .into_iter()
            .find(|key| key.as_str() == component)
            .expect("a fixed component key"),
        at: ms(t0 + at),
        from,
        to,
        error: (to != Status::Green).then(|| format!("{component} down")),
    };
    let (g, r) = (Status::Green, Status::Red);
    let changes = vec![
        on("redis", 0, None, g),
        on("db", 0, None, g),
        on("db", 30_000, Some(g), r),    // open, started first
        on("redis", MINUTE, Some(g), r), // closed at 2 min: A
        on("redis", 2 * MINUTE, Some(r), g),
        on("redis", 3 * MINUTE, Some(g), r), // closed at 4 min: B
        on("redis", 4 * MINUTE, Some(r), g),
        on("redis", 5 * MINUTE, Some(g), r), // open: C
    ];
    for (name, store) in &stores.list {
        store.migrate().await.unwrap();
        store
            .write(
                "observer-a",
                &Batch {
                    changes: changes.clone(),
                    ..Batch::default()
                },
            )
            .await
            .unwrap();
        let list = |since: i64, component: Option<&str>, limit: i64| {
            let query = IncidentQuery {
                since: ms(t0 + since),
                component: component.map(str::to_owned),
                limit,
            };
            async move {
                store
                    .incidents(&query)
                    .await
                    .unwrap()
                    .iter()
                    .map(|i| (i.component.clone(), i.started_at.as_millisecond() - t0))
                    .collect::<Vec<_>>()
            }
        };
        let c = ("redis".to_owned(), 5 * MINUTE);
        let db = ("db".to_owned(), 30_000);
        let b = ("redis".to_owned(), 3 * MINUTE);
        let a = ("redis".to_owned(), MINUTE);
        assert_eq!(
            list(3 * MINUTE, None, 10).await,
            [c.clone(), db.clone(), b.clone()],
            "{name}"
        );
        assert_eq!(
            list(3 * MINUTE, None, 2).await,
            [c.clone(), db.clone()],
            "{name}"
        );
        assert_eq!(
            list(3 * MINUTE, Some("redis"), 10).await,
            [c.clone(), b.clone()],
            "{name}"
        );
        assert_eq!(
            list(0, None, 10).await,
            [c.clone(), db.clone(), b, a],
            "{name}"
        );
        let open: Vec<(String, i64)> = store
            .open_incidents("observer-a")
            .await
            .unwrap()
            .iter()
            .map(|i| (i.component.clone(), i.started_at.as_millisecond() - t0))
            .collect();
        assert_eq!(open, [c, db], "{name}: open ones only, newest first");
        assert!(
            store.open_incidents("observer-b").await.unwrap().is_empty(),
            "{name}: another observer's are not ours"
        );
    }
    stores.drop_all().await;
}

#[tokio::test]
async fn a_restart_continues_the_open_incident() {
    let stores = Stores::new().await;
    for (name, store) in &stores.list {
        store.migrate().await.unwrap();
        let t0 = 1_800_000_000_000;
        let first = Batch {
            results: vec![],
            changes: vec![change(t0, Some(Status::Green), Status::Red, "down")],
            executors: vec![],
            beats: vec![],
            quiet: vec![],
        };
        store.write("me", &first).await.unwrap();
        // ragwatch restarts: its first result repeats red, then the service recovers.
        let after = Batch {
            results: vec![],
            changes: vec![
                change(t0 + 10_000, None, Status::Red, "still down"),
                change(t0 + 20_000, Some(Status::Red), Status::Green, ""),
            ],
            executors: vec![],
            beats: vec![],
            quiet: vec![],
        };
        store.write("me", &after).await.unwrap();
        let incidents = store
            .incidents(&IncidentQuery {
                since: ms(0),
                component: None,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(incidents.len(), 1, "{name}: one outage, not two");
        assert_eq!(incidents[0].ended_at, Some(ms(t0 + 20_000)), "{name}");
        assert_eq!(incidents[0].first_error.as_deref(), Some("down"), "{name}");
    }
    stores.drop_all().await;
}

/// Silences are stored, listed until they end and deleted; an open incident is marked
/// quiet once, and one opened after it is not.
#[tokio::test]
async fn both_stores_keep_silences_and_mark_quiet_incidents() {
    let stores = Stores::new().await;
    for (name, store) in &stores.list {
        store.migrate().await.unwrap();
        let t0 = 1_800_000_000_000;
        let silence = |until: i64, components: &[&str]| NewSilence {
            components: components.iter().map(|c| c.to_string()).collect(),
            created_at: ms(t0),
            until: ms(until),
            comment: "upgrade".into(),
        };
        let redis = store
            .add_silence(&silence(t0 + HOUR, &["redis"]))
            .await
            .unwrap();
        let all = store.add_silence(&silence(t0 + MINUTE, &[])).await.unwrap();
        assert_ne!(redis.id, all.id, "{name}");
        assert_eq!(
            store.silences(ms(t0)).await.unwrap(),
            [redis.clone(), all.clone()],
            "{name}"
        );
        assert_eq!(
            store.silences(ms(t0 + MINUTE)).await.unwrap(),
            std::slice::from_ref(&redis),
            "{name}: ended"
        );
        assert!(store.delete_silence(redis.id).await.unwrap(), "{name}");
        assert!(
            !store.delete_silence(redis.id).await.unwrap(),
            "{name}: gone"
        );
        assert_eq!(store.silences(ms(t0)).await.unwrap(), [all], "{name}");

        let quiet = |reason| QuietRecord {
            component: ComponentKey::Redis,
            reason,
        };
        let batch = |changes, quiet| Batch {
            results: vec![],
            changes,
            executors: vec![],
            beats: vec![],
            quiet,
        };
        let down = batch(
            vec![change(t0, Some(Status::Green), Status::Red, "down")],
            vec![quiet("maintenance"), quiet("silence")],
        );
        store.write("me", &down).await.unwrap();
        let again = batch(
            vec![
                change(t0 + 10_000, Some(Status::Red), Status::Green, ""),
                change(t0 + 20_000, Some(Status::Green), Status::Red, "down again"),
            ],
            vec![],
        );
        store.write("me", &again).await.unwrap();
        let incidents = store
            .incidents(&IncidentQuery {
                since: ms(0),
                component: None,
                limit: 10,
            })
            .await
            .unwrap();
        let marks: Vec<Option<&str>> = incidents.iter().map(|i| i.quiet.as_deref()).collect();
        assert_eq!(marks, [None, Some("maintenance")], "{name}: open one first");
    }
    stores.drop_all().await;
}

const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// What the history file holds, by time (unix ms), in a stable order.
#[derive(Debug, PartialEq)]
struct Kept {
    results: Vec<i64>,
    minute_rollups: Vec<i64>,
    hour_rollups: Vec<i64>,
    changes: Vec<i64>,
    incidents_ended: Vec<i64>,
    executors: Vec<String>,
}

async fn kept(db: &std::path::Path) -> Kept {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let mut times = async |sql: &str| -> Vec<i64> {
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    };
    Kept {
        results: times("SELECT checked_at_ms FROM results ORDER BY 1").await,
        minute_rollups: times("SELECT bucket_ms FROM rollups WHERE resolution_s = 60 ORDER BY 1")
            .await,
        hour_rollups: times("SELECT bucket_ms FROM rollups WHERE resolution_s = 3600 ORDER BY 1")
            .await,
        changes: times("SELECT at_ms FROM status_changes ORDER BY 1").await,
        incidents_ended: times("SELECT ended_at_ms FROM incidents ORDER BY 1").await,
        executors: sqlx::query_scalar("SELECT name FROM executors ORDER BY 1")
            .fetch_all(&mut conn)
            .await
            .unwrap(),
    }
}

/// A history on `db` as `serve` opens it, its writer running until `tasks` is dropped.
async fn running_history(
    db: &std::path::Path,
    config: HistoryConfig,
) -> (std::sync::Arc<History>, tokio::task::JoinSet<()>) {
    let config = HistoryConfig {
        url: SecretUrl::parse(&format!("sqlite://{}", db.display())).unwrap(),
        observer: "me".into(),
        ..config
    };
    let history = std::sync::Arc::new(
        History::open(&config, Duration::from_secs(5), Scrubber::default()).unwrap(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    history.start(&mut tasks).await;
    (history, tasks)
}

/// Retention as it runs: rows written the way ragwatch writes them (through
/// `History::record`) are deleted by the writer itself, on its first pass, past the
/// default retentions (7 days for results and minute roll-ups, 90 days for hour roll-ups,
/// status changes, incidents and remembered executors); an hour younger, they stay.
#[tokio::test]
async fn the_writer_prunes_past_the_default_retentions_on_its_first_pass() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let now = Timestamp::now().as_millisecond();
    let result = |at: i64| {
        Record::Result(ResultRecord {
            component: ComponentKey::Redis,
            checked_at: ms(at),
            status: Status::Green,
            elapsed_ms: 1.0,
            error: None,
        })
    };
    let change = |at: i64, from: Status, to: Status| {
        Record::Change(ChangeRecord {
            component: ComponentKey::Redis,
            at: ms(at),
            from: Some(from),
            to,
            error: None,
        })
    };
    let executor = |name: &str, at: i64| {
        Record::Executor(ExecutorRecord {
            name: name.to_owned(),
            at: ms(at),
            heartbeat: "{}".to_owned(),
        })
    };
    let (g, r) = (Status::Green, Status::Red);
    let (results_cut, incidents_cut) = (now - 7 * DAY, now - 90 * DAY);
    let old = [
        result(incidents_cut - HOUR),
        result(incidents_cut + HOUR),
        result(results_cut - HOUR),
        result(results_cut + HOUR),
        change(incidents_cut - 2 * HOUR, g, r),
        change(incidents_cut - HOUR, r, g),
        change(incidents_cut + HOUR, g, r),
        change(incidents_cut + 2 * HOUR, r, g),
        executor("te_gone", incidents_cut - HOUR),
        executor("te_kept", incidents_cut + HOUR),
    ];

    // An earlier ragwatch that kept everything wrote them.
    let forever = Duration::from_secs(100 * 365 * 24 * 3600);
    let (earlier, tasks) = running_history(
        &db,
        HistoryConfig {
            results_retention: forever,
            incidents_retention: forever,
            ..HistoryConfig::default()
        },
    )
    .await;
    for record in old {
        earlier.record(record);
    }
    let mut written = None;
    for _ in 0..300 {
        if earlier.store().is_ok() {
            let now_kept = kept(&db).await;
            if now_kept.results.len() == 4 && now_kept.executors.len() == 2 {
                written = Some(now_kept);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let written = written.expect("the earlier history wrote everything");
    assert_eq!(written.incidents_ended.len(), 2, "{written:?}");
    drop(tasks);
    drop(earlier);

    // ragwatch with the default retentions: its first result starts the writer's first
    // pass, which prunes.
    let (history, _tasks) = running_history(&db, HistoryConfig::default()).await;
    history.record(result(now));
    let minute = |at: i64| at - at % MINUTE;
    let hour = |at: i64| at - at % HOUR;
    let expected = Kept {
        results: vec![results_cut + HOUR, now],
        minute_rollups: vec![minute(results_cut + HOUR), minute(now)],
        hour_rollups: vec![
            hour(incidents_cut + HOUR),
            hour(results_cut - HOUR),
            hour(results_cut + HOUR),
            hour(now),
        ],
        changes: vec![incidents_cut + HOUR, incidents_cut + 2 * HOUR],
        incidents_ended: vec![incidents_cut + 2 * HOUR],
        executors: vec!["te_kept".to_owned()],
    };
    let mut last = kept(&db).await;
    for _ in 0..300 {
        if last == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = kept(&db).await;
    }
    assert_eq!(
        last, expected,
        "rows past retention gone, younger ones kept"
    );
}

fn app_config(redis: &str, history: &str) -> String {
    format!(
        "[server]\ntokens = [\"history-token\"]\n[monitor]\ninterval = \"1h\"\ntimeout = \"2s\"\n\
         [db]\nenabled = false\n[doc_engine]\nenabled = false\n[storage]\nenabled = false\n[task_executors]\nenabled = false\n\
         [redis]\nurl = \"redis://{redis}/1\"\n{history}"
    )
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    app.get_json_as(path, Some("history-token")).await
}

/// Waits until the writer has flushed (it writes at least every second).
async fn until<F: Fn(&Value) -> bool>(app: &TestApp, path: &str, done: F) -> Value {
    common::wait_until(&format!("{path} gets there"), || async {
        let (status, body) = get(app, path).await;
        (status == 200 && done(&body))
            .then_some(body.clone())
            .ok_or(format!("{status} {body}"))
    })
    .await
}

#[tokio::test]
async fn an_outage_of_a_real_dependency_becomes_one_incident() {
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    let app = TestApp::start_unscheduled(&app_config(&redis.host_port(), "")).await;
    assert_eq!(app.get_json("/v1/system/healthz?fresh=1").await.0, 200);
    redis.set_mode(ProxyMode::Refuse).await;
    assert_eq!(app.get_json("/v1/system/healthz?fresh=1").await.0, 500);
    assert_eq!(app.get_json("/v1/system/healthz?fresh=1").await.0, 500);
    let open = until(&app, "/api/v1/incidents", |b| {
        b["incidents"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    assert_eq!(open["incidents"][0]["open"], true);
    // This ragwatch's open incidents: the same one, for the page's "since" and its link.
    let (status, mine) = get(&app, "/api/v1/incidents/open").await;
    assert_eq!(status, 200, "{mine}");
    let identity = |body: &Value| {
        body["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["id"].clone(),
                    i["component"].clone(),
                    i["started_at_ms"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(identity(&mine), identity(&open), "{mine}");
    redis.set_mode(ProxyMode::Pass).await;
    assert_eq!(app.get_json("/v1/system/healthz?fresh=1").await.0, 200);
    let closed = until(&app, "/api/v1/incidents?component=redis", |b| {
        b["incidents"][0]["open"] == false
    })
    .await;
    let (_, mine) = get(&app, "/api/v1/incidents/open").await;
    assert_eq!(
        mine["incidents"],
        serde_json::json!([]),
        "none open once it ended"
    );
    let incident = &closed["incidents"][0];
    assert_eq!(incident["component"], "redis");
    assert_eq!(
        (incident["from"].as_str(), incident["worst"].as_str()),
        (Some("green"), Some("red"))
    );
    assert_eq!(
        incident["first_error"],
        format!("connection refused to {}", redis.host_port())
    );
    assert!(incident["duration_ms"].as_i64().unwrap() >= 0);
    assert_eq!(closed["incidents"].as_array().unwrap().len(), 1);

    let component = until(&app, "/api/v1/components/redis", |b| {
        b["changes_last_hour"] == 2
    })
    .await;
    let day = component["uptime"]["last_24h"].as_f64().unwrap();
    assert!(
        (0.49..0.51).contains(&day),
        "2 of 4 results ok: {component}"
    );
    let (status, strip) = get(&app, "/api/v1/components/redis/history").await;
    assert_eq!(status, 200, "{strip}");
    assert_eq!(strip["step_s"], 300);
    let buckets = strip["buckets"].as_array().unwrap();
    let total: i64 = buckets
        .iter()
        .map(|b| b["green"].as_i64().unwrap() + b["red"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 4);
    let (status, list) = get(&app, "/api/v1/components").await;
    assert_eq!(status, 200);
    assert_eq!(list["components"][0]["key"], "redis");
    assert_eq!(list["components"][0]["status"], "green");
}

#[tokio::test]
async fn history_parameters_are_checked_and_named() {
    let app = TestApp::start_unscheduled(&app_config("127.0.0.1:6379", "")).await;
    let cases = [
        (
            "/api/v1/components/redis/history?since=tomorrowish",
            "since",
        ),
        ("/api/v1/components/redis/history?until=1e400", "until"),
        (
            "/api/v1/components/redis/history?since=2000&until=1000",
            "since",
        ),
        ("/api/v1/components/redis/history?step=90s", "step"),
        ("/api/v1/components/redis/history?step=10s", "step"),
        ("/api/v1/components/redis/history?since=0&step=1m", "step"),
        (
            "/api/v1/components/redis/history?step=9223372036854775808",
            "step",
        ),
        ("/api/v1/incidents?limit=0", "limit"),
        ("/api/v1/incidents?limit=many", "limit"),
        ("/api/v1/incidents?component=mongo", "component"),
        ("/api/v1/incidents?since=soon", "since"),
    ];
    for (path, parameter) in cases {
        let (status, body) = get(&app, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["parameter"], parameter, "{path}");
    }
    let (status, body) = get(&app, "/api/v1/components/mongo").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("no component mongo is watched"))
    );
    let (status, _) = app.get_json("/api/v1/components").await;
    assert_eq!(status, 401, "token-protected");
    let body = until(&app, "/api/v1/components/redis/history?step=1h", |_| true).await;
    assert_eq!(body["resolution_s"], 3600, "{body}");
    assert_eq!(body["buckets"], serde_json::json!([]), "nothing probed yet");
}

#[tokio::test]
async fn a_history_store_that_goes_away_stops_nothing_and_resumes() {
    let mut history_db = PostgresInstance::start().await;
    let app = TestApp::start_unscheduled(&app_config(
        "127.0.0.1:6379",
        &format!("[history]\nurl = \"{}\"\n", history_db.url()),
    ))
    .await;
    assert_eq!(app.get_json("/v1/system/healthz?fresh=1").await.0, 200);
    until(&app, "/api/v1/components/redis", |b| {
        b["uptime"]["last_24h"] == 1.0
    })
    .await;
    history_db.stop().await;
    for _ in 0..3 {
        assert_eq!(
            app.get_json("/v1/system/healthz?fresh=1").await.0,
            200,
            "probing goes on"
        );
    }
    // Once the pool's connections are gone, the cause is named, not the pool's retry loop.
    let readyz = common::wait_until("readyz names the refusal", || async {
        let readyz = app.get("/readyz?verbose").await.2;
        (readyz.contains("[-]history failed") && readyz.contains("refused"))
            .then_some(readyz.clone())
            .ok_or(readyz)
    })
    .await;
    assert!(
        readyz.contains("[-]history failed (not required): history store postgres 127.0.0.1:"),
        "{readyz}"
    );
    assert!(readyz.contains("Connection refused"), "{readyz}");
    assert!(!readyz.contains("pool timed out"), "{readyz}");
    assert_eq!(
        app.get("/readyz").await.0,
        200,
        "the history is not required"
    );
    let (status, body) = get(&app, "/api/v1/components/redis/history").await;
    assert_eq!(status, 503, "{body}");
    history_db.start_again().await;
    // What was probed while the store was down is written once it is back.
    let body = until(&app, "/api/v1/components/redis/history?step=1h", |b| {
        b["buckets"].as_array().is_some_and(|buckets| {
            buckets
                .iter()
                .map(|x| x["green"].as_i64().unwrap())
                .sum::<i64>()
                == 4
        })
    })
    .await;
    assert_eq!(body["component"], "redis");
    let readyz = app.get("/readyz?verbose").await.2;
    assert!(readyz.contains("[+]history ok"), "{readyz}");
}

/// Counts in the SQLite history file: (results, results summed from minute roll-ups,
/// open incidents, closed incidents).
async fn counts(db: &std::path::Path) -> (i64, i64, i64, i64) {
    let url = format!("sqlite://{}", db.display());
    let Ok(mut conn) = sqlx::SqliteConnection::connect(&url).await else {
        return (0, 0, 0, 0);
    };
    let scalar = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let results = scalar("SELECT COUNT(*) FROM results")
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0);
    let rolled = scalar(
        "SELECT COALESCE(SUM(green + yellow + red), 0) FROM rollups WHERE resolution_s = 60",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap_or(0);
    let open = scalar("SELECT COUNT(*) FROM incidents WHERE ended_at_ms IS NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0);
    let closed = scalar("SELECT COUNT(*) FROM incidents WHERE ended_at_ms IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0);
    (results, rolled, open, closed)
}

#[tokio::test]
async fn nothing_written_is_lost_to_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    redis.set_mode(ProxyMode::Refuse).await;
    let config = dir.path().join("ragwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\n{}",
            common::free_port(),
            app_config(
                &redis.host_port(),
                &format!("[history]\nurl = \"sqlite://{}\"\n", db.display())
            )
            .replace(
                "interval = \"1h\"\ntimeout = \"2s\"",
                "interval = \"500ms\"\ntimeout = \"500ms\""
            )
            .replace("[server]\ntokens = [\"history-token\"]\n", "")
        ),
    )
    .unwrap();
    let start = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_ragwatch"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let mut ragwatch = start();
    let before = common::wait_until("the outage is recorded before the kill", || async {
        let before = counts(&db).await;
        (before.0 >= 10 && before.2 == 1)
            .then_some(before)
            .ok_or(format!("{before:?}"))
    })
    .await;
    ragwatch.start_kill().unwrap(); // SIGKILL: no flush, no shutdown
    ragwatch.wait().await.unwrap();
    let after_kill = counts(&db).await;
    assert!(
        after_kill.0 >= before.0,
        "nothing written was lost: {before:?} -> {after_kill:?}"
    );
    assert_eq!(
        after_kill.0, after_kill.1,
        "every batch is whole: results and roll-ups agree"
    );
    assert_eq!(after_kill.2, 1, "the incident is still open");

    redis.set_mode(ProxyMode::Pass).await;
    let mut ragwatch = start();
    let after = common::wait_until("the restart closes the incident", || async {
        let after = counts(&db).await;
        (after.3 == 1 && after.0 > after_kill.0)
            .then_some(after)
            .ok_or(format!("{after:?}"))
    })
    .await;
    ragwatch.start_kill().unwrap();
    ragwatch.wait().await.unwrap();
    assert_eq!(
        (after.2, after.3),
        (0, 1),
        "the restart closed the same incident: {after:?}"
    );
    assert!(
        after.0 > after_kill.0,
        "the old results are there and new ones came: {after:?}"
    );
}
