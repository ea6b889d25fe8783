//! Task executors read from a real Redis into which the test writes heartbeats exactly as
//! RAGFlow's executor does: states, intervals, restarts, the 30-minute window, malformed
//! members, vanished executors and the summary component, through ragwatch's API.

use crate::common;

use common::RedisInstance;
use common::app::TestApp;
use common::executors::{TOKEN, app, executors, find};
use common::ragflow::{Beat, redis, unix_now, write_beats, write_member};
use serde_json::Value;

#[tokio::test]
async fn states_follow_the_age_of_the_last_heartbeat() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(
        &mut conn,
        "te_alive",
        &[Beat::new(now - 40.0, 10, 0), Beat::new(now - 5.0, 12, 1)],
    )
    .await;
    write_beats(&mut conn, "te_stale", &[Beat::new(now - 90.0, 3, 0)]).await;
    write_beats(&mut conn, "te_dead", &[Beat::new(now - 300.0, 3, 0)]).await;
    redis::cmd("SADD")
        .arg("TASKEXE")
        .arg("te_never_beat")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    let app = app(&server.url(), "").await;
    let list = executors(&app).await;
    let cases = [
        ("te_alive", "alive"),
        ("te_stale", "stale"),
        ("te_dead", "dead"),
        ("te_never_beat", "dead"),
    ];
    for (name, state) in cases {
        assert_eq!(find(&list, name)["state"], state, "{name}");
    }
    assert_eq!(find(&list, "te_never_beat")["last_heartbeat"], Value::Null);
    let alive = find(&list, "te_alive");
    assert_eq!(alive["done_30m"], 2);
    assert_eq!(alive["failed_30m"], 1);
    assert_eq!(alive["done_total"], 12);
    assert_eq!(alive["ip_address"], "172.18.0.6");
    assert_eq!(alive["pid"], 41);
    assert_eq!(list["summary"]["alive"], 1);
    assert_eq!(list["summary"]["stale"], 1);
    assert_eq!(list["summary"]["dead"], 2);
}

#[tokio::test]
async fn intervals_count_the_work_between_heartbeats_across_restarts() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    let mut rebooted = Beat::new(now - 30.0, 2, 1);
    rebooted.boot_at = "2025-01-02T11:00:00.000+08:00";
    let beats = [
        Beat::new(now - 120.0, 10, 0),
        Beat::new(now - 90.0, 13, 0),
        Beat::new(now - 60.0, 13, 2),
        rebooted,
        Beat::new(now - 0.5, 6, 1).with_boot("2025-01-02T11:00:00.000+08:00"),
    ];
    write_beats(&mut conn, "te_work", &beats).await;
    let app = app(&server.url(), "").await;
    executors(&app).await;

    let (status, body) = app
        .get_json_as("/api/v1/executors/te_work/intervals", Some(TOKEN))
        .await;
    assert_eq!(status, 200, "{body}");
    let got: Vec<(u64, u64, u64, bool)> = body["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["done"].as_u64().unwrap(),
                i["failed"].as_u64().unwrap(),
                i["done_total"].as_u64().unwrap(),
                i["restarted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (3, 0, 13, false),
            (0, 2, 13, false),
            (2, 1, 2, true),
            (4, 0, 6, false)
        ]
    );
    // The list is counts only; one interval's details carry its closing heartbeat as written.
    assert!(body["intervals"][3].get("heartbeat").is_none(), "{body}");
    let end = (body["intervals"][3]["end"].as_f64().unwrap() * 1000.0).round();
    let (_, one) = app
        .get_json_as(
            &format!("/api/v1/executors/te_work/intervals/{end}"),
            Some(TOKEN),
        )
        .await;
    assert_eq!(one["interval"]["heartbeat"]["done"], 6, "{one}");

    let since = format!("/api/v1/executors/te_work/intervals?since={}", now - 45.0);
    let (_, recent) = app.get_json_as(&since, Some(TOKEN)).await;
    assert_eq!(recent["intervals"].as_array().unwrap().len(), 2);
    let (status, bad) = app
        .get_json_as(
            "/api/v1/executors/te_work/intervals?since=last-tuesday",
            Some(TOKEN),
        )
        .await;
    assert_eq!((status, bad["parameter"].as_str()), (400, Some("since")));
    let (status, missing) = app
        .get_json_as("/api/v1/executors/nobody/intervals", Some(TOKEN))
        .await;
    assert_eq!(status, 404);
    assert_eq!(missing["message"], "no task executor named nobody");
}

