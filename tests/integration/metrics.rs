//! `/metrics`: the exposition read directly, and scraped by a real Prometheus whose query
//! API must see each component's state, also after a real dependency goes down.

use crate::common;

use common::Daemon;
use common::app::TestApp;
use common::ragflow::{Beat, redis, unix_now, write_beats};
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
    let app = TestApp::start(&config(
        &redis.host_port(),
        "[task_executors]\nenabled = false\n",
    ))
    .await;
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
    redis.set_mode(ProxyMode::Refuse).await;
    until(
        &prometheus,
        "ragwatch_component_up{component=\"redis\"}",
        "0",
    )
    .await;
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
}
