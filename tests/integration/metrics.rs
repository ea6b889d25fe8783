//! `/metrics`: the exposition read directly, and scraped by a real Prometheus whose query
//! API must see each component's state, also after a real dependency goes down. Open to any
//! scraper while no tokens are set, it carries no tenant data.

use crate::common;

use common::Daemon;
use common::app::TestApp;
use common::ragflow::{Beat, RagflowDb, create_task_streams, redis, unix_now, write_beats};
use common::{FaultProxy, ProxyMode, RedisInstance, free_port};

const TOKEN: &str = "metrics-Token-99";

fn config(redis: &str, extra: &str) -> String {
    format!(
        "[server]\ntokens = [\"{TOKEN}\"]\n[monitor]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         [db]\nurl = \"mysql://root:db-Secret-99@127.0.0.1:{}/mysql\"\n[redis]\nurl = \"redis://{redis}/1\"\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n{extra}",
        free_port()
    )
}

async fn scrape(app: &TestApp, accept: Option<&str>) -> (String, String) {
    let mut request = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn the_exposition_says_what_the_monitor_knows() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    write_beats(
        &mut conn,
        "te_metrics",
        &[Beat::new(unix_now() - 3.0, 7, 2)],
    )
    .await;
    let redis_address = format!("127.0.0.1:{}", server.port());
    let executors = format!("[task_executors]\nredis_url = \"{}\"\n", server.url());
    let app = TestApp::start_unscheduled(&config(&redis_address, &executors)).await;
    app.get_json("/v1/system/healthz?fresh=1").await;
    app.get_json("/v1/system/healthz?fresh=1").await;
    // The history store opens in the background.
    let (content_type, text) = common::wait_until("the history is up", || async {
        let (content_type, text) = scrape(&app, None).await;
        if text.lines().any(|line| line == "ragwatch_history_up 1") {
            Ok((content_type, text))
        } else {
            Err(text)
        }
    })
    .await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    for line in [
        "# TYPE ragwatch_probes_total counter",
        "ragwatch_probes_total{component=\"redis\",kind=\"redis\"} 2",
        "ragwatch_probe_failures_total{component=\"db\",kind=\"mysql\"} 2",
        "ragwatch_probe_failures_total{component=\"redis\",kind=\"redis\"} 0",
        "ragwatch_component_up{component=\"redis\",kind=\"redis\"} 1",
        "ragwatch_component_up{component=\"db\",kind=\"mysql\"} 0",
        "ragwatch_component_status{component=\"db\",kind=\"mysql\"} 0",
        "ragwatch_component_status{component=\"redis\",kind=\"redis\"} 2",
        "ragwatch_component_required{component=\"task_executors\",kind=\"redis\"} 0",
        "ragwatch_task_executor_alive{executor=\"te_metrics\"} 1",
        "ragwatch_task_executor_failing{executor=\"te_metrics\"} 0",
        "ragwatch_task_executor_done_total{executor=\"te_metrics\"} 7",
        "ragwatch_task_executor_failed_total{executor=\"te_metrics\"} 2",
        "ragwatch_task_executors{state=\"alive\"} 1",
        "ragwatch_history_up 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    let build_info = format!(
        "ragwatch_build_info{{version=\"{}\",revision=\"",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with(&build_info) && l.ends_with("\"} 1")),
        "missing {build_info} in:\n{text}"
    );
    // The process itself (ragwatch runs inside this test's process): figures /proc gives.
    let sample = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    assert!(sample("process_resident_memory_bytes") > 1e6);
    assert!(sample("process_cpu_seconds_total") > 0.0);
    assert!(sample("process_open_fds") >= 3.0);
    assert!(sample("process_max_fds") >= sample("process_open_fds"));
    let started = sample("process_start_time_seconds");
    assert!(
        started <= unix_now() + 1.0 && started > unix_now() - 86_400.0,
        "started at {started}"
    );
    assert!(text.contains(
        "ragwatch_probe_duration_seconds_bucket{le=\"0.001\",component=\"redis\",kind=\"redis\"}"
    ));
    assert!(
        !text.contains("# EOF") && !text.contains("db-Secret-99"),
        "{text}"
    );
    let (content_type, openmetrics) =
        scrape(&app, Some("application/openmetrics-text;version=1.0.0")).await;
    assert!(content_type.starts_with("application/openmetrics-text"));
    assert!(openmetrics.ends_with("# EOF\n"));
    assert!(openmetrics.contains("# TYPE ragwatch_probes counter"));
    let unauthenticated = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

