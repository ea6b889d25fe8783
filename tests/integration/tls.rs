//! TLS to the services watched, with a private certificate authority made for each test:
//! a TLS Redis (`rediss://`) trusted through `tls_ca_file` and refused without it, the task
//! executors and the Redis-streams queue reading over `rediss://`, an HTTPS document engine
//! trusted through `tls_ca_file` or through the system's store (`SSL_CERT_FILE`), and a
//! certificate for another name refused.

use crate::common;

use common::app::{Checked, TestApp, check_binary, only, probe_once, probe_only};
use common::ragflow::{Beat, create_task_streams, unix_now, write_beats};
use common::tls::{Front, PrivateCa};
use common::{
    FixtureResponse, FixtureServer, NatsInstance, PostgresInstance, RedisInstance, settle,
    wait_for, wait_until,
};
use ragwatch::probe::Status;

/// What a probe says of a certificate signed by an authority it does not trust.
const UNTRUSTED: &str = "TLS: the server's certificate is signed by an authority ragwatch does not trust: add its CA to the section's tls_ca_file or to the system's store";

/// A private CA and a TLS Redis whose certificate it signed for 127.0.0.1.
async fn tls_redis() -> (PrivateCa, RedisInstance) {
    let ca = PrivateCa::new();
    let certificate = ca.issue("redis", &["IP:127.0.0.1"]);
    let redis = RedisInstance::start_tls(&certificate, &ca.ca_file()).await;
    (ca, redis)
}

#[tokio::test]
async fn rediss_is_green_with_its_ca_in_tls_ca_file_and_red_without() {
    let (ca, redis) = tls_redis().await;
    let section = format!(
        "{}[monitor]\ntimeout = \"5s\"\n[redis]\nurl = \"{}\"\n",
        only("redis"),
        redis.tls_url()
    );

    let trusted = probe_only(&format!(
        "{section}tls_ca_file = \"{}\"\n",
        ca.ca_file().display()
    ))
    .await;
    assert_eq!(trusted.status, Status::Green, "{:?}", trusted.error);
    assert_eq!(
        trusted.details["version"].as_str().map(|v| !v.is_empty()),
        Some(true)
    );

    let untrusted = probe_only(&section).await;
    assert_eq!(untrusted.status, Status::Red);
    let error = untrusted.error.unwrap();
    assert!(
        error.starts_with("cannot connect to 127.0.0.1:") && error.contains(UNTRUSTED),
        "{error}"
    );
}

/// The task executors and a Redis-streams queue without URLs of their own read the Redis
/// of `redis.url`, over TLS with `redis.tls_ca_file`: heartbeats and the group's lag come
/// through.
#[tokio::test]
async fn task_executors_and_the_stream_queue_read_over_rediss() {
    let (ca, redis) = tls_redis().await;
    // RAGFlow's side writes over the plain port of the same server.
    let mut conn = common::ragflow::redis(&redis.url()).await;
    let now = unix_now();
    write_beats(
        &mut conn,
        "task_executor_tls_0",
        &[Beat::new(now - 30.0, 4, 0), Beat::new(now - 1.0, 6, 1)],
    )
    .await;
    create_task_streams(&mut conn).await;
    redis::cmd("XADD")
        .arg(&["te.1.common", "*", "message", "{}"])
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    let results = probe_once(&format!(
        "[monitor]\ntimeout = \"5s\"\n[db]\nenabled = false\n[doc_engine]\nenabled = false\n\
         [storage]\nenabled = false\n[redis]\nurl = \"{}\"\ntls_ca_file = \"{}\"\n\
         [task_executors]\nenabled = true\n[message_queue]\nkind = \"redis_stream\"\n",
        redis.tls_url(),
        ca.ca_file().display()
    ))
    .await;
    let result = |key: &str| {
        results
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{key} was not probed"))
    };
    let executors = result("task_executors");
    assert_eq!(executors.status, Status::Green, "{:?}", executors.error);
    assert_eq!(executors.details["alive"], 1);
    assert_eq!(executors.details["done_30m"], 2);
    let queue = result("message_queue");
    assert_eq!(queue.status, Status::Green, "{:?}", queue.error);
    assert_eq!(queue.details["te.1.common"]["lag"], 1);

    // With a Redis URL of their own, the executors do not take redis.tls_ca_file.
    let untrusted = probe_once(&format!(
        "[monitor]\ntimeout = \"5s\"\n[db]\nenabled = false\n[doc_engine]\nenabled = false\n\
         [storage]\nenabled = false\n[redis]\nenabled = false\ntls_ca_file = \"{}\"\n\
         [task_executors]\nenabled = true\nredis_url = \"{}\"\n",
        ca.ca_file().display(),
        redis.tls_url(),
    ))
    .await;
    let error = untrusted[0].1.error.clone().unwrap();
    assert!(error.contains(UNTRUSTED), "{error}");
}

