//! A dead executor's last 30 minutes survive a restart of ragwatch: its heartbeats are kept
//! in the history (SQLite, and PostgreSQL on a scratch database) and given back to the
//! tracker, so its intervals, counts and running task are there again, in the API and
//! on the page.

use crate::common;

use common::RedisInstance;
use common::app::TestApp;
use common::browser::Browser;
use common::executors::{TOKEN, find};
use common::ragflow::{Beat, redis, unix_now, write_beats};
use common::scratch::ScratchDatabase;
use serde_json::{Value, json};
use sqlx::Connection;

/// The dead executor's intervals: (done, failed) each.
const DEAD_INTERVALS: [(u64, u64); 3] = [(3, 0), (0, 2), (7, 0)];

#[tokio::test]
async fn a_dead_executors_last_minutes_survive_a_restart_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/history.db", dir.path().display());
    survives_a_restart(&url, true).await;
}

#[tokio::test]
async fn a_dead_executors_last_minutes_survive_a_restart_in_postgres() {
    let scratch = ScratchDatabase::create("evidence").await;
    survives_a_restart(&scratch.url(), false).await;
    scratch.drop_it().await;
}

/// Heartbeats stored for the executors, by executor (observer, executor) in `url`.
async fn stored_beats(url: &str) -> Vec<(String, String, i64)> {
    let query = "SELECT observer, executor, COUNT(*) FROM executor_heartbeats GROUP BY observer, executor ORDER BY executor";
    let rows = if url.starts_with("sqlite:") {
        let Ok(mut c) = sqlx::SqliteConnection::connect(url).await else {
            return Vec::new();
        };
        sqlx::query_as(query).fetch_all(&mut c).await
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(query).fetch_all(&mut c).await
    };
    rows.unwrap_or_default()
}

