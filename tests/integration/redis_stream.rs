//! The `[message_queue]` probe of kind `redis_stream` (RAGFlow's task queue streams) against
//! our own Redis instances, driven as RAGFlow drives them: `XGROUP CREATE .. MKSTREAM`,
//! `XADD` by the API server, `XREADGROUP`/`XACK` by the task executors.

use crate::common;

use common::app::{TestApp, only, probe_only};
use common::{FaultProxy, RedisInstance, free_port};
use ragwatch::probe::{ProbeResult, Status};
use redis::aio::MultiplexedConnection;
use serde_json::json;

const GROUP: &str = "rag_flow_svr_task_broker";
const CONSUMER: &str = "task_executor_common_x_0";

/// Probes `[message_queue]` of kind `redis_stream` alone at `url`; `extra` lands in the
/// section (a 2 s timeout unless it sets one).
async fn probe(url: &str, extra: &str) -> ProbeResult {
    let timeout = if extra.contains("timeout") {
        ""
    } else {
        "timeout = \"2s\"\n"
    };
    probe_only(&format!(
        "{}[message_queue]\nkind = \"redis_stream\"\nurl = \"{url}\"\n{timeout}{extra}",
        only("message_queue")
    ))
    .await
}

async fn connect(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn run(conn: &mut MultiplexedConnection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// `XGROUP CREATE <stream> <group> 0 MKSTREAM`, as RAGFlow's executors do at start.
async fn create_group(conn: &mut MultiplexedConnection, stream: &str, group: &str) {
    run(conn, &["XGROUP", "CREATE", stream, group, "0", "MKSTREAM"]).await;
}

/// `XADD`s `n` task messages the way RAGFlow queues them; returns their ids.
async fn queue_tasks(conn: &mut MultiplexedConnection, stream: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let message = json!({
            "id": format!("task-{stream}-{i}"),
            "doc_id": "d0c",
            "from_page": i * 12,
            "to_page": (i + 1) * 12,
            "progress": 0.0,
        })
        .to_string();
        match run(conn, &["XADD", stream, "*", "message", &message]).await {
            redis::Value::BulkString(id) => ids.push(String::from_utf8(id).unwrap()),
            other => panic!("XADD answered {other:?}"),
        }
    }
    ids
}

/// An executor takes `read` tasks (`XREADGROUP .. COUNT read .. >`) and acknowledges the first
/// `acked` of them. Nothing is read (and no consumer is made) when `read` is 0.
async fn take_tasks(conn: &mut MultiplexedConnection, stream: &str, read: usize, acked: usize) {
    if read == 0 {
        return;
    }
    let count = read.to_string();
    let args = [
        "XREADGROUP",
        "GROUP",
        GROUP,
        CONSUMER,
        "COUNT",
        &count,
        "STREAMS",
        stream,
        ">",
    ];
    run(conn, &args).await;
    let delivered: Vec<String> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(acked)
        .query_async::<Vec<(String, Vec<(String, String)>)>>(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for id in delivered {
        run(conn, &["XACK", stream, GROUP, &id]).await;
    }
}

/// A queue as RAGFlow leaves it: both streams with the executors' group; `te.0.common` got
/// `added` tasks of which `read` were delivered and `acked` acknowledged; `te.1.common` got
/// one task, delivered and not acknowledged.
async fn ragflow_queue(url: &str, added: usize, read: usize, acked: usize) {
    let mut conn = connect(url).await;
    run(&mut conn, &["FLUSHDB"]).await;
    for stream in ["te.1.common", "te.0.common"] {
        create_group(&mut conn, stream, GROUP).await;
    }
    queue_tasks(&mut conn, "te.0.common", added).await;
    take_tasks(&mut conn, "te.0.common", read, acked).await;
    queue_tasks(&mut conn, "te.1.common", 1).await;
    take_tasks(&mut conn, "te.1.common", 1, 0).await;
}

fn details(result: &ProbeResult) -> serde_json::Value {
    serde_json::Value::Object(result.details.clone())
}

#[tokio::test]
async fn pending_and_lag_per_stream_are_exact() {
    let server = RedisInstance::start(None).await;
    let url = server.url();
    // (name, added, read, acknowledged, consumers, pending, lag)
    let cases = [
        ("nothing queued", 0, 0, 0, 0, 0, 0),
        ("all waiting", 5, 0, 0, 0, 0, 5),
        ("some delivered", 5, 3, 0, 1, 3, 2),
        ("some acknowledged", 5, 3, 1, 1, 2, 2),
        ("all done", 4, 4, 4, 1, 0, 0),
    ];
    for (name, added, read, acked, consumers, pending, lag) in cases {
        ragflow_queue(&url, added, read, acked).await;
        let result = probe(&url, "").await;
        assert_eq!(result.status, Status::Green, "{name}: {:?}", result.error);
        assert_eq!(result.error, None, "{name}");
        assert_eq!(
            details(&result),
            json!({
                "te.1.common": {"consumers": 1, "pending": 1, "lag": 0},
                "te.0.common": {"consumers": consumers, "pending": pending, "lag": lag},
            }),
            "{name}"
        );
        // In the configured order.
        let keys: Vec<&str> = result.details.keys().map(String::as_str).collect();
        assert_eq!(keys, ["te.1.common", "te.0.common"], "{name}");
    }
}

#[tokio::test]
async fn the_streams_and_group_come_from_the_configuration() {
    let server = RedisInstance::start(None).await;
    let url = server.url();
    let mut conn = connect(&url).await;
    create_group(&mut conn, "te.2.custom", "my_executors").await;
    queue_tasks(&mut conn, "te.2.custom", 3).await;
    create_group(&mut conn, "te.0.common", GROUP).await;
    let result = probe(
        &url,
        "streams = [\"te.2.custom\"]\ngroup = \"my_executors\"\n",
    )
    .await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(
        details(&result),
        json!({"te.2.custom": {"consumers": 0, "pending": 0, "lag": 3}})
    );
}

#[tokio::test]
async fn the_default_url_is_the_redis_url() {
    let server = RedisInstance::start(Some("queue-secret")).await;
    ragflow_queue(&server.url(), 3, 1, 0).await;
    // `[redis]` is not probed, but its URL is the queue's default.
    let toml = only("message_queue").replace(
        "[redis]\n",
        &format!("[redis]\nurl = \"{}\"\n", server.url()),
    );
    let result = probe_only(&format!(
        "{toml}[message_queue]\nkind = \"redis_stream\"\ntimeout = \"2s\"\n"
    ))
    .await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(
        details(&result)["te.0.common"],
        json!({"consumers": 1, "pending": 1, "lag": 2})
    );
}

#[tokio::test]
async fn limits_turn_it_yellow_naming_the_stream_and_numbers() {
    let server = RedisInstance::start(None).await;
    let url = server.url();
    // te.0.common: 3 pending, lag 2; te.1.common: 1 pending, lag 0.
    ragflow_queue(&url, 5, 3, 0).await;
    let cases = [
        ("no limits", "", None),
        ("at the limits", "max_pending = 3\nmax_lag = 2\n", None),
        (
            "pending above",
            "max_pending = 2\n",
            Some("te.0.common: 3 pending tasks, above 2"),
        ),
        (
            "lag above",
            "max_lag = 1\n",
            Some("te.0.common: lag of 2 tasks, above 1"),
        ),
        (
            "both above on one stream",
            "max_pending = 1\nmax_lag = 1\n",
            Some("te.0.common: 3 pending tasks, above 1; te.0.common: lag of 2 tasks, above 1"),
        ),
        (
            "both streams above",
            "max_pending = 0\n",
            Some("te.1.common: 1 pending tasks, above 0; te.0.common: 3 pending tasks, above 0"),
        ),
    ];
    for (name, extra, warning) in cases {
        let result = probe(&url, extra).await;
        let status = if warning.is_some() {
            Status::Yellow
        } else {
            Status::Green
        };
        assert_eq!(result.status, status, "{name}: {:?}", result.error);
        assert_eq!(result.error.as_deref(), warning, "{name}");
        // The numbers stay in the details either way.
        assert_eq!(
            details(&result),
            json!({
                "te.1.common": {"consumers": 1, "pending": 1, "lag": 0},
                "te.0.common": {"consumers": 1, "pending": 3, "lag": 2},
            }),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_unknown_lag_is_null_and_not_compared() {
    let server = RedisInstance::start(None).await;
    let url = server.url();
    ragflow_queue(&url, 5, 3, 0).await;
    // Deleting a task not delivered yet leaves Redis unable to tell the lag.
    let mut conn = connect(&url).await;
    let last: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
        .arg("te.0.common")
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    run(&mut conn, &["XDEL", "te.0.common", &last[0].0]).await;
    let result = probe(&url, "max_lag = 0\n").await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(
        details(&result)["te.0.common"],
        json!({"consumers": 1, "pending": 3, "lag": null})
    );
}

/// A queue set-up and the warning it gets.
struct Case {
    name: &'static str,
    /// Streams to make: with this group (`XGROUP CREATE .. MKSTREAM`), or `None` for a stream
    /// with one task and no group at all.
    streams: &'static [(&'static str, Option<&'static str>)],
    /// Appended to `[message_queue]`.
    extra: &'static str,
    warning: &'static str,
    /// The streams listed in the details.
    listed: &'static [&'static str],
}

#[tokio::test]
async fn missing_streams_and_groups_are_yellow() {
    let server = RedisInstance::start(None).await;
    let url = server.url();
    let mut conn = connect(&url).await;
    let cases = [
        Case {
            name: "no queue at all",
            streams: &[],
            extra: "",
            warning: "stream te.1.common does not exist yet; stream te.0.common does not exist yet",
            listed: &[],
        },
        Case {
            name: "high priority stream missing",
            streams: &[("te.0.common", Some(GROUP))],
            extra: "",
            warning: "stream te.1.common does not exist yet",
            listed: &["te.0.common"],
        },
        Case {
            name: "a stream without any group",
            streams: &[("te.1.common", None), ("te.0.common", Some(GROUP))],
            extra: "",
            warning: "stream te.1.common has no consumer group rag_flow_svr_task_broker",
            listed: &["te.0.common"],
        },
        Case {
            name: "a stream with another group only",
            streams: &[("te.1.common", Some("other")), ("te.0.common", Some(GROUP))],
            extra: "",
            warning: "stream te.1.common has no consumer group rag_flow_svr_task_broker",
            listed: &["te.0.common"],
        },
        Case {
            name: "another group configured",
            streams: &[("te.1.common", Some(GROUP)), ("te.0.common", Some(GROUP))],
            extra: "group = \"my_executors\"\n",
            warning: "stream te.1.common has no consumer group my_executors; \
                      stream te.0.common has no consumer group my_executors",
            listed: &[],
        },
    ];
    for case in cases {
        let name = case.name;
        run(&mut conn, &["FLUSHDB"]).await;
        for (stream, group) in case.streams {
            match group {
                Some(group) => create_group(&mut conn, stream, group).await,
                None => {
                    queue_tasks(&mut conn, stream, 1).await;
                }
            }
        }
        let result = probe(&url, case.extra).await;
        assert_eq!(result.status, Status::Yellow, "{name}: {:?}", result.error);
        assert_eq!(result.error.as_deref(), Some(case.warning), "{name}");
        let keys: Vec<&str> = result.details.keys().map(String::as_str).collect();
        assert_eq!(keys, case.listed, "{name}");
    }
}

#[tokio::test]
async fn failures_say_what_to_fix() {
    let server = RedisInstance::start(Some("queue-secret")).await;
    let mut dead = RedisInstance::start(None).await;
    dead.kill();
    let closed = free_port();
    let port = server.port();
    let cases = [
        (
            "nothing listens",
            format!("redis://127.0.0.1:{closed}/0"),
            format!("connection refused to 127.0.0.1:{closed}"),
        ),
        (
            "server down",
            dead.url(),
            format!("connection refused to 127.0.0.1:{}", dead.port()),
        ),
        (
            "wrong password",
            format!("redis://:wrong-secret@127.0.0.1:{port}/0"),
            "authentication failed for user default".to_owned(),
        ),
        (
            "no password",
            format!("redis://127.0.0.1:{port}/0"),
            "authentication required (NOAUTH): set message_queue.password (or the password in the URL)"
                .to_owned(),
        ),
    ];
    for (name, url, expected) in cases {
        let result = probe(&url, "").await;
        assert_eq!(result.status, Status::Red, "{name}");
        let error = result.error.unwrap();
        assert!(error.starts_with(&expected), "{name}: {error}");
        assert!(!error.contains("secret"), "{name}: password shown: {error}");
        assert!(result.details.is_empty(), "{name}");
    }
    ragflow_queue(&server.url(), 1, 0, 0).await;
    let result = probe(&server.url(), "").await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
}

#[tokio::test]
async fn a_black_hole_is_bounded_by_the_timeout() {
    let hole = FaultProxy::black_hole().await;
    let url = format!("redis://{}/0", hole.host_port());
    let result = probe(&url, "timeout = \"600ms\"\n").await;
    assert_eq!(result.error.as_deref(), Some("timed out after 600 ms"));
    assert!(
        (600.0..3000.0).contains(&result.elapsed_ms),
        "took {} ms",
        result.elapsed_ms
    );
}

#[tokio::test]
async fn a_killed_and_restarted_redis_goes_red_and_back() {
    let mut server = RedisInstance::start(None).await;
    ragflow_queue(&server.url(), 2, 1, 0).await;
    let toml = format!(
        "{}[message_queue]\nkind = \"redis_stream\"\nurl = \"{}\"\ntimeout = \"2s\"\n",
        only("message_queue"),
        server.url()
    );
    let app = TestApp::start_unscheduled(&toml).await;
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"message_queue": "ok", "status": "ok"}));

    server.kill();
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["message_queue"], "nok", "{body}");
    let error = body["_meta"]["message_queue"]["error"].as_str().unwrap();
    // The kept connection breaks first ("broken pipe"); either way the error names the server.
    let target = format!("127.0.0.1:{}", server.port());
    assert!(error.contains(&target), "{error}");
    // With the kept connection dropped, the next probe finds nothing listening.
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body["_meta"]["message_queue"]["error"],
        format!("connection refused to 127.0.0.1:{}", server.port())
    );

    // A restarted Redis without the queue (nothing is persisted) is reachable but yellow.
    server.start_again().await;
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"message_queue": "ok", "status": "ok"}));
    let snapshot = app.monitor.snapshot();
    let result = &snapshot.results[0].as_ref().expect("probed").result;
    assert_eq!(result.status, Status::Yellow);
    assert_eq!(
        result.error.as_deref(),
        Some("stream te.1.common does not exist yet; stream te.0.common does not exist yet")
    );
}
