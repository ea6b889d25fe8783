//! RAGFlow's healthz contract, livez/readyz and the API's error shapes, against real
//! MariaDB, Redis and S3 servers and the recorded Elasticsearch responses.

use crate::common;

use std::time::{Duration, Instant};

use common::app::TestApp;
use common::{FaultProxy, FixtureResponse, FixtureServer, ProxyMode, S3Server};

const GREEN: &str = "elasticsearch/netdata/v8.4.2/cluster_health.json";
const YELLOW: &str = "elasticsearch/clusterhealth/7.13.1.json";
const RED: &str = "elasticsearch/transcribed/cluster_health_red_8x_single_node.json";

/// Working dependencies: the machine's MariaDB and Redis, a recorded green cluster, a real
/// S3 server with the bucket.
struct Deps {
    es: FixtureServer,
    s3: S3Server,
}

impl Deps {
    async fn start() -> Self {
        let es = FixtureServer::start([(
            "GET",
            "/_cluster/health",
            FixtureResponse::from_fixture(200, GREEN),
        )])
        .await;
        let s3 = S3Server::start("ragwatch", "ragwatch-secret-key", &["ragflow"]).await;
        Self { es, s3 }
    }

    /// A configuration of all four components; `redis` is the Redis address to use and
    /// `extra` is appended (later keys of a section may not repeat earlier ones).
    fn config(&self, redis: &str, extra: &str) -> String {
        format!(
            "[monitor]\ninterval = \"1h\"\ntimeout = \"2s\"\n\
             [db]\nurl = \"mysql://root@127.0.0.1:3306/mysql\"\n\
             [redis]\nurl = \"redis://{redis}/1\"\n\
             [doc_engine]\nurl = \"{es}\"\n\
             [task_executors]\nenabled = false\n[history]\nenabled = false\n\
             [storage]\nendpoint = \"{s3}\"\naccess_key = \"ragwatch\"\nsecret_key = \"ragwatch-secret-key\"\nbucket = \"ragflow\"\n{extra}",
            es = self.es.url(),
            s3 = self.s3.endpoint(),
        )
    }
}

#[tokio::test]
async fn all_ok_is_200_with_ragflows_exact_body() {
    let deps = Deps::start().await;
    let app = TestApp::start(&deps.config("127.0.0.1:6379", "")).await;
    for path in ["/v1/system/healthz", "/api/v1/system/healthz"] {
        let (status, content_type, body) = app.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(content_type, "application/json");
        assert_eq!(
            body,
            r#"{"db":"ok","redis":"ok","doc_engine":"ok","storage":"ok","status":"ok"}"#
        );
    }
}

