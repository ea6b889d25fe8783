//! Quiet when planned: a maintenance window and a silence hold back a real outage's
//! notification (a redis-server of the test's own, killed), mark its incident, and the
//! firing arrives when the window ends or the silence is deleted, the resolution after it;
//! silences are checked, capped, need a token, a history store and `[alerts]`, outlive a
//! restart of ragwatch and reach another replica on the same PostgreSQL; the
//! `ragwatch silence` command makes, lists and deletes them through a running server.

use crate::common;

use std::time::Duration;
use tokio::process::Command;

use common::app::TestApp;
use common::instances::RedisInstance;
use common::{FixtureResponse, FixtureServer, settle, wait_for, wait_until_within};

const TOKEN: &str = "quiet-Token-7";

/// Redis probed only on request, thresholds of two, a webhook, history in `dir`, and
/// `extra` keys of `[alerts]` (a maintenance window).
fn config(
    redis: &RedisInstance,
    hook: &FixtureServer,
    dir: &std::path::Path,
    extra: &str,
) -> String {
    format!(
        "[server]\ntokens = [\"{TOKEN}\"]\n\
         [monitor]\ninterval = \"1h\"\ntimeout = \"5s\"\n[db]\nenabled = false\n[doc_engine]\nenabled = false\n\
         [storage]\nenabled = false\n[task_executors]\nenabled = false\n\
         [history]\nurl = \"sqlite://{}/history.db\"\n\
         [redis]\nurl = \"redis://127.0.0.1:{}/0\"\n\
         [alerts]\nfailure_threshold = 2\nsuccess_threshold = 2\n\
         [[alerts.webhook]]\nurl = \"{}/hook\"\n{extra}",
        dir.display(),
        redis.port(),
        hook.url(),
    )
}

async fn receiving() -> FixtureServer {
    FixtureServer::start([("POST", "/hook", FixtureResponse::new(200, "ok"))]).await
}

/// Each delivery as `component state`.
fn summary(hook: &FixtureServer) -> Vec<String> {
    hook.requests_to("/hook")
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            format!("{} {}", body["component"], body["state"]).replace('"', "")
        })
        .collect()
}

async fn deliveries(hook: &FixtureServer, expected: &[&str]) {
    wait_for(&format!("deliveries {expected:?}"), || async {
        summary(hook) == expected
    })
    .await;
}

/// Two results of redis, enough for the thresholds.
async fn probe_twice(app: &TestApp) {
    for _ in 0..2 {
        app.get_json_as("/v1/system/healthz?fresh=1", Some(TOKEN))
            .await;
    }
}

/// The `quiet` mark of redis's newest incident.
async fn incident_quiet(app: &TestApp) -> serde_json::Value {
    let (_, body) = app
        .get_json_as("/api/v1/incidents?component=redis", Some(TOKEN))
        .await;
    body["incidents"][0]["quiet"].clone()
}

