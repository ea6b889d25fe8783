//! RAGFlow's `/v1/system/status` contract and its bearer-token protection, and the details
//! of one executor interval enriched from RAGFlow's `task` table on MariaDB and PostgreSQL.

use crate::common;

use common::app::TestApp;
use common::ragflow::{Beat, RagflowDb, redis, unix_now, write_beats};
use common::{
    FaultProxy, FixtureResponse, FixtureServer, ProxyMode, RedisInstance, S3Server, free_port,
};
use serde_json::{Value, json};

const GREEN: &str = "elasticsearch/netdata/v8.4.2/cluster_health.json";

#[tokio::test]
async fn status_has_ragflows_shape_and_the_heartbeats_as_written() {
    let es = FixtureServer::start([(
        "GET",
        "/_cluster/health",
        FixtureResponse::from_fixture(200, GREEN),
    )])
    .await;
    let s3 = S3Server::start("k", "s3-secret", &["ragflow"]).await;
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    let mut busy = Beat::new(now - 31.0, 17, 1);
    busy.current = vec!["4f1c2d3e5a6b47c8a9d0e1f2a3b4c5d6"];
    let written = write_beats(
        &mut conn,
        "task_executor_common_host_0",
        &[busy, Beat::new(now - 1.0, 18, 1)],
    )
    .await;
    let app = TestApp::start_unscheduled(&format!(
        "[server]\ntokens = [\"tok-1\", \"tok-2\"]\n[monitor]\ninterval = \"1h\"\ntimeout = \"2s\"\n\
         [db]\nurl = \"mysql://root@127.0.0.1:3306/mysql\"\n[redis]\nurl = \"{}\"\n\
         [doc_engine]\nurl = \"{}\"\n[storage]\nendpoint = \"{}\"\naccess_key = \"k\"\nsecret_key = \"s3-secret\"\n",
        server.url(),
        es.url(),
        s3.endpoint()
    ))
    .await;

    let (status, _, text) = app.get_as("/v1/system/status", Some("tok-2")).await;
    assert_eq!(status, 200, "{text}");
    for member in &written {
        assert!(
            text.contains(member.as_str()),
            "member not passed through byte for byte"
        );
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["code"], 0);
    assert_eq!(body["message"], "success");
    let data = body["data"].as_object().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "doc_engine",
            "storage",
            "database",
            "redis",
            "task_executor_heartbeats"
        ]
    );

    let recorded: Value = serde_json::from_str(&common::fixture_str(GREEN)).unwrap();
    for (field, value) in recorded.as_object().unwrap() {
        assert_eq!(&data["doc_engine"][field], value, "doc_engine.{field}");
    }
    assert_eq!(data["doc_engine"]["type"], "elasticsearch");
    assert_eq!(data["storage"]["storage"], "minio");
    assert_eq!(data["database"]["database"], "mysql");
    for key in ["doc_engine", "storage", "database", "redis"] {
        assert_eq!(data[key]["status"], "green", "{key}: {}", data[key]);
        let elapsed = data[key]["elapsed"].as_str().unwrap();
        assert!(
            elapsed.parse::<f64>().is_ok() && elapsed.split('.').nth(1).unwrap().len() == 1,
            "{elapsed}"
        );
        assert!(data[key].get("error").is_none(), "{key}");
    }
    assert_eq!(
        data["redis"].as_object().unwrap().len(),
        2,
        "redis: status and elapsed only"
    );
    let beats = data["task_executor_heartbeats"]["task_executor_common_host_0"]
        .as_array()
        .unwrap();
    let expected: Vec<Value> = written
        .iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect();
    assert_eq!(beats, &expected, "oldest first, as written");
    // Same answer on RAGFlow's newer path.
    let (status, again) = app
        .get_json_as("/api/v1/system/status", Some("tok-1"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        again["data"]["task_executor_heartbeats"],
        data["task_executor_heartbeats"]
    );
}

