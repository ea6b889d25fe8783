//! Task executors under hostile heartbeats in a real Redis: names of a megabyte, a member
//! read again and again, a heartbeat from the year 3000, a hundred thousand heartbeats in
//! one executor. Whatever Redis holds, what ragwatch keeps, stores and serves stays bounded
//! and each bad entry counts once.

use crate::common;

use common::RedisInstance;
use common::app::TestApp;
use common::executors::{TOKEN, app, executors, find};
use common::ragflow::{Beat, redis, unix_now, write_beats, write_member};
use serde_json::Value;

/// The largest error message a probe result carries, in bytes, before the ellipsis.
const MAX_ERROR_BYTES: usize = 4096;

/// The task-executor component's latest error.
fn executors_error(app: &TestApp) -> Option<String> {
    let snapshot = app.monitor.snapshot();
    let index = app
        .monitor
        .components()
        .iter()
        .position(|c| c.key.as_str() == "task_executors")
        .unwrap();
    snapshot.results[index]
        .clone()
        .unwrap()
        .result
        .error
        .clone()
}

#[tokio::test]
async fn names_of_a_megabyte_are_refused_and_counted_once() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(&mut conn, "te_fine", &[Beat::new(now - 3.0, 1, 0)]).await;
    let huge: Vec<String> = (0..5)
        .map(|i| format!("{i}{}", "n".repeat(1024 * 1024)))
        .collect();
    for name in &huge {
        write_beats(&mut conn, name, &[Beat::new(now - 90.0, 1, 0)]).await;
    }
    let app = app(&server.url(), "").await;
    executors(&app).await;
    let list = executors(&app).await;
    let names: Vec<&str> = list["executors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["te_fine"]);
    assert_eq!(
        list["summary"]["malformed"], 5,
        "counted once: {}",
        list["summary"]
    );
    assert_eq!(list["summary"]["malformed_names"], 5);
    assert!(executors_error(&app).is_none_or(|e| e.len() <= MAX_ERROR_BYTES + 3));
    let (_, _, metrics) = app.get_as("/metrics", Some(TOKEN)).await;
    assert!(metrics.len() < 64 * 1024, "{} bytes", metrics.len());
}

#[tokio::test]
async fn every_error_message_is_cut_at_four_kibibytes() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    // Twenty stale executors with names at the limit name themselves in the warning.
    for i in 0..20 {
        let name = format!("task_executor_{}_{i:02}", "h".repeat(236));
        assert!(name.len() <= 256);
        write_beats(&mut conn, &name, &[Beat::new(now - 90.0, 1, 0)]).await;
    }
    let app = app(&server.url(), "min_alive = 0\n").await;
    executors(&app).await;
    let error = executors_error(&app).expect("stale executors warn");
    assert!(
        error.starts_with("no recent heartbeat from task_executor_"),
        "{error}"
    );
    assert!(error.ends_with('…'), "{error}");
    assert_eq!(error.len(), MAX_ERROR_BYTES + '…'.len_utf8());
}

#[tokio::test]
async fn a_malformed_member_counts_once_however_often_it_is_read() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(&mut conn, "te_bad_tail", &[Beat::new(now - 20.0, 1, 0)]).await;
    // The newest member is the bad one: it stays after the last good heartbeat.
    write_member(&mut conn, "te_bad_tail", now - 5.0, "{not json").await;
    let app = app(&server.url(), "").await;
    for _ in 0..3 {
        executors(&app).await;
    }
    let list = executors(&app).await;
    let executor = find(&list, "te_bad_tail");
    assert_eq!(executor["malformed"], 1, "{executor}");
    assert_eq!(executor["heartbeats_30m"], 1);
    // A good heartbeat after it is still read.
    write_beats(&mut conn, "te_bad_tail", &[Beat::new(unix_now(), 4, 0)]).await;
    let list = executors(&app).await;
    let executor = find(&list, "te_bad_tail");
    assert_eq!(
        (
            executor["malformed"].as_u64(),
            executor["done_30m"].as_u64()
        ),
        (Some(1), Some(3)),
        "{executor}"
    );
}

#[tokio::test]
async fn a_heartbeat_from_the_future_keeps_no_executor_alive() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(
        &mut conn,
        "te_time_traveller",
        &[Beat::new(now - 300.0, 1, 0)],
    )
    .await;
    let year_3000 = 32_503_680_000.0;
    write_beats(
        &mut conn,
        "te_time_traveller",
        &[Beat::new(year_3000, 2, 0)],
    )
    .await;
    let app = app(&server.url(), "min_alive = 0\n").await;
    let list = executors(&app).await;
    let executor = find(&list, "te_time_traveller");
    assert_eq!(executor["state"], "dead", "{executor}");
    assert_eq!(executor["done_total"], 1);
    assert_eq!(executor["heartbeats_ahead"], 1, "the clock is flagged");
    assert!(
        executors_error(&app).is_some_and(|e| e.contains("ahead of this clock")),
        "{:?}",
        executors_error(&app)
    );
    // Heartbeats written now are still read: the one from the future does not block them.
    write_beats(
        &mut conn,
        "te_time_traveller",
        &[Beat::new(unix_now() - 1.0, 3, 0)],
    )
    .await;
    let list = executors(&app).await;
    let executor = find(&list, "te_time_traveller");
    assert_eq!(executor["state"], "alive", "{executor}");
    assert_eq!(executor["done_total"], 3);
    // A clock a little ahead (within a minute) is normal drift: read at once.
    write_beats(
        &mut conn,
        "te_time_traveller",
        &[Beat::new(unix_now() + 20.0, 4, 0)],
    )
    .await;
    let list = executors(&app).await;
    assert_eq!(find(&list, "te_time_traveller")["done_total"], 4);
}

#[tokio::test]
async fn an_executor_keeps_its_newest_thousand_heartbeats() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    let name = "te_chatty";
    let count = 100_000;
    let member = |i: usize| Beat::new(now - 1500.0 + i as f64 * 0.01, i as u64, 0).json(name);
    for chunk in (0..count).collect::<Vec<_>>().chunks(5_000) {
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(name);
        for &i in chunk {
            zadd.arg(now - 1500.0 + i as f64 * 0.01).arg(member(i));
        }
        zadd.query_async::<()>(&mut conn).await.unwrap();
    }
    redis::cmd("SADD")
        .arg("TASKEXE")
        .arg(name)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let app = app(&server.url(), "").await;
    let list = executors(&app).await;
    let executor = find(&list, name);
    assert_eq!(executor["heartbeats_30m"], 1000, "{executor}");
    assert_eq!(executor["skipped"], count - 1000);
    assert_eq!(executor["done_total"], count - 1);
    let (status, _, body) = app
        .get_as(&format!("/api/v1/executors/{name}/intervals"), Some(TOKEN))
        .await;
    assert_eq!(status, 200);
    let intervals: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(intervals["intervals"].as_array().unwrap().len(), 999);
    assert!(body.len() < 1024 * 1024, "{} bytes", body.len());
    // Read again: nothing is counted twice.
    let list = executors(&app).await;
    assert_eq!(find(&list, name)["skipped"], count - 1000);
}