/// PostgreSQL over TLS, verified as the URL asks (`sslmode=verify-full`): trusted
/// through `db.tls_ca_file`, refused without it (sqlx reads the same system store).
#[tokio::test]
async fn postgres_verified_through_tls_ca_file() {
    let ca = PrivateCa::new();
    let postgres = PostgresInstance::start_tls(&ca.issue("postgres", &["IP:127.0.0.1"])).await;
    let section = format!(
        "{}[monitor]\ninterval = \"10s\"\ntimeout = \"10s\"\n[db]\nkind = \"postgres\"\nurl = \"{}?sslmode=verify-full\"\n",
        only("db"),
        postgres.url()
    );

    let trusted = probe_only(&format!(
        "{section}tls_ca_file = \"{}\"\n",
        ca.ca_file().display()
    ))
    .await;
    assert_eq!(trusted.status, Status::Green, "{:?}", trusted.error);

    let untrusted = probe_only(&section).await;
    assert_eq!(untrusted.status, Status::Red);
    let error = untrusted.error.unwrap();
    assert!(error.contains(UNTRUSTED), "{error}");
}

/// A NATS server requiring TLS: its client trusts the private CA through
/// `message_queue.tls_ca_file`, and refuses the server without it.
#[tokio::test]
async fn nats_over_tls_is_trusted_through_tls_ca_file() {
    let ca = PrivateCa::new();
    let nats = NatsInstance::start_tls(&ca.issue("nats", &["IP:127.0.0.1"])).await;
    let section = format!(
        "{}[monitor]\ntimeout = \"5s\"\n[message_queue]\nurl = \"tls://127.0.0.1:{}\"\njetstream = false\n",
        only("message_queue"),
        nats.port()
    );

    let trusted = probe_only(&format!(
        "{section}tls_ca_file = \"{}\"\n",
        ca.ca_file().display()
    ))
    .await;
    assert_eq!(trusted.status, Status::Green, "{:?}", trusted.error);
    assert!(
        trusted.details["version"].is_string(),
        "{:?}",
        trusted.details
    );

    let untrusted = probe_only(&section).await;
    assert_eq!(untrusted.status, Status::Red);
    let error = untrusted.error.unwrap();
    assert!(error.contains(UNTRUSTED), "{error}");
}

/// An Elasticsearch fixture served over TLS at `https://127.0.0.1:<port>` with a
/// certificate the private CA signed for `alt_names`; the fixture server stays with it.
async fn https_cluster(ca: &PrivateCa, alt_names: &[&str]) -> (FixtureServer, Front) {
    let es = FixtureServer::start([(
        "GET",
        "/_cluster/health",
        FixtureResponse::from_fixture(200, "elasticsearch/netdata/v8.4.2/cluster_health.json"),
    )])
    .await;
    let certificate = ca.issue("es", alt_names);
    let front = Front::tls(
        [127, 0, 0, 1].into(),
        ([127, 0, 0, 1], es.port()).into(),
        &certificate,
    )
    .await;
    (es, front)
}

/// The document engine alone at `url`, with `extra` in its section.
fn doc_engine(url: &str, extra: &str) -> String {
    format!(
        "{}[monitor]\ntimeout = \"5s\"\n[doc_engine]\nurl = \"{url}\"\n{extra}",
        only("doc_engine")
    )
}