#[tokio::test]
async fn status_while_components_are_red_keeps_their_kinds_and_says_why() {
    // Nothing listens where the cluster and the S3 server should be; the database's answer
    // is 300 ms late, then the connection is reset (nothing behind the proxy either).
    let slow = FaultProxy::start(("127.0.0.1", free_port())).await;
    slow.set_mode(ProxyMode::Delay(std::time::Duration::from_millis(300)))
        .await;
    let app = TestApp::start_unscheduled(&format!(
        "[server]\ntokens = [\"tok\"]\n[monitor]\ninterval = \"1h\"\ntimeout = \"5s\"\n\
         [db]\nurl = \"mysql://root@{}/rag_flow\"\n[redis]\nurl = \"redis://127.0.0.1:6379/1\"\n\
         [doc_engine]\nurl = \"http://127.0.0.1:{}\"\n\
         [storage]\nendpoint = \"http://127.0.0.1:{}\"\naccess_key = \"k\"\nsecret_key = \"s3-secret\"\n\
         [task_executors]\nenabled = false\n[history]\nenabled = false\n",
        slow.host_port(),
        free_port(),
        free_port(),
    ))
    .await;
    app.get("/v1/system/healthz?fresh=1").await;

    let (status, body) = app.get_json_as("/v1/system/status", Some("tok")).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    // Each keeps the configured kind while it cannot be reached.
    assert_eq!(data["doc_engine"]["type"], "elasticsearch", "{body}");
    assert_eq!(data["storage"]["storage"], "minio", "{body}");
    assert_eq!(data["database"]["database"], "mysql", "{body}");
    for key in ["doc_engine", "storage", "database"] {
        assert_eq!(data[key]["status"], "red", "{key}: {body}");
        let error = data[key]["error"].as_str().unwrap_or_default();
        assert!(!error.is_empty(), "{key} says why: {body}");
    }
    assert_eq!(data["redis"]["status"], "green", "{body}");
    assert!(data["redis"].get("error").is_none(), "{body}");
    // Milliseconds: the database's probe waited the proxy's 300 ms.
    let elapsed: f64 = data["database"]["elapsed"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (300.0..10_000.0).contains(&elapsed),
        "database elapsed {elapsed}: not in milliseconds"
    );
}