/// `promtool check metrics` on an exposition: its complaints, or none.
fn promtool_check(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/test-services.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Executor names no label may break: quote, backslash, line breaks, a tab, non-ASCII.
const HOSTILE_NAMES: [(&str, &str); 5] = [
    ("exec\"quote", r#"exec\"quote"#),
    ("back\\slash\\", r#"back\\slash\\"#),
    ("new\nline", r#"new\nline"#),
    ("cr\r\ttab", "cr\r\ttab"),
    ("ünïcødé ☃", "ünïcødé ☃"),
];

#[tokio::test]
async fn hostile_executor_names_are_escaped_in_both_formats() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    for (name, _) in HOSTILE_NAMES {
        write_beats(&mut conn, name, &[Beat::new(unix_now() - 3.0, 7, 2)]).await;
    }
    let redis_address = format!("127.0.0.1:{}", server.port());
    let executors = format!("[task_executors]\nredis_url = \"{}\"\n", server.url());
    let app = TestApp::start_unscheduled(&config(&redis_address, &executors)).await;
    app.get_json("/v1/system/healthz?fresh=1").await;
    let (_, text) = scrape(&app, None).await;
    if let Err(complaint) = promtool_check(&text) {
        panic!("promtool refuses the exposition: {complaint}\n{text}");
    }
    let (_, openmetrics) = scrape(&app, Some("application/openmetrics-text;version=1.0.0")).await;
    for exposition in [&text, &openmetrics] {
        for (_, escaped) in HOSTILE_NAMES {
            let line = format!("ragwatch_task_executor_done_total{{executor=\"{escaped}\"}} 7");
            assert!(
                exposition.lines().any(|l| l == line),
                "missing `{line}` in:\n{exposition}"
            );
        }
    }
    // A real Prometheus reads OpenMetrics (what it asks for first) and gets every name back.
    let prometheus = prometheus(&app.addr.to_string()).await;
    until(&prometheus, "up{job=\"ragwatch\"}", "1").await;
    let names = common::wait_until("Prometheus has every executor", || async {
        let body = prometheus
            .get(
                "/api/v1/query",
                &[("query", "ragwatch_task_executor_done_total")],
            )
            .await;
        let mut names: Vec<String> = body["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["metric"]["executor"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        (names.len() == HOSTILE_NAMES.len())
            .then_some(names)
            .ok_or(body.to_string())
    })
    .await;
    let mut expected: Vec<&str> = HOSTILE_NAMES.iter().map(|(name, _)| *name).collect();
    expected.sort();
    assert_eq!(names, expected);
}

/// A Prometheus of our own, scraping one target every 500 ms with the token.
async fn prometheus(target: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\nscrape_configs:\n  - job_name: ragwatch\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: ['{target}']\n",
            token.display()
        ),
    )
    .unwrap();
    Daemon::start("prometheus", &config, dir, &[]).await
}

/// Waits until an instant query with one series has the `expected` value.
async fn until(prometheus: &Daemon, query: &str, expected: &str) {
    common::wait_until(&format!("{query} becomes {expected}"), || async {
        let body = prometheus.get("/api/v1/query", &[("query", query)]).await;
        (body["data"]["result"][0]["value"][1] == expected)
            .then_some(())
            .ok_or(body.to_string())
    })
    .await;
}

#[tokio::test]
async fn a_real_prometheus_scrapes_it_and_sees_a_dependency_go_down() {
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    // The executors' heartbeats are read from this Redis too: they depend on it.
    let app = TestApp::start(&config(&redis.host_port(), "")).await;
    let prometheus = prometheus(&app.addr.to_string()).await;
    until(&prometheus, "up{job=\"ragwatch\"}", "1").await;
    until(
        &prometheus,
        "ragwatch_component_up{component=\"redis\"}",
        "1",
    )
    .await;
    until(
        &prometheus,
        "ragwatch_component_status{component=\"db\"}",
        "0",
    )
    .await;
    until(
        &prometheus,
        "ragwatch_component_required{component=\"db\"}",
        "1",
    )
    .await;
    let blocked = "ragwatch_component_blocked{component=\"task_executors\", cause=\"redis\"}";
    until(&prometheus, blocked, "0").await;
    redis.set_mode(ProxyMode::Refuse).await;
    until(
        &prometheus,
        "ragwatch_component_up{component=\"redis\"}",
        "0",
    )
    .await;
    until(&prometheus, blocked, "1").await;
    until(
        &prometheus,
        "ragwatch_component_status{component=\"redis\"}",
        "0",
    )
    .await;
    until(
        &prometheus,
        "ragwatch_probe_failures_total{component=\"redis\"} > bool 0",
        "1",
    )
    .await;
    redis.set_mode(ProxyMode::Pass).await;
    until(
        &prometheus,
        "ragwatch_component_up{component=\"redis\"}",
        "1",
    )
    .await;
    until(&prometheus, blocked, "0").await;
}

/// Open to every client while no tokens are set, `/metrics` holds counts and states only:
/// none of the document names, knowledge-base (tenant) ids or RAGFlow's error texts that
/// the task table and the heartbeats hold, and the API shows.
#[tokio::test]
async fn the_exposition_carries_no_tenant_data() {
    let db = RagflowDb::create(false).await;
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    create_task_streams(&mut conn).await;
    let now = unix_now().floor();
    let (t0, t1) = (now - 60.0, now - 30.0);
    let mut opening = Beat::new(t0, 17, 1);
    opening.current = vec!["task_stuck_4d2"];
    write_beats(&mut conn, "te_tenant", &[opening, Beat::new(t1, 17, 2)]).await;
    let ms = |s: f64| (s * 1000.0) as i64;
    db.execute("INSERT INTO document (id, kb_id, name, type, size) VALUES ('doc_7f2a', 'kb_tenant_5e1d', 'quarterly_board_minutes.pdf', 'pdf', 10)").await;
    db.execute(&format!(
        "INSERT INTO task (id, doc_id, progress, progress_msg, create_time, update_time) VALUES \
         ('task_stuck_4d2', 'doc_7f2a', 0.4, 'Page 3: embedding quota exceeded for tenant t-991', {}, {}), \
         ('task_failed_8b1', 'doc_7f2a', -1, '[ERROR]OCR model not found in kb_tenant_5e1d', {}, {})",
        ms(now - 1800.0),
        ms(now - 1200.0),
        ms(t0),
        ms(t0) + 5_000,
    ))
    .await;
    let app = TestApp::start_unscheduled(&format!(
        "[monitor]\ninterval = \"1h\"\ntimeout = \"3s\"\n[db]\nurl = \"{}\"\n[redis]\nurl = \"{}\"\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
         [parsing]\nstuck_after = \"15m\"\n",
        db.url,
        server.url(),
    ))
    .await;
    app.get_json("/v1/system/healthz?fresh=1").await;
    let tenant_data = [
        "quarterly_board_minutes",
        "kb_tenant_5e1d",
        "doc_7f2a",
        "t-991",
        "embedding quota exceeded",
        "OCR model not found",
        "task_stuck_4d2",
        "task_failed_8b1",
    ];

    // The API, served to this loopback client, shows all of it.
    let (_, _, components) = app.get("/api/v1/components").await;
    let (_, list) = app.get_json("/api/v1/executors/te_tenant/intervals").await;
    let end = list["intervals"][0]["end"].as_f64().unwrap();
    let (_, _, interval) = app
        .get(&format!(
            "/api/v1/executors/te_tenant/intervals/{}",
            (end * 1000.0).round() as i64
        ))
        .await;
    let (_, _, status) = app.get("/v1/system/status").await;
    let api = format!("{components}{interval}{status}");
    for text in tenant_data {
        assert!(api.contains(text), "the API shows {text}: {api}");
    }

    let (status, _, exposition) = app.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        exposition.contains("ragwatch_task_executor_failed_total{executor=\"te_tenant\"} 2")
            && exposition.contains("component=\"parsing\""),
        "the exposition covers the executor and the parsing pipeline: {exposition}"
    );
    for line in [
        "ragwatch_parsing_queued_tasks 0",
        "ragwatch_parsing_oldest_queued_seconds 0.0",
        "ragwatch_parsing_running_tasks 1",
        "ragwatch_parsing_stuck_tasks 1",
    ] {
        assert!(
            exposition.lines().any(|l| l == line),
            "missing `{line}` in:\n{exposition}"
        );
    }
    for text in tenant_data {
        assert!(
            !exposition.contains(text),
            "{text} in /metrics:\n{exposition}"
        );
    }
    drop(app);
    db.drop_database().await;
}

/// Writes a heartbeat for each executor named in `names` every 300 ms, as running
/// executors do, until dropped.
fn keep_beating(
    conn: redis::aio::MultiplexedConnection,
    names: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut conn = conn;
        let mut every = tokio::time::interval(std::time::Duration::from_millis(300));
        loop {
            every.tick().await;
            let current = names.lock().unwrap().clone();
            for name in current {
                write_beats(&mut conn, &name, &[Beat::new(unix_now(), 3, 0)]).await;
            }
        }
    })
}