#[tokio::test]
async fn an_https_cluster_is_trusted_through_tls_ca_file_for_its_own_name_only() {
    let ca = PrivateCa::new();
    let (es, front) = https_cluster(&ca, &["IP:127.0.0.1"]).await;
    let url = format!("https://{}", front.addr());
    let ca_file = format!("tls_ca_file = \"{}\"\n", ca.ca_file().display());

    let trusted = probe_only(&doc_engine(&url, &ca_file)).await;
    assert_eq!(trusted.status, Status::Green, "{:?}", trusted.error);
    assert_eq!(es.requests_to("/_cluster/health").len(), 1);

    let untrusted = probe_only(&doc_engine(&url, "")).await;
    assert_eq!(untrusted.status, Status::Red);
    let error = untrusted.error.unwrap();
    assert!(error.contains(UNTRUSTED), "{error}");

    // A certificate of the trusted CA, issued for another name: refused all the same.
    let (_other, front) = https_cluster(&ca, &["DNS:elsewhere.example"]).await;
    let wrong_name = probe_only(&doc_engine(&format!("https://{}", front.addr()), &ca_file)).await;
    assert_eq!(wrong_name.status, Status::Red);
    let error = wrong_name.error.unwrap();
    assert!(
        error.contains(
            "TLS: the server's certificate does not name the host or address ragwatch connects to"
        ),
        "{error}"
    );
    // Only the trusted request reached the cluster.
    assert_eq!(es.requests_to("/_cluster/health").len(), 1);
}

/// A CA installed in the system's store is trusted by every client with no tls_ca_file:
/// the store ragwatch reads honours `SSL_CERT_FILE`, as a host's or image's bundle.
#[tokio::test]
async fn a_ca_in_the_system_store_is_trusted_without_tls_ca_file() {
    let ca = PrivateCa::new();
    let (_es, front) = https_cluster(&ca, &["IP:127.0.0.1"]).await;
    let config = doc_engine(&format!("https://{}", front.addr()), "");
    let ca_file = ca.ca_file().display().to_string();

    let Checked { code, json, stderr } =
        check_binary(&config, &[("SSL_CERT_FILE", &ca_file)]).await;
    assert_eq!(code, Some(0), "{json:#}\n{stderr}");
    assert_eq!(json["components"]["doc_engine"]["status"], "green");

    let Checked { code, json, stderr } = check_binary(&config, &[]).await;
    assert_eq!(code, Some(1), "{json:#}\n{stderr}");
    let error = json["components"]["doc_engine"]["error"].as_str().unwrap();
    assert!(error.contains(UNTRUSTED), "{error}");
}

/// Each alert receiver trusts its own `tls_ca_file`: of two webhooks at one https:// URL,
/// the one given the CA delivers the alert, the other fails with the certificate error
/// (shown in readyz) and delivers nothing.
#[tokio::test]
async fn an_https_webhook_is_trusted_through_its_own_tls_ca_file() {
    let ca = PrivateCa::new();
    let hook = FixtureServer::start([("POST", "/hook", FixtureResponse::new(200, "ok"))]).await;
    let front = Front::tls(
        [127, 0, 0, 1].into(),
        ([127, 0, 0, 1], hook.port()).into(),
        &ca.issue("hook", &["IP:127.0.0.1"]),
    )
    .await;
    let url = format!("https://{}/hook", front.addr());
    let app = TestApp::start_unscheduled(&format!(
        "{}[monitor]\ninterval = \"1h\"\ntimeout = \"5s\"\n[history]\nenabled = false\n\
         [redis]\nurl = \"redis://127.0.0.1:{}/1\"\n[alerts]\nfailure_threshold = 1\n\
         [[alerts.webhook]]\nurl = \"{url}\"\ntls_ca_file = \"{}\"\n\
         [[alerts.webhook]]\nurl = \"{url}\"\n",
        only("redis"),
        common::free_port(),
        ca.ca_file().display()
    ))
    .await;
    app.get_json("/v1/system/healthz?fresh=1").await;

    wait_for("the trusted webhook's delivery", || async {
        !hook.requests_to("/hook").is_empty()
    })
    .await;
    wait_until(
        "the other webhook's certificate error in readyz",
        || async {
            let (_, _, body) = app.get("/readyz?verbose").await;
            if body.contains(UNTRUSTED) {
                Ok(())
            } else {
                Err(body)
            }
        },
    )
    .await;
    settle().await;
    assert_eq!(hook.requests_to("/hook").len(), 1);
}
