//! RAGFlow's side of the contract, written from the test: task-executor heartbeats in Redis
//! exactly as `rag/svr/task_executor.py` writes them (`SADD TASKEXE name`, then
//! `ZADD name <unix time> <json.dumps(heartbeat)>`), and RAGFlow's `task`/`document` tables.

use std::io;

use redis::aio::MultiplexedConnection;
use serde_json::Value;
use serde_json::ser::Formatter;
use sqlx::Connection;

/// Unix time now in seconds, with milliseconds, like the executor's `now.timestamp()`.
pub fn unix_now() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}

/// Python `json.dumps` separators: `", "` between items and `": "` after keys.
struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// Serialises like Python's `json.dumps` (key order kept).
pub fn python_json(value: &Value) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    serde::Serialize::serialize(value, &mut serializer).unwrap();
    String::from_utf8(out).unwrap()
}

/// One heartbeat's counters and tasks.
#[derive(Clone, Debug)]
pub struct Beat {
    /// Unix time (the score).
    pub at: f64,
    /// When the process started.
    pub boot_at: &'static str,
    /// Cumulative done.
    pub done: u64,
    /// Cumulative failed.
    pub failed: u64,
    /// Group pending.
    pub pending: u64,
    /// Group lag.
    pub lag: u64,
    /// Ids of the tasks in `current`.
    pub current: Vec<&'static str>,
    /// Their `from_page` and `to_page` (from 0, the end excluded, as RAGFlow splits files).
    pub pages: (u64, u64),
}

impl Beat {
    /// A beat at `at` with these counters, booted at "boot-1", no current task.
    pub fn new(at: f64, done: u64, failed: u64) -> Self {
        Self {
            at,
            boot_at: "2025-01-02T09:12:44.903+08:00",
            done,
            failed,
            pending: 0,
            lag: 0,
            current: Vec::new(),
            pages: (0, 12),
        }
    }

    /// The same beat from a process started at another time.
    pub fn with_boot(mut self, boot_at: &'static str) -> Self {
        self.boot_at = boot_at;
        self
    }

    /// The member JSON for executor `name`, field order and separators as RAGFlow's.
    pub fn json(&self, name: &str) -> String {
        let now = jiff::Timestamp::from_millisecond((self.at * 1000.0) as i64).unwrap();
        let current: serde_json::Map<String, Value> = self
            .current
            .iter()
            .map(|id| {
                let task = serde_json::json!({"id": id, "doc_id": format!("doc-{id}"), "from_page": self.pages.0, "to_page": self.pages.1, "task_type": "", "name": format!("{id}.pdf")});
                (id.to_string(), task)
            })
            .collect();
        python_json(&serde_json::json!({
            "ip_address": "172.18.0.6",
            "pid": 41,
            "name": name,
            "now": now.to_string(),
            "boot_at": self.boot_at,
            "pending": self.pending,
            "lag": self.lag,
            "done": self.done,
            "failed": self.failed,
            "current": current,
        }))
    }
}