async fn survives_a_restart(history_url: &str, with_page: bool) {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    // Scores a fraction of a millisecond past the millisecond they round to.
    let now = unix_now().floor() + 0.0004;
    let mut busy = Beat::new(now - 260.0, 13, 0);
    busy.current = vec!["task_busy"];
    let mut last = Beat::new(now - 200.0, 20, 2);
    last.current = vec!["task_at_death"];
    let dead = [
        Beat::new(now - 290.0, 10, 0),
        busy.clone(),
        Beat {
            at: now - 230.0,
            failed: 2,
            ..busy
        },
        last,
    ];
    write_beats(&mut conn, "te_dead", &dead).await;
    write_beats(
        &mut conn,
        "te_alive",
        &[Beat::new(now - 40.0, 1, 0), Beat::new(now - 10.0, 2, 0)],
    )
    .await;
    let config = format!(
        "[server]\ntokens = [\"{TOKEN}\"]\n[monitor]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         [db]\nenabled = false\n[redis]\nurl = \"{}\"\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
         [history]\nurl = \"{history_url}\"\n",
        server.url()
    );
    let first = TestApp::start(&config).await;
    common::wait_until("both windows are stored", || async {
        let stored = stored_beats(history_url).await;
        let counts: Vec<(&str, i64)> = stored.iter().map(|(_, e, n)| (e.as_str(), *n)).collect();
        (counts == [("te_alive", 2), ("te_dead", 4)])
            .then_some(())
            .ok_or(format!("{stored:?}"))
    })
    .await;
    let before = intervals(&first, "te_dead").await;
    assert_eq!(counts(&before), DEAD_INTERVALS);
    drop(first);

    // While ragwatch is down, another executor reaps the dead one, as RAGFlow does; the
    // live one leaves TASKEXE for a while, so that it is first known from the history.
    redis::pipe()
        .cmd("SREM")
        .arg("TASKEXE")
        .arg("te_dead")
        .cmd("DEL")
        .arg("te_dead")
        .cmd("SREM")
        .arg("TASKEXE")
        .arg("te_alive")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let second = TestApp::start(&config).await;
    let after = common::wait_until("the dead executor's intervals are back", || async {
        let after = intervals(&second, "te_dead").await;
        (counts(&after) == DEAD_INTERVALS)
            .then_some(after.clone())
            .ok_or(after.to_string())
    })
    .await;
    let ends = |intervals: &Value| -> Vec<i64> {
        intervals.as_array().unwrap().iter().map(end_ms).collect()
    };
    assert_eq!(
        ends(&after),
        ends(&before),
        "the same intervals, to the millisecond"
    );
    let (_, list) = second.get_json_as("/api/v1/executors", Some(TOKEN)).await;
    let gone = find(&list, "te_dead");
    assert_eq!(
        (
            &gone["state"],
            &gone["listed"],
            &gone["done_30m"],
            &gone["failed_30m"]
        ),
        (&json!("dead"), &json!(false), &json!(10), &json!(2)),
        "{gone}"
    );
    // The task it was running when it died, and the one before.
    let last_interval = &after[2];
    let (status, details) = second
        .get_json_as(
            &format!(
                "/api/v1/executors/te_dead/intervals/{}",
                end_ms(last_interval)
            ),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 200, "{details}");
    assert_eq!(
        details["running_at_start"],
        json!(["task_busy"]),
        "{details}"
    );
    assert!(
        details["interval"]["heartbeat"]["current"]["task_at_death"].is_object(),
        "{details}"
    );
    // Listed again, the live one reads on from its stored window: nothing twice.
    redis::cmd("SADD")
        .arg("TASKEXE")
        .arg("te_alive")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    common::wait_until("the live executor is listed again", || async {
        let (_, list) = second.get_json_as("/api/v1/executors", Some(TOKEN)).await;
        let listed = &find(&list, "te_alive")["listed"];
        (listed == true).then_some(()).ok_or(listed.to_string())
    })
    .await;
    let alive = intervals(&second, "te_alive").await;
    assert_eq!(counts(&alive), [(1, 0)], "{alive}");
    // Each observer keeps its own rows.
    let observers: Vec<String> = stored_beats(history_url)
        .await
        .into_iter()
        .map(|(observer, _, _)| observer)
        .collect();
    assert_eq!(observers.len(), 2);
    assert!(
        observers.iter().all(|o| *o == observers[0]),
        "{observers:?}"
    );

    if with_page {
        let browser = Browser::start(1280, 1000).await;
        browser.open(&second.url("/")).await;
        browser
            .wait_for(
                "the token prompt",
                "document.getElementById('token-dialog').open",
            )
            .await;
        browser
            .run(
                "document.getElementById('token-input').value = arguments[0]; \
                 document.getElementById('token-form').requestSubmit();",
                vec![json!(TOKEN)],
            )
            .await;
        let bars = "[...document.querySelectorAll('.executor[data-name=\"te_dead\"] .bar')]";
        let shown = browser
            .wait_for(
                "the dead executor's bars",
                &format!(
                    "(() => {{ const b = {bars}; return b.length === 3 ? b.map(x => [+x.dataset.done, +x.dataset.failed]) : null; }})()"
                ),
            )
            .await;
        assert_eq!(shown, json!(DEAD_INTERVALS));
        let text = browser
            .run(
                "return document.querySelector('.executor[data-name=\"te_dead\"]').textContent;",
                vec![],
            )
            .await;
        assert!(!text.as_str().unwrap().contains("No heartbeats"), "{text}");
    }
}

/// An interval's end in unix milliseconds, its name in the API.
fn end_ms(interval: &Value) -> i64 {
    (interval["end"].as_f64().unwrap() * 1000.0).round() as i64
}

/// An executor's intervals, as the API lists them.
async fn intervals(app: &TestApp, name: &str) -> Value {
    let path = format!("/api/v1/executors/{name}/intervals");
    let (status, body) = app.get_json_as(&path, Some(TOKEN)).await;
    if status == 404 {
        return json!([]);
    }
    assert_eq!(status, 200, "{body}");
    body["intervals"].clone()
}

/// (done, failed) of each interval.
fn counts(intervals: &Value) -> Vec<(u64, u64)> {
    intervals
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["done"].as_u64().unwrap(), i["failed"].as_u64().unwrap()))
        .collect()
}