#[tokio::test]
async fn only_the_last_30_minutes_are_read_and_reads_are_incremental() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(
        &mut conn,
        "te_window",
        &[
            Beat::new(now - 1900.0, 1, 0),
            Beat::new(now - 60.0, 5, 0),
            Beat::new(now - 30.0, 6, 0),
        ],
    )
    .await;
    let app = app(&server.url(), "").await;
    let list = executors(&app).await;
    assert_eq!(find(&list, "te_window")["heartbeats_30m"], 2);
    assert_eq!(find(&list, "te_window")["done_30m"], 1);

    write_beats(&mut conn, "te_window", &[Beat::new(unix_now(), 9, 0)]).await;
    let list = executors(&app).await;
    assert_eq!(
        find(&list, "te_window")["heartbeats_30m"],
        3,
        "the new beat, once"
    );
    assert_eq!(find(&list, "te_window")["done_30m"], 4);
    let list = executors(&app).await;
    assert_eq!(
        find(&list, "te_window")["heartbeats_30m"],
        3,
        "no duplicates on re-read"
    );
}

#[tokio::test]
async fn malformed_members_are_skipped_and_counted() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    let name = "te_messy";
    write_beats(&mut conn, name, &[Beat::new(now - 50.0, 1, 0)]).await;
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024));
    let bad = [
        "{not json".to_owned(),
        r#"{"done": 1, "failed": 0, "pending": 0, "lag": 0}"#.to_owned(),
        r#"{"done": "two", "failed": 0, "pending": 0, "lag": 0, "boot_at": "b"}"#.to_owned(),
        huge,
    ];
    for (i, member) in bad.iter().enumerate() {
        write_member(&mut conn, name, now - 40.0 + i as f64, member).await;
    }
    write_beats(&mut conn, name, &[Beat::new(now - 10.0, 3, 0)]).await;
    // A name whose key is not a sorted set at all.
    redis::pipe()
        .cmd("SADD")
        .arg("TASKEXE")
        .arg("te_wrong_type")
        .cmd("SET")
        .arg("te_wrong_type")
        .arg("oops")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    let app = app(&server.url(), "").await;
    executors(&app).await;
    let list = executors(&app).await; // read twice: nothing is counted again
    let messy = find(&list, name);
    assert_eq!(messy["malformed"], 4);
    assert_eq!(messy["heartbeats_30m"], 2);
    assert_eq!(messy["done_30m"], 2);
    assert_eq!(messy["state"], "alive");
    let wrong = find(&list, "te_wrong_type");
    assert_eq!(wrong["malformed"], 1);
    assert!(
        wrong["last_malformed"]
            .as_str()
            .unwrap()
            .contains("WRONGTYPE"),
        "{wrong}"
    );
    assert_eq!(list["summary"]["malformed"], 5);
    // The status page still answers, with the good heartbeats only.
    let (status, body) = app.get_json_as("/v1/system/status", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["task_executor_heartbeats"][name]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_vanished_executor_stays_listed_as_dead() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(&mut conn, "te_crashed", &[Beat::new(now - 150.0, 7, 1)]).await;
    let app = app(&server.url(), "").await;
    assert_eq!(find(&executors(&app).await, "te_crashed")["listed"], true);
    // Another executor reaps it, as RAGFlow does after 120 s of silence.
    redis::pipe()
        .cmd("SREM")
        .arg("TASKEXE")
        .arg("te_crashed")
        .cmd("DEL")
        .arg("te_crashed")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let list = executors(&app).await;
    let crashed = find(&list, "te_crashed");
    assert_eq!(crashed["listed"], false);
    assert_eq!(crashed["state"], "dead");
    assert_eq!(crashed["done_total"], 7);
    assert!(crashed["last_heartbeat"].is_string());
    let (_, status) = app.get_json_as("/v1/system/status", Some(TOKEN)).await;
    assert!(
        status["data"]["task_executor_heartbeats"]
            .get("te_crashed")
            .is_none()
    );
}

#[tokio::test]
async fn the_summary_is_a_component_that_can_be_required() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(&mut conn, "te_one", &[Beat::new(now - 3.0, 1, 0)]).await;
    write_beats(&mut conn, "te_two", &[Beat::new(now - 250.0, 1, 0)]).await;

    let optional = app(&server.url(), "min_alive = 2\n").await;
    let (status, body) = optional.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "not required, not in healthz: {body}");
    assert!(body.get("task_executors").is_none());
    let (status, _, readyz) = optional.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(readyz, "ok");
    let (_, _, verbose) = optional.get("/readyz?verbose").await;
    assert!(
        verbose.contains("[-]task_executors failed (not required): 1 of 2 task executors alive, at least 2 needed"),
        "{verbose}"
    );

    let required = app(
        &server.url(),
        "min_alive = 2\nrequired = true\nhealthz = true\n",
    )
    .await;
    let (status, body) = required.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 500, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["redis", "task_executors", "status", "_meta"]);
    assert_eq!(
        body["_meta"]["task_executors"]["error"],
        "1 of 2 task executors alive, at least 2 needed"
    );

    let enough = app(
        &server.url(),
        "min_alive = 1\nrequired = true\nhealthz = true\n",
    )
    .await;
    let (status, body) = enough.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["task_executors"], "ok");
}