/// A connection to a Redis the test writes heartbeats into.
pub async fn redis(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Registers an executor and writes a member at a score, as the executor does.
pub async fn write_member(conn: &mut MultiplexedConnection, name: &str, at: f64, member: &str) {
    redis::pipe()
        .cmd("SADD")
        .arg("TASKEXE")
        .arg(name)
        .cmd("ZADD")
        .arg(name)
        .arg(at)
        .arg(member)
        .query_async::<()>(conn)
        .await
        .unwrap();
}

/// Writes heartbeats of executor `name`; returns the members written.
pub async fn write_beats(
    conn: &mut MultiplexedConnection,
    name: &str,
    beats: &[Beat],
) -> Vec<String> {
    let mut members = Vec::new();
    for beat in beats {
        let member = beat.json(name);
        write_member(conn, name, beat.at, &member).await;
        members.push(member);
    }
    members
}

/// RAGFlow's task streams (normal and high priority) and its executors' consumer group.
pub const TASK_STREAMS: [&str; 2] = ["te.1.common", "te.0.common"];
/// The consumer group RAGFlow's task executors read the task streams with.
pub const TASK_GROUP: &str = "rag_flow_svr_task_broker";

/// Creates RAGFlow's task streams with the executors' group, nothing queued, as a running
/// deployment has them (`XGROUP CREATE <stream> <group> $ MKSTREAM`).
pub async fn create_task_streams(conn: &mut MultiplexedConnection) {
    for stream in TASK_STREAMS {
        redis::cmd("XGROUP")
            .arg(&["CREATE", stream, TASK_GROUP, "$", "MKSTREAM"])
            .query_async::<()>(conn)
            .await
            .unwrap();
    }
}

/// RAGFlow's `task` and `document` tables (the columns ragwatch reads, with RAGFlow's types).
pub fn ragflow_tables_sql(postgres: bool) -> [&'static str; 2] {
    if postgres {
        [
            "CREATE TABLE document (id VARCHAR(32) PRIMARY KEY, kb_id VARCHAR(256), name VARCHAR(255), type VARCHAR(32), size BIGINT, progress REAL, progress_msg TEXT, create_time BIGINT, update_time BIGINT)",
            "CREATE TABLE task (id VARCHAR(32) PRIMARY KEY, doc_id VARCHAR(32) NOT NULL, from_page INT DEFAULT 0, to_page INT, task_type VARCHAR(32) NOT NULL DEFAULT '', priority INT DEFAULT 0, begin_at TIMESTAMP NULL, process_duration REAL DEFAULT 0, progress REAL DEFAULT 0, progress_msg TEXT DEFAULT '', retry_count INT DEFAULT 0, create_time BIGINT, update_time BIGINT)",
        ]
    } else {
        [
            "CREATE TABLE document (id VARCHAR(32) PRIMARY KEY, kb_id VARCHAR(256), name VARCHAR(255), type VARCHAR(32), size BIGINT, progress FLOAT, progress_msg TEXT, create_time BIGINT, update_time BIGINT)",
            "CREATE TABLE task (id VARCHAR(32) PRIMARY KEY, doc_id VARCHAR(32) NOT NULL, from_page INT DEFAULT 0, to_page INT, task_type VARCHAR(32) NOT NULL DEFAULT '', priority INT DEFAULT 0, begin_at DATETIME NULL, process_duration FLOAT DEFAULT 0, progress FLOAT DEFAULT 0, progress_msg TEXT, retry_count INT DEFAULT 0, create_time BIGINT, update_time BIGINT)",
        ]
    }
}

/// A RAGFlow database on one of the machine's servers, dropped at the end.
pub struct RagflowDb {
    admin_url: &'static str,
    /// Where the test's ragwatch finds it.
    pub url: String,
    name: String,
    postgres: bool,
}

impl RagflowDb {
    pub async fn create(postgres: bool) -> Self {
        let name = format!("ragwatch_rf_{}_{}", std::process::id(), super::free_port());
        let (admin_url, url) = if postgres {
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                format!("postgres://postgres@127.0.0.1:5432/{name}"),
            )
        } else {
            (
                "mysql://root@127.0.0.1:3306/mysql",
                format!("mysql://root@127.0.0.1:3306/{name}"),
            )
        };
        let db = Self {
            admin_url,
            url,
            name,
            postgres,
        };
        db.admin(&format!("CREATE DATABASE {}", db.name)).await;
        for statement in ragflow_tables_sql(postgres) {
            db.execute(statement).await;
        }
        db
    }

    pub async fn admin(&self, sql: &str) {
        if self.postgres {
            let mut conn = sqlx::PgConnection::connect(self.admin_url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::MySqlConnection::connect(self.admin_url)
                .await
                .unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    }

    pub async fn execute(&self, sql: &str) {
        if self.postgres {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    }

    pub async fn drop_database(self) {
        let force = if self.postgres { " WITH (FORCE)" } else { "" };
        self.admin(&format!("DROP DATABASE {}{force}", self.name))
            .await;
    }
}