#[tokio::test]
async fn protected_endpoints_need_a_configured_token() {
    let app = TestApp::start_unscheduled(
        "[server]\ntokens = \"right-token\"\n[db]\nenabled = false\n[redis]\nurl = \"redis://127.0.0.1:6379/1\"\n[doc_engine]\nenabled = false\n[storage]\nenabled = false\n[task_executors]\nenabled = false\n",
    )
    .await;
    for path in [
        "/v1/system/status",
        "/api/v1/system/status",
        "/api/v1/executors",
        "/api/v1/executors/x/intervals",
    ] {
        let cases = [
            ("no token", None, 401, "Missing Authorization header"),
            (
                "wrong token",
                Some("wrong-token"),
                401,
                "Invalid access token",
            ),
            (
                "prefix of the token",
                Some("right"),
                401,
                "Invalid access token",
            ),
        ];
        for (name, token, expected, message) in cases {
            let (status, body) = app.get_json_as(path, token).await;
            assert_eq!(status, expected, "{path} {name}");
            // RAGFlow's Go server's body, word for word: its clients check it.
            assert_eq!(
                body,
                serde_json::json!({"code": expected, "message": message}),
                "{path} {name}"
            );
        }
    }
    let response = reqwest::Client::new()
        .get(app.url("/v1/system/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let (status, body) = app
        .get_json_as("/v1/system/status", Some("right-token"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["task_executor_heartbeats"], json!({}));
    // healthz and the probes stay open, as RAGFlow's healthz is.
    assert_eq!(app.get("/v1/system/healthz").await.0, 200);
    assert_eq!(app.get("/readyz").await.0, 200);
    // Executors not watched: a clear 404 once authenticated.
    let (status, body) = app
        .get_json_as("/api/v1/executors", Some("right-token"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["message"],
        "task executors are not watched (task_executors.enabled = false)"
    );
}

async fn interval_details_name_the_tasks_that_ended_in_it(postgres: bool) {
    let db = RagflowDb::create(postgres).await;
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now().floor();
    let (t0, t1) = (now - 60.0, now - 30.0);
    let mut opening = Beat::new(t0, 17, 1);
    opening.current = vec!["task_here"];
    write_beats(&mut conn, "te_db", &[opening, Beat::new(t1, 18, 2)]).await;
    let ms = |s: f64| (s * 1000.0) as i64;
    db.execute("INSERT INTO document (id, kb_id, name, type, size) VALUES ('doc1', 'kb', 'annual_report.pdf', 'pdf', 10), ('doc2', 'kb', 'scan.pdf', 'pdf', 20)").await;
    db.execute(&format!(
        "INSERT INTO task (id, doc_id, progress, progress_msg, update_time, process_duration) VALUES \
         ('task_here', 'doc1', 1, 'Done', {}, 12.5), \
         ('task_failed', 'doc2', -1, '[ERROR]OCR model not found', {}, 3), \
         ('task_running', 'doc2', 0.5, 'Parsing', {}, 0), \
         ('task_before', 'doc1', 1, 'Done', {}, 1), \
         ('task_at_end', 'doc1', 1, 'Done', {}, 1)",
        ms(t0) + 5_000,
        ms(t0) + 9_000,
        ms(t0) + 7_000,
        ms(t0) - 1,
        ms(t1),
    ))
    .await;
    let app = TestApp::start_unscheduled(&format!(
        "[monitor]\ninterval = \"1h\"\ntimeout = \"3s\"\n[db]\nkind = \"{}\"\nurl = \"{}\"\n\
         [redis]\nurl = \"{}\"\n[doc_engine]\nenabled = false\n[storage]\nenabled = false\n",
        if postgres { "postgres" } else { "mysql" },
        db.url,
        server.url(),
    ))
    .await;
    app.get_json("/v1/system/healthz?fresh=1").await;
    let (_, list) = app.get_json("/api/v1/executors/te_db/intervals").await;
    let end = list["intervals"][0]["end"].as_f64().unwrap();
    let path = format!(
        "/api/v1/executors/te_db/intervals/{}",
        (end * 1000.0).round() as i64
    );
    let (status, details) = app.get_json(&path).await;
    assert_eq!(status, 200, "{details}");
    assert_eq!(details["tasks_error"], Value::Null, "{details}");
    let tasks: Vec<(&str, &str, &str, bool)> = details["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap(),
                t["document_name"].as_str().unwrap(),
                t["outcome"].as_str().unwrap(),
                t["ran_here"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            ("task_here", "annual_report.pdf", "done", true),
            ("task_failed", "scan.pdf", "failed", false)
        ]
    );
    assert_eq!(
        details["tasks"][1]["progress_msg"],
        "[ERROR]OCR model not found"
    );
    assert_eq!(details["running_at_start"], json!(["task_here"]));
    assert_eq!(details["opening_heartbeat"]["done"], 17);
    assert_eq!(details["interval"]["done"], 1);
    assert_eq!(details["interval"]["failed"], 1);

    let (status, _) = app
        .get_json("/api/v1/executors/te_db/intervals/12345")
        .await;
    assert_eq!(status, 404);
    let (status, body) = app.get_json("/api/v1/executors/te_db/intervals/soon").await;
    assert_eq!((status, body["parameter"].as_str()), (400, Some("end")));
    drop(app);
    db.drop_database().await;
}

#[tokio::test]
async fn interval_details_from_mariadb() {
    interval_details_name_the_tasks_that_ended_in_it(false).await;
}

#[tokio::test]
async fn interval_details_from_postgres() {
    interval_details_name_the_tasks_that_ended_in_it(true).await;
}

#[tokio::test]
async fn interval_details_say_when_the_database_is_not_ragflows() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(
        &mut conn,
        "te_x",
        &[Beat::new(now - 40.0, 1, 0), Beat::new(now - 10.0, 2, 0)],
    )
    .await;
    let app = TestApp::start_unscheduled(&format!(
        "[db]\nurl = \"mysql://root@127.0.0.1:3306/mysql\"\n[redis]\nurl = \"{}\"\n[doc_engine]\nenabled = false\n[storage]\nenabled = false\n",
        server.url()
    ))
    .await;
    app.get_json("/v1/system/healthz?fresh=1").await;
    let (_, list) = app.get_json("/api/v1/executors/te_x/intervals").await;
    let end = list["intervals"][0]["end"].as_f64().unwrap();
    let (status, details) = app
        .get_json(&format!(
            "/api/v1/executors/te_x/intervals/{}",
            (end * 1000.0).round() as i64
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(details["tasks"], Value::Null);
    let error = details["tasks_error"].as_str().unwrap();
    assert!(
        error.starts_with("cannot read RAGFlow's task table:"),
        "{error}"
    );
    assert!(error.contains("doesn't exist"), "{error}");
}