/// Asks `path` with `method`, an optional token and JSON body; the status and the JSON
/// answer (null when none).
async fn request(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let (status, text) = app.request_as(method, path, token, body).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn a_one_off_window_defers_the_firing_to_its_end_and_marks_the_incident() {
    let hook = receiving().await;
    let mut redis = RedisInstance::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now();
    let end = now + Duration::from_secs(20);
    let window = format!(
        "[[alerts.maintenance]]\nstart = \"{}\"\nend = \"{end}\"\ncomponents = [\"redis\"]\ncomment = \"upgrade\"\n",
        now - Duration::from_secs(60)
    );
    let app = TestApp::start_unscheduled(&config(&redis, &hook, dir.path(), &window)).await;
    let (_, shown) = app.get_json_as("/api/v1/maintenance", Some(TOKEN)).await;
    assert_eq!(shown["windows"][0]["comment"], "upgrade");
    assert_eq!(shown["windows"][0]["active"]["end"], end.to_string());
    probe_twice(&app).await;
    redis.kill();
    probe_twice(&app).await;
    wait_for("the incident is marked as in maintenance", || async {
        incident_quiet(&app).await == "maintenance"
    })
    .await;
    assert!(
        jiff::Timestamp::now() < end,
        "the window had not ended when the alert was held back"
    );
    settle().await;
    assert_eq!(
        summary(&hook),
        Vec::<String>::new(),
        "held back in the window"
    );
    let metrics = app.get_as("/metrics", Some(TOKEN)).await.2;
    assert!(
        metrics.contains(
            "ragwatch_notifications_suppressed_total{integration=\"webhook\",reason=\"maintenance\"} 1"
        ),
        "{metrics}"
    );
    // Redis is still down when the window ends: the firing is sent then.
    wait_until_within(
        "the firing after the window",
        Duration::from_secs(60),
        || async {
            (summary(&hook) == ["redis firing"])
                .then_some(())
                .ok_or_else(|| format!("{:?}", summary(&hook)))
        },
    )
    .await;
    assert!(jiff::Timestamp::now() >= end);
    redis.start_again().await;
    probe_twice(&app).await;
    deliveries(&hook, &["redis firing", "redis resolved"]).await;
}

#[tokio::test]
async fn silences_are_checked_and_need_a_token() {
    let hook = receiving().await;
    let redis = RedisInstance::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_unscheduled(&config(&redis, &hook, dir.path(), "")).await;
    let post = |token, body: &'static str| {
        let app = &app;
        async move {
            request(
                app,
                reqwest::Method::POST,
                "/api/v1/silences",
                token,
                Some(body),
            )
            .await
        }
    };
    assert_eq!(
        post(None, r#"{"components":["redis"],"duration":"30m"}"#)
            .await
            .0,
        401
    );
    assert_eq!(
        post(
            Some("wrong"),
            r#"{"components":["redis"],"duration":"30m"}"#
        )
        .await
        .0,
        401
    );
    let far = (jiff::Timestamp::now() + Duration::from_secs(31 * 24 * 3600)).to_string();
    let past = (jiff::Timestamp::now() - Duration::from_secs(60)).to_string();
    let long = format!(r#"{{"duration":"1m","comment":"{}"}}"#, "x".repeat(1001));
    let cases = [
        (
            "{",
            "bad JSON body: EOF while parsing an object at line 1 column 1",
        ),
        (
            r#"{"components":["reddis"],"duration":"30m"}"#,
            "components: \"reddis\" is not a watched component",
        ),
        (
            r#"{"components":["redis"]}"#,
            "give either until (RFC 3339) or duration (\"30m\")",
        ),
        (
            r#"{"duration":"soon"}"#,
            "duration: \"soon\" is not a duration like \"30m\" or \"2h\" (expected number at 0)",
        ),
        (
            r#"{"duration":"31d"}"#,
            "duration: a silence lasts at most 30 days",
        ),
        (
            &format!(r#"{{"until":"{far}"}}"#),
            "until: a silence lasts at most 30 days",
        ),
        (
            &format!(r#"{{"until":"{past}"}}"#),
            "until: must be in the future",
        ),
        (&long, "comment: at most 1000 characters"),
    ];
    for (body, message) in cases {
        let (status, answer) = request(
            &app,
            reqwest::Method::POST,
            "/api/v1/silences",
            Some(TOKEN),
            Some(body),
        )
        .await;
        assert_eq!(
            (status, answer["message"].as_str().unwrap_or("")),
            (400, message),
            "{body}"
        );
    }
    let (status, made) = post(
        Some(TOKEN),
        r#"{"components":["redis"],"duration":"30m","comment":"upgrade"}"#,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["components"], serde_json::json!(["redis"]));
    assert_eq!(made["comment"], "upgrade");
    let until: jiff::Timestamp = made["until"].as_str().unwrap().parse().unwrap();
    let left = until.duration_since(jiff::Timestamp::now()).as_secs();
    assert!((1700..=1800).contains(&left), "{left} s left");
    let (_, listed) = app.get_json_as("/api/v1/silences", Some(TOKEN)).await;
    assert_eq!(listed["silences"][0], made);
    let id = made["id"].as_i64().unwrap();
    let path = format!("/api/v1/silences/{id}");
    assert_eq!(
        request(&app, reqwest::Method::DELETE, &path, None, None)
            .await
            .0,
        401
    );
    assert_eq!(
        request(&app, reqwest::Method::DELETE, &path, Some(TOKEN), None)
            .await
            .0,
        204
    );
    let (status, gone) = request(&app, reqwest::Method::DELETE, &path, Some(TOKEN), None).await;
    assert_eq!(
        (status, gone["message"].as_str().unwrap()),
        (404, format!("no silence has id {id}").as_str())
    );
    assert_eq!(
        request(
            &app,
            reqwest::Method::DELETE,
            "/api/v1/silences/x",
            Some(TOKEN),
            None
        )
        .await
        .1["message"],
        "\"x\" is not a silence id"
    );
    let (_, listed) = app.get_json_as("/api/v1/silences", Some(TOKEN)).await;
    assert_eq!(listed["silences"], serde_json::json!([]));
    // At most 100 at once.
    for _ in 0..100 {
        assert_eq!(post(Some(TOKEN), r#"{"duration":"1m"}"#).await.0, 201);
    }
    let (status, refused) = post(Some(TOKEN), r#"{"duration":"1m"}"#).await;
    assert_eq!(
        (status, refused["message"].as_str().unwrap()),
        (409, "100 silences are active already: delete one first")
    );
}

#[tokio::test]
async fn a_silence_outlives_a_restart_and_deleting_it_sends_the_deferred_firing() {
    let hook = receiving().await;
    let mut redis = RedisInstance::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config(&redis, &hook, dir.path(), "");
    let first = TestApp::start_unscheduled(&toml).await;
    wait_for("the history is open", || async {
        first
            .get("/readyz?verbose")
            .await
            .2
            .contains("[+]history ok")
    })
    .await;
    let (status, made) = request(
        &first,
        reqwest::Method::POST,
        "/api/v1/silences",
        Some(TOKEN),
        Some(r#"{"components":["redis"],"duration":"1h","comment":"upgrade"}"#),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    drop(first);

    let second = TestApp::start_unscheduled(&toml).await;
    wait_for("the silence is read back after the restart", || async {
        let (_, shown) = second.get_json_as("/api/v1/maintenance", Some(TOKEN)).await;
        shown["silences"][0]["id"] == made["id"]
    })
    .await;
    probe_twice(&second).await;
    redis.kill();
    probe_twice(&second).await;
    wait_for("the incident is marked as silenced", || async {
        incident_quiet(&second).await == "silence"
    })
    .await;
    settle().await;
    assert_eq!(
        summary(&hook),
        Vec::<String>::new(),
        "held back by the silence"
    );
    let path = format!("/api/v1/silences/{}", made["id"]);
    assert_eq!(
        request(&second, reqwest::Method::DELETE, &path, Some(TOKEN), None)
            .await
            .0,
        204
    );
    deliveries(&hook, &["redis firing"]).await;
    redis.start_again().await;
    probe_twice(&second).await;
    deliveries(&hook, &["redis firing", "redis resolved"]).await;
}

/// Two ragwatch replicas on one PostgreSQL: a silence made through one holds back the
/// other's notifications within seconds, and its deletion there sends them.
#[tokio::test]
async fn a_silence_made_through_one_replica_applies_on_another() {
    use sqlx::Connection;
    const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
    let name = format!(
        "ragwatch_quiet_{}_{}",
        std::process::id(),
        common::free_port()
    );
    let mut admin = sqlx::PgConnection::connect(ADMIN).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let hook = receiving().await;
    let mut redis = RedisInstance::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let replica = |observer: &str| {
        config(&redis, &hook, dir.path(), "").replace(
            &format!("url = \"sqlite://{}/history.db\"", dir.path().display()),
            &format!(
                "url = \"postgres://postgres@127.0.0.1:5432/{name}\"\nobserver = \"{observer}\""
            ),
        )
    };
    let one = TestApp::start_unscheduled(&replica("one")).await;
    let other = TestApp::start_unscheduled(&replica("other")).await;
    for app in [&one, &other] {
        wait_for("the history is open", || async {
            app.get("/readyz?verbose").await.2.contains("[+]history ok")
        })
        .await;
    }
    let (status, made) = request(
        &one,
        reqwest::Method::POST,
        "/api/v1/silences",
        Some(TOKEN),
        Some(r#"{"components":["redis"],"duration":"1h"}"#),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    wait_until_within(
        "the other replica reads the silence",
        Duration::from_secs(30),
        || async {
            let (_, shown) = other.get_json_as("/api/v1/maintenance", Some(TOKEN)).await;
            (shown["silences"][0]["id"] == made["id"])
                .then_some(())
                .ok_or(shown.to_string())
        },
    )
    .await;
    probe_twice(&other).await;
    redis.kill();
    probe_twice(&other).await;
    settle().await;
    assert_eq!(
        summary(&hook),
        Vec::<String>::new(),
        "held back on the other replica"
    );
    let path = format!("/api/v1/silences/{}", made["id"]);
    assert_eq!(
        request(&one, reqwest::Method::DELETE, &path, Some(TOKEN), None)
            .await
            .0,
        204
    );
    deliveries(&hook, &["redis firing"]).await;
    drop((one, other));
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_silence_command_makes_lists_and_deletes_silences_of_a_running_server() {
    let hook = receiving().await;
    let redis = RedisInstance::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_unscheduled(&config(&redis, &hook, dir.path(), "")).await;
    // The command reads the server's address and token from the same file.
    let file = dir.path().join("ragwatch.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nlisten = \"{}\"\ntokens = [\"{TOKEN}\"]\n",
            app.url("").trim_start_matches("http://")
        ),
    )
    .unwrap();
    // Run beside the server, which answers on this test's runtime.
    let run = async |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ragwatch"))
            .arg("--config")
            .arg(&file)
            .arg("silence")
            .args(args)
            .env_remove("RAGWATCH_API_TOKEN")
            .output()
            .await
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, made, stderr) = run(&["redis", "30m", "--comment", "upgrade"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let (_, listed) = app.get_json_as("/api/v1/silences", Some(TOKEN)).await;
    let silence = &listed["silences"][0];
    assert_eq!(
        made,
        format!(
            "silence {}: redis until {}\n",
            silence["id"],
            silence["until"].as_str().unwrap()
        )
    );
    assert_eq!(silence["comment"], "upgrade");
    let (code, list, _) = run(&["--list"]).await;
    assert_eq!(code, Some(0));
    assert!(list.lines().nth(1).unwrap().contains("redis"), "{list}");
    assert!(list.contains("upgrade"), "{list}");
    let (code, _, stderr) = run(&["reddis", "30m"]).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.ends_with("answered HTTP 400: components: \"reddis\" is not a watched component\n"),
        "{stderr}"
    );
    let id = silence["id"].to_string();
    let (code, deleted, _) = run(&["--delete", &id]).await;
    assert_eq!(
        (code, deleted),
        (Some(0), format!("silence {id} deleted\n"))
    );
    let (_, listed) = app.get_json_as("/api/v1/silences", Some(TOKEN)).await;
    assert_eq!(listed["silences"], serde_json::json!([]));
}

/// Without a history store there is nowhere to keep a silence, and without `[alerts]`
/// nothing to silence: both say so.
#[tokio::test]
async fn silences_need_the_history_store_and_alerts() {
    let hook = receiving().await;
    let redis = RedisInstance::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let body = Some(r#"{"duration":"30m"}"#);
    let with_history = config(&redis, &hook, dir.path(), "");
    let without_history = with_history.replace(
        &format!("url = \"sqlite://{}/history.db\"", dir.path().display()),
        "enabled = false",
    );
    let without_alerts = with_history[..with_history.find("[alerts]").unwrap()].to_owned();
    for (toml, message) in [
        (
            without_history,
            "history is disabled (history.enabled = false)",
        ),
        (
            without_alerts,
            "silences hold back notifications, and none are configured ([alerts])",
        ),
    ] {
        let app = TestApp::start_unscheduled(&toml).await;
        let (status, answer) = request(
            &app,
            reqwest::Method::POST,
            "/api/v1/silences",
            Some(TOKEN),
            body,
        )
        .await;
        assert_eq!(
            (status, answer["message"].as_str().unwrap()),
            (503, message)
        );
    }
}
