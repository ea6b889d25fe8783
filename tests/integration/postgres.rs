//! The PostgreSQL probe against the machine's PostgreSQL and our own instances.

use crate::common;

use common::app::{only, probe_only};
use common::{FaultProxy, PostgresInstance, free_port};
use ragwatch::probe::{ProbeResult, Status};

async fn probe(url: &str, extra: &str) -> ProbeResult {
    let timeout = if extra.contains("timeout") {
        ""
    } else {
        "timeout = \"2s\"\n"
    };
    probe_only(&format!(
        "{}[db]\nkind = \"postgres\"\nurl = \"{url}\"\n{timeout}{extra}",
        only("db")
    ))
    .await
}

#[tokio::test]
async fn green_with_version_and_connections() {
    let result = probe("postgres://postgres@127.0.0.1:5432/postgres", "").await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    let version = result.details["version"].as_str().unwrap();
    assert!(
        version.chars().next().unwrap().is_ascii_digit(),
        "{version}"
    );
    assert!(result.details["connections"].as_i64().unwrap() >= 1);
    assert!(result.details["max_connections"].as_i64().unwrap() > 1);
    assert!(result.details["uptime_s"].as_i64().unwrap() >= 0);
}

#[tokio::test]
async fn failures_say_what_to_fix() {
    let db = PostgresInstance::start().await;
    let closed = free_port();
    let cases = [
        (
            "refused",
            format!("postgres://postgres@127.0.0.1:{closed}/postgres"),
            format!("connection refused to 127.0.0.1:{closed}"),
        ),
        (
            "wrong password",
            db.url_with_password("not-the-password"),
            "authentication failed for user ragwatch".to_owned(),
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
    let url = format!("postgres://postgres@{}/postgres", hole.host_port());
    let result = probe(&url, "timeout = \"600ms\"\n").await;
    assert_eq!(result.error.as_deref(), Some("timed out after 600 ms"));
}

#[tokio::test]
async fn a_restarted_server_is_reconnected() {
    let mut db = PostgresInstance::start().await;
    let toml = format!(
        "{}[db]\nkind = \"postgres\"\nurl = \"{}\"\ntimeout = \"2s\"\n",
        only("db"),
        db.url()
    );
    let app = common::app::TestApp::start_unscheduled(&toml).await;
    let (status, _) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200);
    db.stop().await;
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 500, "{body}");
    db.start_again().await;
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "{body}");
}
