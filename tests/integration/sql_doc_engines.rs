//! The SQL document engines through the generic SQL probe: OceanBase and SeekDB over the
//! MySQL protocol against MariaDB, GaussDB and SereneDB over the PostgreSQL protocol against
//! PostgreSQL — the machine's servers, or own instances where a test needs a password or
//! a product's version function.

use crate::common;

use common::app::{TestApp, only, probe_only};
use common::{MariadbInstance, PostgresInstance, free_port};
use ragwatch::probe::{ProbeResult, Status};
use sqlx::Connection;

const MACHINE_MARIADB: &str = "mysql://root@127.0.0.1:3306/test";
const MACHINE_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn section(kind: &str, url: &str) -> String {
    format!(
        "{}[doc_engine]\nkind = \"{kind}\"\nurl = \"{url}\"\ntimeout = \"3s\"\n",
        only("doc_engine")
    )
}

async fn probe(kind: &str, url: &str) -> ProbeResult {
    probe_only(&section(kind, url)).await
}

/// The details' keys, in order.
fn keys(result: &ProbeResult) -> Vec<&str> {
    result.details.keys().map(String::as_str).collect()
}

/// Green with the server's version alone: the stand-in has no product version function,
/// and a document engine is not asked for a database's connection counts.
fn assert_green_with_server_version(result: &ProbeResult, server: &str) {
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert!(result.error.is_none());
    assert_eq!(keys(result), ["version"]);
    let version = result.details["version"].as_str().unwrap();
    assert!(version.contains(server), "{version}");
}

#[tokio::test]
async fn oceanbase_kind_speaks_mysql_protocol_against_mariadb() {
    let result = probe("oceanbase", MACHINE_MARIADB).await;
    assert_green_with_server_version(&result, "MariaDB");
}

#[tokio::test]
async fn seekdb_kind_speaks_mysql_protocol_against_mariadb() {
    let result = probe("seekdb", MACHINE_MARIADB).await;
    assert_green_with_server_version(&result, "MariaDB");
}

#[tokio::test]
async fn gaussdb_kind_speaks_postgres_protocol_against_postgresql() {
    let result = probe("gaussdb", MACHINE_POSTGRES).await;
    assert_green_with_server_version(&result, "PostgreSQL");
}

#[tokio::test]
async fn serenedb_kind_speaks_postgres_protocol_against_postgresql() {
    let result = probe("serenedb", MACHINE_POSTGRES).await;
    assert_green_with_server_version(&result, "PostgreSQL");
}

#[tokio::test]
async fn oceanbase_version_comes_from_ob_version_on_a_mariadb_stand_in() {
    let db = MariadbInstance::start().await;
    let mut conn = sqlx::MySqlConnection::connect(&db.url()).await.unwrap();
    sqlx::query("CREATE FUNCTION OB_VERSION() RETURNS VARCHAR(32) DETERMINISTIC RETURN '4.3.5.0'")
        .execute(&mut conn)
        .await
        .unwrap();
    let result = probe("oceanbase", &db.url()).await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(keys(&result), ["version", "server_version"]);
    assert_eq!(result.details["version"], "4.3.5.0");
    let server = result.details["server_version"].as_str().unwrap();
    assert!(server.contains("MariaDB"), "{server}");
    // SeekDB has no such query: its VERSION() names its release.
    let result = probe("seekdb", &db.url()).await;
    assert_green_with_server_version(&result, "MariaDB");
}

#[tokio::test]
async fn gaussdb_version_comes_from_opengauss_version_on_a_postgresql_stand_in() {
    let db = PostgresInstance::start().await;
    let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    sqlx::query(
        "CREATE FUNCTION opengauss_version() RETURNS text LANGUAGE sql AS $$ SELECT '505.2.0' $$",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let result = probe("gaussdb", &db.url()).await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(keys(&result), ["version", "server_version"]);
    assert_eq!(result.details["version"], "505.2.0");
    let server = result.details["server_version"].as_str().unwrap();
    assert!(server.starts_with("PostgreSQL "), "{server}");
    let result = probe("serenedb", &db.url()).await;
    assert_green_with_server_version(&result, "PostgreSQL");
}

#[tokio::test]
async fn mysql_protocol_kinds_fail_in_words_against_mariadb() {
    let closed = free_port();
    for kind in ["oceanbase", "seekdb"] {
        let cases = [
            (
                "refused",
                format!("mysql://root@127.0.0.1:{closed}/test"),
                format!("connection refused to 127.0.0.1:{closed}"),
            ),
            (
                "wrong password",
                "mysql://root:not-the-password@127.0.0.1:3306/test".to_owned(),
                "authentication failed for user root".to_owned(),
            ),
            (
                "OceanBase's tenant user, escaped in the URL",
                "mysql://root%40ragflow:not-the-password@127.0.0.1:3306/test".to_owned(),
                "authentication failed for user root@ragflow".to_owned(),
            ),
        ];
        for (name, url, expected) in cases {
            let result = probe(kind, &url).await;
            assert_eq!(result.status, Status::Red, "{kind} {name}");
            assert_eq!(
                result.error.as_deref(),
                Some(expected.as_str()),
                "{kind} {name}"
            );
        }
    }
}

#[tokio::test]
async fn postgres_protocol_kinds_fail_in_words_against_postgresql() {
    let db = PostgresInstance::start().await;
    let closed = free_port();
    for kind in ["gaussdb", "serenedb"] {
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
        ];
        for (name, url, expected) in cases {
            let result = probe(kind, &url).await;
            assert_eq!(result.status, Status::Red, "{kind} {name}");
            assert_eq!(
                result.error.as_deref(),
                Some(expected.as_str()),
                "{kind} {name}"
            );
        }
    }
}

#[tokio::test]
async fn ragflow_status_reports_the_engine_kind_without_its_password() {
    let db = PostgresInstance::start().await;
    let app = TestApp::start_unscheduled(&section("gaussdb", &db.url())).await;
    let (code, healthz) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(code, 200, "{healthz}");
    let (_, status) = app.get_json("/v1/system/status").await;
    let doc_engine = &status["data"]["doc_engine"];
    assert_eq!(doc_engine["type"], "gaussdb", "{status}");
    assert_eq!(doc_engine["status"], "green", "{status}");
    assert!(doc_engine["version"].is_string(), "{status}");
    let (_, component) = app.get_json("/api/v1/components/doc_engine").await;
    for body in [status.to_string(), component.to_string()] {
        assert!(!body.contains(db.password()), "the password leaked: {body}");
    }
}
