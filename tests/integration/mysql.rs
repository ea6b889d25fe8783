//! The MySQL/MariaDB probe against the machine's MariaDB and our own instances.

use crate::common;

use common::app::{only, probe_only};
use common::{FaultProxy, MariadbInstance, free_port};
use ragwatch::probe::{ProbeResult, Status};

async fn probe(url: &str, extra: &str) -> ProbeResult {
    let timeout = if extra.contains("timeout") {
        ""
    } else {
        "timeout = \"2s\"\n"
    };
    probe_only(&format!(
        "{}[db]\nkind = \"mysql\"\nurl = \"{url}\"\n{timeout}{extra}",
        only("db")
    ))
    .await
}

#[tokio::test]
async fn green_with_version_and_connections() {
    let result = probe("mysql://root@127.0.0.1:3306/mysql", "").await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert!(
        result.details["version"]
            .as_str()
            .unwrap()
            .contains("MariaDB")
    );
    assert!(result.details["connections"].as_i64().unwrap() >= 1);
    assert!(result.details["max_connections"].as_i64().unwrap() > 1);
    assert!(result.details["uptime_s"].as_i64().unwrap() > 0);
    assert!(result.error.is_none());
}

#[tokio::test]
async fn failures_say_what_to_fix() {
    let db = MariadbInstance::start().await;
    let closed = free_port();
    let cases = [
        (
            "refused",
            format!("mysql://root@127.0.0.1:{closed}/mysql"),
            format!("connection refused to 127.0.0.1:{closed}"),
        ),
        (
            "wrong password",
            db.url_with_password("not-the-password"),
            "authentication failed for user root".to_owned(),
        ),
        (
            "unknown database",
            format!("{}/no_such_db", db.url().rsplit_once('/').unwrap().0),
            "database 'no_such_db' does not exist".to_owned(),
        ),
    ];
    for (name, url, expected) in cases {
        let result = probe(&url, "").await;
        assert_eq!(result.status, Status::Red, "{name}");
        assert_eq!(result.error.as_deref(), Some(expected.as_str()), "{name}");
    }
    assert_eq!(probe(&db.url(), "").await.status, Status::Green);
}

#[tokio::test]
async fn a_black_hole_is_bounded_by_the_timeout() {
    let hole = FaultProxy::black_hole().await;
    let url = format!("mysql://root@{}/mysql", hole.host_port());
    let result = probe(&url, "timeout = \"600ms\"\n").await;
    assert_eq!(result.error.as_deref(), Some("timed out after 600 ms"));
    assert!(result.elapsed_ms < 3000.0, "{}", result.elapsed_ms);
}

#[tokio::test]
async fn slow_answers_are_yellow() {
    let slow = FaultProxy::start("127.0.0.1:3306").await;
    slow.set_mode(common::ProxyMode::Delay(std::time::Duration::from_millis(
        300,
    )))
    .await;
    let url = format!("mysql://root@{}/mysql", slow.host_port());
    let result = probe(&url, "slow_ms = 100\n").await;
    assert_eq!(result.status, Status::Yellow, "{:?}", result.error);
    assert!(
        result.error.unwrap().ends_with("above slow_ms = 100"),
        "the reason names the threshold"
    );
}

#[tokio::test]
async fn a_server_restarted_between_probes_is_green_at_once() {
    let mut db = MariadbInstance::start().await;
    let toml = format!(
        "{}[db]\nurl = \"{}\"\ntimeout = \"5s\"\n",
        only("db"),
        db.url()
    );
    let app = common::app::TestApp::start_unscheduled(&toml).await;
    assert_eq!(app.get_json("/v1/system/healthz?fresh=1").await.0, 200);
    // The kept connection dies with the old server; the next probe must not report that.
    db.restart().await;
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "{body}");
}