/// Series with an executor label, as Prometheus sees them now.
const EXECUTOR_SERIES: &str = "count({job=\"ragwatch\", executor!=\"\"})";

#[tokio::test]
async fn a_redeploy_that_renames_every_executor_adds_no_series_past_forget_after() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let before = ["te_host1_0", "te_host1_1"];
    let after = ["te_host2_0", "te_host2_1"];
    let names = std::sync::Arc::new(std::sync::Mutex::new(before.map(str::to_owned).to_vec()));
    let beating = keep_beating(conn.clone(), names.clone());
    let executors = format!(
        "[task_executors]\nredis_url = \"{}\"\nheartbeat_period = \"1s\"\n\
         heartbeat_timeout = \"2s\"\nforget_after = \"4s\"\n",
        server.url()
    );
    let redis_address = format!("127.0.0.1:{}", server.port());
    let app = TestApp::start(&config(&redis_address, &executors)).await;
    let prometheus = prometheus(&app.addr.to_string()).await;
    until(&prometheus, "ragwatch_task_executors{state=\"alive\"}", "2").await;
    let level = common::wait_until("the executor series settle", || async {
        let body = prometheus
            .get("/api/v1/query", &[("query", EXECUTOR_SERIES)])
            .await;
        let count = body["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_owned);
        count.filter(|c| c != "0").ok_or(body.to_string())
    })
    .await;

    // The redeploy: new hosts, new names; RAGFlow drops the old ones from Redis.
    *names.lock().unwrap() = after.map(str::to_owned).to_vec();
    for name in before {
        redis::pipe()
            .cmd("SREM")
            .arg("TASKEXE")
            .arg(name)
            .cmd("DEL")
            .arg(name)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
    until(&prometheus, "ragwatch_task_executors{state=\"alive\"}", "2").await;
    until(
        &prometheus,
        "count({job=\"ragwatch\", executor=~\"te_host1_.*\"}) or vector(0)",
        "0",
    )
    .await;
    until(&prometheus, EXECUTOR_SERIES, &level).await;
    until(&prometheus, "ragwatch_task_executors{state=\"dead\"}", "0").await;

    // The API and the page still list the old executors, as dead.
    let (status, list) = app.get_json_as("/api/v1/executors", Some(TOKEN)).await;
    assert_eq!(status, 200);
    for name in before {
        let listed = list["executors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {list}"));
        assert_eq!(listed["state"], "dead", "{listed}");
    }
    beating.abort();
}

