//! `[parsing]`: rows written into RAGFlow's `task` table (on the machine's MariaDB and
//! PostgreSQL) and messages into RAGFlow's task queue streams (an own Redis) drive the
//! parsing component green, yellow and red, with the cause in words.

use crate::common;

use common::RedisInstance;
use common::app::probe_once;
use common::ragflow::{RagflowDb, create_task_streams, redis};
use ragwatch::probe::{ProbeResult, Status};

/// Every section but db, redis and parsing switched off.
const OTHERS_OFF: &str = "[doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
                          [task_executors]\nenabled = false\n";
const MINUTE_MS: i64 = 60_000;

struct Pipeline {
    db: RagflowDb,
    redis: RedisInstance,
    toml: String,
}

impl Pipeline {
    /// A RAGFlow database and Redis with both task streams and the executors' group.
    async fn start(postgres: bool) -> Self {
        let db = RagflowDb::create(postgres).await;
        let redis_server = RedisInstance::start(None).await;
        let mut conn = redis(&redis_server.url()).await;
        create_task_streams(&mut conn).await;
        let toml = format!(
            "{}[monitor]\ntimeout = \"3s\"\n[db]\nkind = \"{}\"\nurl = \"{}\"\n\
             [redis]\nurl = \"{}\"\n\
             [parsing]\nqueued_warn = \"10m\"\nqueued_critical = \"1h\"\nstuck_after = \"15m\"\nmax_lag = 5\n",
            OTHERS_OFF,
            if postgres { "postgres" } else { "mysql" },
            db.url,
            redis_server.url()
        );
        Self {
            db,
            redis: redis_server,
            toml,
        }
    }

    async fn parsing(&self) -> ProbeResult {
        probe_once(&self.toml)
            .await
            .into_iter()
            .find(|(key, _)| *key == "parsing")
            .expect("parsing is watched")
            .1
    }

    /// A task created `created_min` minutes ago at `progress`, last updated `updated_min` ago.
    async fn task(&self, id: &str, progress: f64, created_min: i64, updated_min: i64, msg: &str) {
        let now = jiff::Timestamp::now().as_millisecond();
        self.db
            .execute(&format!(
                "INSERT INTO task (id, doc_id, progress, progress_msg, create_time, update_time) \
                 VALUES ('{id}', 'doc1', {progress}, '{msg}', {}, {})",
                now - created_min * MINUTE_MS,
                now - updated_min * MINUTE_MS
            ))
            .await;
    }
}

async fn pipeline_states(postgres: bool) {
    let p = Pipeline::start(postgres).await;
    p.db.execute("INSERT INTO document (id, kb_id, name, type, size) VALUES ('doc1', 'kb', 'annual_report.pdf', 'pdf', 10)").await;

    let result = p.parsing().await;
    assert_eq!(result.status, Status::Green, "{result:?}");
    assert_eq!(result.details["queued"], 0);
    assert_eq!(result.details["queue"]["te.1.common"]["lag"], 0);

    // Old rows outside the lookback (7 days) never count; a fresh queued task is fine.
    p.task("ancient", 0.0, 8 * 24 * 60, 8 * 24 * 60, "").await;
    p.task("fresh", 0.0, 2, 2, "").await;
    let result = p.parsing().await;
    assert_eq!(result.status, Status::Green, "{result:?}");
    assert_eq!(result.details["queued"], 1);

    p.task("waiting", 0.0, 20, 20, "").await;
    let result = p.parsing().await;
    assert_eq!(result.status, Status::Yellow, "{result:?}");
    assert_eq!(
        result.error.as_deref(),
        Some("2 tasks queued, the oldest not started after 20 min (queued_warn 10 min)")
    );

    p.task("stale", 0.0, 125, 125, "").await;
    let result = p.parsing().await;
    assert_eq!(result.status, Status::Red, "{result:?}");
    assert!(
        result.error.as_deref().unwrap().starts_with(
            "3 tasks queued, the oldest not started after 2 h 5 min (queued_critical 60 min)"
        ),
        "{result:?}"
    );
    assert_eq!(result.details["oldest_queued_s"], 125 * 60);
    p.db.execute("DELETE FROM task WHERE progress = 0").await;

    p.task("stuck", 0.4, 45, 30, "Page(1~12): OCR started")
        .await;
    p.task("busy", 0.6, 5, 1, "").await;
    let result = p.parsing().await;
    assert_eq!(result.status, Status::Yellow, "{result:?}");
    assert_eq!(
        result.error.as_deref(),
        Some(
            "1 task in progress without an update for 15 min or more; the longest: \
             annual_report.pdf at 40 % for 30 min, last message: Page(1~12): OCR started"
        )
    );
    assert_eq!(result.details["running"], 2);
    assert_eq!(result.details["stuck"], 1);
    p.db.execute("DELETE FROM task").await;

    let mut conn = redis(&p.redis.url()).await;
    for i in 0..7 {
        redis::cmd("XADD")
            .arg("te.1.common")
            .arg("*")
            .arg("message")
            .arg(format!("{{\"id\": \"t{i}\"}}"))
            .query_async::<String>(&mut conn)
            .await
            .unwrap();
    }
    let result = p.parsing().await;
    assert_eq!(result.status, Status::Yellow, "{result:?}");
    assert_eq!(
        result.error.as_deref(),
        Some("te.1.common: lag of 7 tasks, above 5")
    );
    p.db.drop_database().await;
}

#[tokio::test]
async fn parsing_health_from_ragflows_task_table_on_mariadb() {
    pipeline_states(false).await;
}

#[tokio::test]
async fn parsing_health_from_ragflows_task_table_on_postgres() {
    pipeline_states(true).await;
}

#[tokio::test]
async fn a_database_without_ragflows_tables_is_named() {
    let server = RedisInstance::start(None).await;
    let result = probe_once(&format!(
        "{OTHERS_OFF}[db]\nurl = \"mysql://root@127.0.0.1:3306/mysql\"\n\
         [redis]\nurl = \"{}\"\n[parsing]\nstreams = []\n",
        server.url()
    ))
    .await
    .into_iter()
    .find(|(key, _)| *key == "parsing")
    .unwrap()
    .1;
    assert_eq!(result.status, Status::Red);
    let error = result.error.unwrap();
    assert!(
        error.starts_with("cannot read RAGFlow's task table:") && error.contains("task"),
        "{error}"
    );
}