#[tokio::test]
async fn a_failed_component_is_500_with_meta_for_it_alone() {
    let deps = Deps::start().await;
    let closed = FaultProxy::start("127.0.0.1:6379").await;
    closed.set_mode(ProxyMode::Refuse).await;
    let app = TestApp::start(&deps.config(&closed.host_port(), "")).await;
    let (status, _, body) = app.get("/v1/system/healthz").await;
    assert_eq!(status, 500, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["db", "redis", "doc_engine", "storage", "status", "_meta"]
    );
    assert_eq!(json["redis"], "nok");
    assert_eq!(json["db"], "ok");
    assert_eq!(json["status"], "nok");
    let meta = json["_meta"].as_object().unwrap();
    assert_eq!(meta.len(), 1, "only the failed component: {body}");
    assert_eq!(
        meta["redis"]["error"],
        format!("connection refused to {}", closed.host_port())
    );
    let elapsed = meta["redis"]["elapsed"].as_str().unwrap();
    let (whole, fraction) = elapsed.split_once('.').expect("one decimal");
    assert!(
        whole.parse::<u64>().is_ok() && fraction.len() == 1,
        "{elapsed}"
    );
    assert_eq!(meta["redis"].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn a_failed_component_that_is_not_required_keeps_200() {
    let deps = Deps::start().await;
    // `extra` lands in the last section, storage.
    let config = deps
        .config("127.0.0.1:6379", "required = false\n")
        .replace("bucket = \"ragflow\"", "bucket = \"no-such-bucket\"");
    let app = TestApp::start(&config).await;
    let (status, body) = app.get_json("/v1/system/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["storage"], "nok");
    assert_eq!(body["status"], "ok");
    assert_eq!(
        body["_meta"]["storage"]["error"],
        "bucket 'no-such-bucket' does not exist"
    );
}

#[tokio::test]
async fn cluster_colour_decides_doc_engine() {
    let deps = Deps::start().await;
    let app = TestApp::start_unscheduled(&deps.config("127.0.0.1:6379", "")).await;
    let cases = [
        ("green", GREEN, 200, "ok"),
        ("yellow", YELLOW, 200, "ok"),
        ("red (RAGFlow would say ok)", RED, 500, "nok"),
    ];
    for (name, fixture, expected_status, expected) in cases {
        deps.es.set_route(
            "GET",
            "/_cluster/health",
            FixtureResponse::from_fixture(200, fixture),
        );
        let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
        assert_eq!(status, expected_status, "{name}: {body}");
        assert_eq!(body["doc_engine"], expected, "{name}: {body}");
    }
    let (_, body) = app.get_json("/v1/system/healthz").await;
    assert_eq!(
        body["_meta"]["doc_engine"]["error"],
        "cluster status is red: 1 shard unassigned (1 primary)"
    );
}

#[tokio::test]
async fn a_hung_dependency_never_delays_healthz() {
    let deps = Deps::start().await;
    let hole = FaultProxy::black_hole().await;
    let config = deps.config(&hole.host_port(), "").replace(
        "interval = \"1h\"\ntimeout = \"2s\"",
        "interval = \"5s\"\ntimeout = \"5s\"",
    );
    let app = TestApp::start(&config).await;
    // The first answer waits for the first round, which the hung Redis ends at its timeout.
    let (status, body) = app.get_json("/v1/system/healthz").await;
    assert_eq!(status, 500);
    assert_eq!(body["_meta"]["redis"]["error"], "timed out after 5000 ms");
    // Now a probe of Redis is always hanging; answers come from the snapshot at once.
    for _ in 0..20 {
        let started = Instant::now();
        let (status, body) = app.get_json("/v1/system/healthz").await;
        assert_eq!(status, 500);
        assert_eq!(body["db"], "ok");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "healthz waited {:?} on a hung dependency",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn fresh_is_bounded_by_the_timeout_and_other_results_stay_right() {
    let deps = Deps::start().await;
    let hole = FaultProxy::black_hole().await;
    let config = deps
        .config(&hole.host_port(), "")
        .replace("timeout = \"2s\"", "timeout = \"1s\"");
    let app = TestApp::start_unscheduled(&config).await;
    let started = Instant::now();
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    let waited = started.elapsed();
    assert_eq!(status, 500, "{body}");
    assert!(
        waited >= Duration::from_secs(1),
        "fresh did not wait for the probe"
    );
    assert!(waited < Duration::from_secs(4), "fresh waited {waited:?}");
    assert_eq!(body["_meta"]["redis"]["error"], "timed out after 1000 ms");
    for key in ["db", "doc_engine", "storage"] {
        assert_eq!(body[key], "ok", "{key}: {body}");
    }
}

#[tokio::test]
async fn concurrent_fresh_requests_share_one_probe() {
    let deps = Deps::start().await;
    let app = TestApp::start_unscheduled(&deps.config("127.0.0.1:6379", "")).await;
    app.get_json("/v1/system/healthz?fresh=1").await;
    deps.es.set_route(
        "GET",
        "/_cluster/health",
        FixtureResponse::from_fixture(200, GREEN).with_delay(Duration::from_millis(500)),
    );
    deps.es.clear_requests();
    let requests = (0..25).map(|_| app.get_json("/v1/system/healthz?fresh=1"));
    let answers = futures_util::future::join_all(requests).await;
    assert!(answers.iter().all(|(status, _)| *status == 200));
    assert_eq!(deps.es.requests_to("/_cluster/health").len(), 1);
}

/// PING calls a Redis has answered, from its `INFO commandstats`: one per probe of it.
async fn pings(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_ping:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn fresh_requests_probe_a_component_at_most_once_per_fresh_min_interval() {
    let server = common::RedisInstance::start(None).await;
    let mut conn = common::ragflow::redis(&server.url()).await;
    let app = TestApp::start_unscheduled(&format!(
        "[server]\nfresh_min_interval = \"1s\"\n[monitor]\ninterval = \"1h\"\ntimeout = \"2s\"\n\
         {}[redis]\nurl = \"{}\"\n",
        common::app::only("redis"),
        server.url()
    ))
    .await;
    let checked_at = || async {
        let (_, body) = app.get_json("/api/v1/components/redis").await;
        body["checked_at"].as_str().unwrap().to_owned()
    };
    app.get_json("/v1/system/healthz?fresh=1").await;
    let first = checked_at().await;
    let before = pings(&mut conn).await;
    let started = Instant::now();
    let mut waves = 0;
    // Waves of concurrent fresh requests, one after the other, for 2.5 s.
    while started.elapsed() < Duration::from_millis(2500) {
        let wave = (0..10).map(|_| app.get_json("/v1/system/healthz?fresh=1"));
        for (status, body) in futures_util::future::join_all(wave).await {
            assert_eq!(status, 200, "{body}");
        }
        waves += 1;
    }
    let elapsed = started.elapsed();
    let probes = pings(&mut conn).await - before;
    let bound = elapsed.as_secs() + 1;
    assert!(
        probes <= bound,
        "{probes} probes for {waves} waves of fresh requests in {elapsed:?}"
    );
    assert!(waves > 3 * bound, "only {waves} waves in {elapsed:?}");
    // Past the window a fresh request probes again: a newer result.
    assert!(probes >= 1, "no fresh probe in {elapsed:?}");
    assert_ne!(checked_at().await, first);
}

#[tokio::test]
async fn plain_requests_never_probe() {
    let deps = Deps::start().await;
    let app = TestApp::start_unscheduled(&deps.config("127.0.0.1:6379", "")).await;
    app.get_json("/v1/system/healthz").await; // the first answer waits for the first round
    deps.es.clear_requests();
    for _ in 0..200 {
        app.get_json("/v1/system/healthz").await;
    }
    app.get("/readyz").await;
    assert_eq!(deps.es.requests_to("/_cluster/health").len(), 0);
}

#[tokio::test]
async fn a_dependency_that_comes_back_is_reconnected() {
    let deps = Deps::start().await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    let mysql = FaultProxy::start("127.0.0.1:3306").await;
    let config = deps
        .config(&redis.host_port(), "")
        .replace("127.0.0.1:3306", &mysql.host_port());
    let app = TestApp::start_unscheduled(&config).await;
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "{body}");

    for mode in [ProxyMode::Reset, ProxyMode::Refuse] {
        redis.set_mode(mode).await;
        mysql.set_mode(mode).await;
        let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
        assert_eq!(status, 500, "{mode:?}: {body}");
        assert_eq!(body["redis"], "nok", "{mode:?}: {body}");
        assert_eq!(body["db"], "nok", "{mode:?}: {body}");

        redis.set_mode(ProxyMode::Pass).await;
        mysql.set_mode(ProxyMode::Pass).await;
        let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
        assert_eq!(status, 200, "after {mode:?}: {body}");
    }
}

#[tokio::test]
async fn readyz_and_livez_speak_kubernetes() {
    let deps = Deps::start().await;
    let closed = FaultProxy::start("127.0.0.1:6379").await;
    closed.set_mode(ProxyMode::Refuse).await;
    let app = TestApp::start(&deps.config(&closed.host_port(), "")).await;

    assert_eq!(
        app.get("/livez").await,
        (200, "text/plain; charset=utf-8".into(), "ok".into())
    );
    let (status, _, body) = app.get("/livez?verbose").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "[+]ping ok\nlivez check passed\n")
    );

    let (status, _, body) = app.get("/readyz?verbose").await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        format!(
            "[+]db ok\n[-]redis failed: connection refused to {}\n[+]doc_engine ok\n[+]storage ok\nreadyz check failed\n",
            closed.host_port()
        )
    );
    let (status, _, body) = app.get("/readyz?exclude=redis").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _, body) = app.get("/readyz?verbose=1&exclude=redis").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("[+]redis excluded: ok\n") && body.ends_with("readyz check passed\n"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_input_gets_json_errors() {
    let deps = Deps::start().await;
    let app = TestApp::start_unscheduled(&deps.config("127.0.0.1:6379", "")).await;
    let cases = [
        ("/v1/system/healthz?fresh=maybe", 400, "fresh"),
        ("/readyz?verbose=loud", 400, "verbose"),
        ("/readyz?exclude=nosuch", 400, "exclude"),
        ("/livez?verbose=2", 400, "verbose"),
    ];
    for (path, expected, parameter) in cases {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, expected, "{path}");
        assert_eq!(body["code"], expected, "{path}");
        assert_eq!(body["parameter"], parameter, "{path}");
        assert!(
            body["message"].as_str().unwrap().contains(parameter),
            "{path}"
        );
    }
    let (status, body) = app.get_json("/v1/system/nothing-here").await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "no route for GET /v1/system/nothing-here");
    let response = reqwest::Client::new()
        .post(app.url("/v1/system/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], 405);
}

/// `fresh=1` while db, redis and (when `hung` is 3) the document engine never answer (the
/// others work), with a 3 s timeout: their probes run side by side, so the answer comes in about
/// one timeout, well before the 6 s two probes one after the other would take.
async fn fresh_with_hung_dependencies(hung: usize) {
    let deps = Deps::start().await;
    let holes = [
        FaultProxy::black_hole().await,
        FaultProxy::black_hole().await,
        FaultProxy::black_hole().await,
    ];
    let hung_keys = &["db", "redis", "doc_engine"][..hung];
    let mut config = deps
        .config(&holes[1].host_port(), "")
        .replace("timeout = \"2s\"", "timeout = \"3s\"")
        .replace("127.0.0.1:3306", &holes[0].host_port());
    if hung == 3 {
        config = config.replace(&deps.es.url(), &format!("http://{}", holes[2].host_port()));
    }
    let app = TestApp::start_unscheduled(&config).await;
    let started = Instant::now();
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    let waited = started.elapsed();
    assert_eq!(status, 500, "{body}");
    for key in ["db", "redis", "doc_engine", "storage"] {
        let expected = if hung_keys.contains(&key) {
            "nok"
        } else {
            "ok"
        };
        assert_eq!(body[key], expected, "{key}: {body}");
    }
    for key in hung_keys {
        assert_eq!(
            body["_meta"][key]["error"], "timed out after 3000 ms",
            "{key}: {body}"
        );
    }
    assert!(
        waited >= Duration::from_secs(3),
        "fresh did not wait for the probes"
    );
    assert!(
        waited < Duration::from_millis(5500),
        "{hung} hung probes took {waited:?}: not side by side"
    );
}

#[tokio::test]
async fn two_hung_dependencies_answer_within_one_timeout() {
    fresh_with_hung_dependencies(2).await;
}

#[tokio::test]
async fn three_hung_dependencies_answer_within_one_timeout() {
    fresh_with_hung_dependencies(3).await;
}

#[tokio::test]
async fn a_fresh_request_joining_a_running_probe_gets_that_probes_result() {
    let deps = Deps::start().await;
    let app = TestApp::start_unscheduled(&deps.config("127.0.0.1:6379", "")).await;
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "{body}");
    // The cluster turns red, and its answer takes a while: a probe of it is in flight.
    deps.es.set_route(
        "GET",
        "/_cluster/health",
        FixtureResponse::from_fixture(200, RED).with_delay(Duration::from_secs(2)),
    );
    deps.es.clear_requests();
    let first = app.get_json("/v1/system/healthz?fresh=1");
    let joining = async {
        common::wait_for("the probe of the cluster is in flight", || async {
            !deps.es.requests_to("/_cluster/health").is_empty()
        })
        .await;
        app.get_json("/v1/system/healthz?fresh=1").await
    };
    let ((first_status, first_body), (status, body)) = tokio::join!(first, joining);
    assert_eq!(first_status, 500, "{first_body}");
    assert_eq!(
        status, 500,
        "the joining request shows the new result: {body}"
    );
    assert_eq!(body["doc_engine"], "nok", "{body}");
    assert_eq!(
        body["_meta"]["doc_engine"],
        first_body["_meta"]["doc_engine"]
    );
    assert_eq!(
        deps.es.requests_to("/_cluster/health").len(),
        1,
        "the joining request shared the running probe"
    );
}