/// Runs one Redis command given as words.
async fn redis_run(conn: &mut redis::aio::MultiplexedConnection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[tokio::test]
async fn queue_figures_are_the_groups_own_and_add_up_to_redis_pending_count() {
    const GROUP: &str = "rag_flow_svr_task_broker";
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    // Two streams as RAGFlow queues them; three executors take tasks and ack some.
    for (stream, queued, taken, acked) in [("te.1.common", 5, 4, 1), ("te.0.common", 3, 2, 0)] {
        redis_run(
            &mut conn,
            &["XGROUP", "CREATE", stream, GROUP, "0", "MKSTREAM"],
        )
        .await;
        for n in 0..queued {
            redis_run(
                &mut conn,
                &["XADD", stream, "*", "message", &format!("task-{n}")],
            )
            .await;
        }
        for (executor, count) in [("te_a", taken / 2), ("te_b", taken - taken / 2)] {
            redis_run(
                &mut conn,
                &[
                    "XREADGROUP",
                    "GROUP",
                    GROUP,
                    executor,
                    "COUNT",
                    &count.to_string(),
                    "STREAMS",
                    stream,
                    ">",
                ],
            )
            .await;
        }
        let ids: Vec<String> = redis::cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(acked)
            .query_async::<redis::streams::StreamRangeReply>(&mut conn)
            .await
            .unwrap()
            .ids
            .into_iter()
            .map(|entry| entry.id)
            .collect();
        for id in ids {
            redis_run(&mut conn, &["XACK", stream, GROUP, &id]).await;
        }
    }
    // What Redis itself says is pending, summed over the streams.
    let mut redis_pending = 0;
    for stream in ["te.1.common", "te.0.common"] {
        let reply: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(stream)
            .arg(GROUP)
            .query_async(&mut conn)
            .await
            .unwrap();
        redis_pending += reply.count();
    }
    assert_eq!(redis_pending, 3 + 2);

    let queue = format!(
        "[message_queue]\nkind = \"redis_stream\"\nurl = \"{}\"\n",
        server.url()
    );
    let redis_address = format!("127.0.0.1:{}", server.port());
    let app = TestApp::start(&config(&redis_address, &queue)).await;
    let prometheus = prometheus(&app.addr.to_string()).await;
    until(
        &prometheus,
        "sum(ragwatch_queue_pending)",
        &redis_pending.to_string(),
    )
    .await;
    until(
        &prometheus,
        "ragwatch_queue_lag{stream=\"te.1.common\", group=\"rag_flow_svr_task_broker\"}",
        "1",
    )
    .await;
    until(
        &prometheus,
        "ragwatch_queue_consumers{stream=\"te.0.common\", group=\"rag_flow_svr_task_broker\"}",
        "2",
    )
    .await;
    until(&prometheus, "count(ragwatch_queue_pending)", "2").await;
}
