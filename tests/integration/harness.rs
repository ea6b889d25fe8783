//! Shows that every helper in `common` works: the fault proxy in each mode, the fixture
//! server, and each own server instance.

use crate::common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::{
    FaultProxy, FixtureResponse, FixtureServer, MariadbInstance, PostgresInstance, ProxyMode,
    RedisInstance, S3Server, basic_auth_header, fixture, free_port, mysql_greeting, pg_ssl_request,
    redis_ping,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHARED_REDIS: &str = "127.0.0.1:6379";

/// Sends a raw PING through `addr` and returns what came back (up to the first read).
async fn raw_ping(addr: std::net::SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").await?;
    let mut buf = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .map_err(|_| std::io::Error::from(ErrorKind::TimedOut))??;
    buf.truncate(n);
    Ok(buf)
}

#[tokio::test]
async fn free_port_is_unique_and_bindable() {
    let a = free_port();
    let b = free_port();
    assert_ne!(a, b);
    std::net::TcpListener::bind(("127.0.0.1", a)).expect("free port can be bound");
}

#[tokio::test]
async fn fault_proxy_modes() {
    let proxy = FaultProxy::start(SHARED_REDIS).await;
    assert_eq!(proxy.mode(), ProxyMode::Pass);

    // Pass: forwards to the shared Redis.
    assert_eq!(
        raw_ping(proxy.addr()).await.expect("ping via proxy"),
        b"+PONG\r\n"
    );

    // A forwarded connection is dropped when switching to a failure mode.
    let mut held = TcpStream::connect(proxy.addr()).await.expect("connect");
    held.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
    let mut buf = [0u8; 7];
    held.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"+PONG\r\n");

    // Refuse: ECONNREFUSED.
    proxy.set_mode(ProxyMode::Refuse).await;
    let err = TcpStream::connect(proxy.addr()).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let n = tokio::time::timeout(Duration::from_secs(2), held.read(&mut buf))
        .await
        .expect("held connection closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "held connection should be closed");

    // Back to Pass: listens again on the same port.
    proxy.set_mode(ProxyMode::Pass).await;
    assert_eq!(raw_ping(proxy.addr()).await.unwrap(), b"+PONG\r\n");

    // BlackHole: connect works, a read times out.
    proxy.set_mode(ProxyMode::BlackHole).await;
    let err = raw_ping(proxy.addr()).await.expect_err("black hole");
    assert_eq!(err.kind(), ErrorKind::TimedOut);

    // Reset: the client sees a reset (or at worst an EOF).
    proxy.set_mode(ProxyMode::Reset).await;
    match raw_ping(proxy.addr()).await {
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
            ),
            "unexpected error {e:?}"
        ),
        Ok(bytes) => assert!(bytes.is_empty(), "reset gave {bytes:?}"),
    }

    // Delay: forwards after the delay.
    proxy
        .set_mode(ProxyMode::Delay(Duration::from_millis(500)))
        .await;
    let started = Instant::now();
    assert_eq!(raw_ping(proxy.addr()).await.unwrap(), b"+PONG\r\n");
    assert!(started.elapsed() >= Duration::from_millis(450));
    assert!(proxy.accepted() >= 6);
}