#[tokio::test]
async fn failures_and_stale_executors_make_the_summary_yellow() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(
        &mut conn,
        "te_failing",
        &[Beat::new(now - 35.0, 1, 0), Beat::new(now - 5.0, 2, 3)],
    )
    .await;
    write_beats(&mut conn, "te_quiet", &[Beat::new(now - 100.0, 0, 0)]).await;
    let app = app(&server.url(), "max_failure_rate = 0.5\n").await;
    app.get_json("/v1/system/healthz?fresh=1").await;
    let (_, _, verbose) = app.get("/readyz?verbose").await;
    assert!(
        verbose.contains("[+]task_executors ok"),
        "yellow is ok: {verbose}"
    );
    let result = &app.monitor.snapshot().results[1].clone().unwrap().result;
    assert_eq!(result.status, ragwatch::probe::Status::Yellow);
    assert_eq!(
        result.error.as_deref(),
        Some(
            "no recent heartbeat from te_quiet (100 s); more than 50% of the tasks of the last 30 minutes failed on te_failing (75%: 3 failed, 1 done); 75% of the tasks of the last 30 minutes failed (3 failed, 1 done)"
        )
    );
    // The API and the metrics judge each executor as the component does.
    let list = executors(&app).await;
    let failing: Vec<(&str, bool)> = list["executors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["failing"].as_bool().unwrap()))
        .collect();
    assert_eq!(failing, [("te_failing", true), ("te_quiet", false)]);
    assert_eq!(list["executors"][0]["failure_rate_30m"], 0.75);
    let (_, _, metrics) = app.get_as("/metrics", Some(TOKEN)).await;
    assert!(
        metrics.contains("ragwatch_task_executor_failing{executor=\"te_failing\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ragwatch_task_executor_failing{executor=\"te_quiet\"} 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_executor_that_vanishes_while_ragwatch_is_down_is_remembered() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(&mut conn, "te_leaving", &[Beat::new(now - 130.0, 11, 2)]).await;
    write_beats(&mut conn, "te_staying", &[Beat::new(now - 2.0, 1, 0)]).await;
    let dir = tempfile::tempdir().unwrap();
    let history = format!(
        "[history]\nurl = \"sqlite://{}/history.db\"\n",
        dir.path().display()
    );
    let config = format!(
        "[monitor]\ninterval = \"1h\"\ntimeout = \"2s\"\n[db]\nenabled = false\n[redis]\nurl = \"{}\"\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n{history}",
        server.url()
    );
    let first = TestApp::start_unscheduled(&config).await;
    first.get_json("/v1/system/healthz?fresh=1").await;
    // Wait until both executors are in the history file.
    let db = format!("sqlite://{}/history.db", dir.path().display());
    common::wait_for("both executors are remembered", || async {
        let Ok(mut c) = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db).await else {
            return false;
        };
        let stored = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM executors")
            .fetch_one(&mut c)
            .await
            .unwrap_or(0);
        stored == 2
    })
    .await;
    drop(first);

    // While ragwatch is down, another executor reaps te_leaving, as RAGFlow does.
    redis::pipe()
        .cmd("SREM")
        .arg("TASKEXE")
        .arg("te_leaving")
        .cmd("DEL")
        .arg("te_leaving")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let second = TestApp::start_unscheduled(&config).await;
    let list = common::wait_until("both executors are listed", || async {
        second.get_json("/v1/system/healthz?fresh=1").await;
        let list = second.get_json("/api/v1/executors").await.1;
        list["executors"]
            .as_array()
            .is_some_and(|e| e.len() == 2)
            .then_some(list.clone())
            .ok_or(list.to_string())
    })
    .await;
    let gone = find(&list, "te_leaving");
    assert_eq!(gone["listed"], false);
    assert_eq!(gone["state"], "dead");
    assert_eq!(gone["done_total"], 11);
    assert_eq!(find(&list, "te_staying")["state"], "alive");
}