#[tokio::test]
async fn fault_proxy_black_hole_without_upstream() {
    let proxy = FaultProxy::black_hole().await;
    assert_eq!(proxy.upstream(), None);
    let err = raw_ping(proxy.addr()).await.expect_err("black hole");
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    proxy.set_mode(ProxyMode::Refuse).await;
    let err = TcpStream::connect(proxy.addr()).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn fixture_server_serves_and_records() {
    let green = fixture("elasticsearch/netdata/v8.4.2/cluster_health.json");
    let server = FixtureServer::start([(
        "GET",
        "/_cluster/health",
        FixtureResponse::json(200, green.clone()),
    )])
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/_cluster/health?timeout=5s", server.url());

    let resp = client
        .get(&url)
        .basic_auth("elastic", Some("changeme"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), green.as_slice());

    // Switch to red at run time.
    server.set_route(
        "GET",
        "/_cluster/health",
        FixtureResponse::from_fixture(
            200,
            "elasticsearch/transcribed/cluster_health_red_3node.json",
        ),
    );
    let body = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("\"red\""), "{body}");

    // A recorded raw HTTP response.
    server.set_route(
        "GET",
        "/minio/health/cluster",
        FixtureResponse::from_http_recording("minio/recorded/cluster_503.http"),
    );
    let resp = client
        .get(format!("{}/minio/health/cluster", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["x-amz-request-id"], "16239D6AB80EBECF");

    // Unknown route.
    let resp = client
        .get(format!("{}/nope", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path_and_query, "/_cluster/health?timeout=5s");
    assert_eq!(requests[0].path(), "/_cluster/health");
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some(basic_auth_header("elastic", "changeme").as_str())
    );
    assert_eq!(requests[1].authorization, None);
    assert_eq!(server.requests_to("/_cluster/health").len(), 2);
    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[test]
fn basic_auth_header_encodes() {
    assert_eq!(
        basic_auth_header("Aladdin", "open sesame"),
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    assert_eq!(basic_auth_header("a", ""), "Basic YTo=");
    assert_eq!(basic_auth_header("ab", "c"), "Basic YWI6Yw==");
}

#[tokio::test]
async fn redis_instance_starts_kills_and_restarts() {
    let mut redis = RedisInstance::start(None).await;
    assert_eq!(redis_ping(redis.port(), None).await.unwrap(), b"+PONG\r\n");
    assert_eq!(raw_ping(redis.addr()).await.unwrap(), b"+PONG\r\n");
    assert!(redis.url().starts_with("redis://127.0.0.1:"));

    redis.kill();
    let err = TcpStream::connect(redis.addr()).await.expect_err("down");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    redis.restart().await;
    assert_eq!(raw_ping(redis.addr()).await.unwrap(), b"+PONG\r\n");
}

#[tokio::test]
async fn redis_instance_with_password() {
    let mut redis = RedisInstance::start(Some("s3cret")).await;
    assert!(
        raw_ping(redis.addr())
            .await
            .unwrap()
            .starts_with(b"-NOAUTH")
    );
    assert_eq!(
        redis_ping(redis.port(), Some("s3cret")).await.unwrap(),
        b"+PONG\r\n"
    );
    assert_eq!(
        redis.url(),
        format!("redis://:s3cret@127.0.0.1:{}/0", redis.port())
    );
    redis.stop().await;
    assert!(!redis.is_running());
    redis.start_again().await;
    assert_eq!(
        redis_ping(redis.port(), Some("s3cret")).await.unwrap(),
        b"+PONG\r\n"
    );
}

#[tokio::test]
async fn postgres_instance_starts_stops_and_checks_passwords() {
    use sqlx::Connection;

    let mut pg = PostgresInstance::start().await;
    assert_eq!(pg_ssl_request(pg.port()).await.unwrap(), b'N');

    let mut conn = sqlx::PgConnection::connect(&pg.url()).await.expect("login");
    let one: (i32,) = sqlx::query_as("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one.0, 1);
    conn.close().await.unwrap();
    let err = sqlx::PgConnection::connect(&pg.url_with_password("wrong"))
        .await
        .expect_err("wrong password");
    assert!(err.to_string().contains("password"), "{err}");

    pg.stop().await;
    let err = TcpStream::connect(pg.addr()).await.expect_err("down");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    pg.start_again().await;
    assert_eq!(pg_ssl_request(pg.port()).await.unwrap(), b'N');

    // A crash (SIGKILL) and a restart on the same port, with crash recovery.
    pg.kill();
    assert!(!pg.is_running());
    pg.restart().await;
    let conn = sqlx::PgConnection::connect(&pg.url()).await.expect("login");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn mariadb_instance_starts_stops_and_checks_passwords() {
    use sqlx::Connection;

    let mut db = MariadbInstance::start().await;
    let greeting = mysql_greeting(db.port()).await.unwrap();
    assert_eq!(greeting[0], 10, "protocol version");
    let version: Vec<u8> = greeting[1..]
        .iter()
        .take_while(|b| **b != 0)
        .copied()
        .collect();
    assert!(
        String::from_utf8_lossy(&version).contains("MariaDB"),
        "{version:?}"
    );

    let mut conn = sqlx::MySqlConnection::connect(&db.url())
        .await
        .expect("login");
    let one: (i64,) = sqlx::query_as("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one.0, 1);
    conn.close().await.unwrap();
    let err = sqlx::MySqlConnection::connect(&db.url_with_password("wrong"))
        .await
        .expect_err("wrong password");
    assert!(err.to_string().contains("Access denied"), "{err}");

    db.stop().await;
    let err = TcpStream::connect(db.addr()).await.expect_err("down");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    db.start_again().await;
    assert_eq!(mysql_greeting(db.port()).await.unwrap()[0], 10);

    db.kill();
    assert!(!db.is_running());
    db.restart().await;
    let conn = sqlx::MySqlConnection::connect(&db.url())
        .await
        .expect("login");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn s3_server_answers_unsigned_with_403() {
    let s3 = S3Server::start("ragwatch-ak", "ragwatch-secret-key", &["ragflow", "other"]).await;
    assert!(s3.root().join("ragflow").is_dir());
    assert!(s3.root().join("other").is_dir());
    let resp = reqwest::get(format!("{}/", s3.endpoint())).await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

    let mut s3 = s3;
    s3.stop().await;
    assert!(reqwest::get(s3.endpoint()).await.is_err());
    s3.start_again().await;
    let resp = reqwest::get(s3.endpoint()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
}
