//! `--ragflow-conf`: RAGFlow's stock `service_conf.yaml.template` and `.env` (recorded in
//! tests/fixtures/ragflow/docker/) become exactly the stock components; RAGFlow's backend
//! variables switch them; every value says where it came from; bad input exits 2 naming it.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ragwatch::config::{Config, ConfigError, DbKind, DocEngineKind, Import, StorageService};

const BIN: &str = env!("CARGO_BIN_EXE_ragwatch");

/// A copy of RAGFlow's docker folder: the template and `.env`, with `edit` applied to the
/// template.
fn docker_dir(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::fixture_path("ragflow/docker");
    let template = std::fs::read_to_string(fixtures.join("service_conf.yaml.template")).unwrap();
    std::fs::write(
        dir.path().join("service_conf.yaml.template"),
        edit(template),
    )
    .unwrap();
    std::fs::copy(fixtures.join("env"), dir.path().join(".env")).unwrap();
    dir
}

/// The template with RAGFlow's commented-out `postgres:` and `s3:` sections switched on,
/// the S3 endpoint filled in as an operator would.
fn with_postgres_and_s3(template: String) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in template.lines() {
        if line == "# postgres:" || line == "# s3:" {
            inside = true;
        } else if !line.starts_with("#   ") {
            inside = false;
        }
        if inside {
            out.push_str(&line[2..]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out.replace(
        "endpoint_url: 'endpoint_url'",
        "endpoint_url: 'http://s3.internal:9000'",
    )
}

fn load(dir: &Path, env: &[(&str, &str)]) -> Result<(Config, Import), ConfigError> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    ragwatch::config::load_with_ragflow(None, Some(dir), env).map(|(c, i)| (c, i.unwrap()))
}

/// The binary with only the given environment (nothing of the test runner's leaks in).
fn ragwatch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn path(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

// Building the components makes (lazy) connection pools, which need the runtime.
#[tokio::test]
async fn the_stock_template_and_env_give_the_stock_components() {
    let dir = docker_dir(|t| t);
    let (config, import) = load(dir.path(), &[]).unwrap();
    assert_eq!(config.db.kind, DbKind::Mysql);
    // Credentials as keys of their own, out of the URLs.
    assert_eq!(
        config.db.url.expose().as_str(),
        "mysql://mysql:3306/rag_flow"
    );
    let login = config.db.login();
    assert_eq!(login.username().as_deref(), Some("root"));
    assert_eq!(login.password().unwrap().expose(), "infini_rag_flow");
    assert_eq!(config.redis.url.expose().as_str(), "redis://redis:6379/1");
    let login = config.redis.login();
    assert_eq!(login.username(), None);
    assert_eq!(login.password().unwrap().expose(), "infini_rag_flow");
    assert_eq!(config.doc_engine.kind, DocEngineKind::Elasticsearch);
    assert_eq!(config.doc_engine.url.expose().as_str(), "http://es01:9200/");
    let login = config.doc_engine.login();
    assert_eq!(login.username().as_deref(), Some("elastic"));
    assert_eq!(login.password().unwrap().expose(), "infini_rag_flow");
    let StorageService::Minio(minio) = &config.storage.service else {
        panic!("not MinIO: {:?}", config.storage.service);
    };
    assert_eq!(minio.endpoint.as_str(), "http://minio:9000/");
    assert_eq!(minio.access_key, "rag_flow");
    assert_eq!(minio.secret_key.expose(), "infini_rag_flow");
    assert_eq!(minio.bucket, "");
    let queue = config
        .message_queue
        .as_ref()
        .expect("RAGFlow's ingestor uses NATS");
    assert_eq!(
        queue.url.as_ref().unwrap().expose().as_str(),
        "nats://nats:4222"
    );
    let (components, _) = ragwatch::app::components(&config).unwrap();
    let components: Vec<&str> = components.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        components,
        [
            "db",
            "redis",
            "doc_engine",
            "storage",
            "message_queue",
            "task_executors",
            "ragflow",
            "parsing",
            "models.embedding"
        ]
    );
    // The stock compose's TEI embedding server, named by TEI_HOST in .env.
    assert_eq!(config.models[0].url.expose().as_str(), "http://tei/");
    assert_eq!(config.models[0].kind, ragwatch::config::ModelKind::Tei);
    let api = config.ragflow.as_ref().expect("RAGFlow's API server");
    assert_eq!(
        api.url.as_str(),
        "http://127.0.0.1:9380/",
        "0.0.0.0 is reached locally"
    );
    let (without_tei, _) = load(dir.path(), &[("TEI_HOST", "")]).unwrap();
    assert!(
        without_tei.models.is_empty(),
        "no TEI host, no TEI component"
    );
    let choices: Vec<&str> = import.choices.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        choices,
        [
            "DB_TYPE = mysql",
            "DOC_ENGINE = elasticsearch",
            "STORAGE_IMPL = MINIO"
        ]
    );
}

#[test]
fn the_backend_variables_switch_the_components_and_the_environment_beats_env() {
    let dir = docker_dir(with_postgres_and_s3);
    let (config, _) = load(
        dir.path(),
        &[
            ("DOC_ENGINE", "infinity"),
            ("DB_TYPE", "postgres"),
            ("STORAGE_IMPL", "AWS_S3"),
            ("POSTGRES_HOST", "pg.internal"),
        ],
    )
    .unwrap();
    assert_eq!(config.db.kind, DbKind::Postgres);
    assert_eq!(
        config.db.url.expose().as_str(),
        "postgres://pg.internal:5432/rag_flow"
    );
    let login = config.db.login();
    assert_eq!(login.username().as_deref(), Some("rag_flow"));
    assert_eq!(login.password().unwrap().expose(), "infini_rag_flow");
    // Infinity's host from its Thrift `uri`, its HTTP port from .env's INFINITY_HTTP_PORT.
    assert_eq!(config.doc_engine.kind, DocEngineKind::Infinity);
    assert_eq!(
        config.doc_engine.url.expose().as_str(),
        "http://infinity:23820/"
    );
    let StorageService::S3(s3) = &config.storage.service else {
        panic!("not S3: {:?}", config.storage.service);
    };
    assert_eq!(s3.access_key, "access_key");
    assert_eq!(s3.bucket, "bucket");
    assert_eq!(s3.region, "region");
    assert_eq!(s3.endpoint.as_str(), "http://s3.internal:9000/");
}

#[test]
fn config_says_where_every_value_came_from_without_secrets() {
    let dir = docker_dir(|t| t);
    let out = ragwatch(
        &["config", "--ragflow-conf", &path(&dir)],
        &[("MYSQL_HOST", "db.internal")],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "# DOC_ENGINE = elasticsearch: DOC_ENGINE in .env:",
        "# STORAGE_IMPL = MINIO: RAGFlow's default (not set)",
        "#     mysql.host (service_conf.yaml.template:13) from environment variable MYSQL_HOST",
        "#     mysql.password (service_conf.yaml.template:12) from MYSQL_PASSWORD in .env:",
        "#     mysql.user (service_conf.yaml.template:11) from the default of ${MYSQL_USER}",
        "#     es.hosts (service_conf.yaml.template:29) from ES_HOST in .env:",
        "url = \"mysql://db.internal:3306/rag_flow\"",
        "password = \"***\"  # from RAGFlow's configuration (listed above)",
        "url = \"redis://redis:6379/1\"",
    ] {
        assert!(text.contains(expected), "{expected:?} not in\n{text}");
    }
    assert!(!text.contains("infini_rag_flow"), "a secret in\n{text}");
}

#[test]
fn the_ragwatch_file_and_variables_still_override_imported_keys() {
    let dir = docker_dir(|t| t);
    let file = dir.path().join("ragwatch.toml");
    std::fs::write(
        &file,
        "[redis]\nwrite_check = false\n[doc_engine]\nurl = \"http://es.file:9200\"\n",
    )
    .unwrap();
    let env = [("RAGWATCH_DB__URL", "mysql://other@db.env:3307/x")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let (config, _) =
        ragwatch::config::load_with_ragflow(Some(&file), Some(dir.path()), env).unwrap();
    assert!(!config.redis.write_check);
    assert_eq!(
        config.redis.url.expose().as_str(),
        "redis://redis:6379/1",
        "keys the file does not set stay imported"
    );
    assert_eq!(
        config.redis.login().password().unwrap().expose(),
        "infini_rag_flow"
    );
    assert_eq!(
        config.doc_engine.url.expose().as_str(),
        "http://es.file:9200/"
    );
    assert_eq!(config.doc_engine.username.as_deref(), Some("elastic"));
    assert_eq!(
        config.db.url.expose().as_str(),
        "mysql://other@db.env:3307/x"
    );
    // A URL with user info of its own signs in as it says, not with RAGFlow's keys; one
    // without (the address of the documents' engine) keeps them.
    let db = config.db.login();
    assert_eq!(
        (db.username().as_deref(), db.password()),
        (Some("other"), None)
    );
    let es = config.doc_engine.login();
    assert_eq!(es.password().unwrap().expose(), "infini_rag_flow");
}

/// `.env` is read as docker compose reads it: an inline ` # comment` after an unquoted
/// value is not part of it, quotes are taken off (double ones reading escapes), a later line
/// wins; the passwords reach the components whole, whatever characters they hold.
#[test]
fn env_values_follow_compose_rules() {
    let dir = docker_dir(|t| t);
    let env_file = dir.path().join(".env");
    let mut text = std::fs::read_to_string(&env_file).unwrap();
    text.push_str(concat!(
        "MYSQL_PASSWORD=\"p@ss #w/rd?%: \\\"ü\\\"\" # the database\n",
        "REDIS_PASSWORD=r3d1s#not-a-comment # but this is\n",
        "ELASTIC_PASSWORD='lit$eral \\t'\n",
        "MINIO_PASSWORD=$$dollar\n",
    ));
    std::fs::write(&env_file, text).unwrap();
    let (config, _) = load(dir.path(), &[]).unwrap();
    let password = |login: ragwatch::config::Login| login.password().unwrap().expose().to_owned();
    assert_eq!(password(config.db.login()), "p@ss #w/rd?%: \"ü\"");
    assert_eq!(password(config.redis.login()), "r3d1s#not-a-comment");
    assert_eq!(password(config.doc_engine.login()), "lit$eral \\t");
    let StorageService::Minio(minio) = &config.storage.service else {
        panic!("not MinIO");
    };
    assert_eq!(minio.secret_key.expose(), "$dollar");
}

/// Process environment variables for one run.
type Env<'a> = &'a [(&'a str, &'a str)];

#[test]
fn bad_ragflow_configuration_exits_2_naming_what_is_wrong() {
    let broken = docker_dir(|t| t.replace("redis:\n  db: 1", "redis:\n  db: [1"));
    let missing = docker_dir(|t| t);
    let cases: [(&tempfile::TempDir, Env, String); 5] = [
        (
            &broken,
            &[],
            format!(
                "{}:75: invalid YAML",
                broken.path().join("service_conf.yaml.template").display()
            ),
        ),
        (
            &missing,
            &[("DB_TYPE", "postgres")],
            "DB_TYPE = postgres needs the `postgres` section, which it does not have".into(),
        ),
        (
            &missing,
            &[("STORAGE_IMPL", "AWS_S3")],
            "STORAGE_IMPL = AWS_S3 needs the `s3` section".into(),
        ),
        (
            &missing,
            &[("DOC_ENGINE", "solr")],
            "DOC_ENGINE = solr is not a backend ragwatch knows".into(),
        ),
        (
            &missing,
            &[("MYSQL_PORT", "33o6")],
            "`mysql` does not make a valid address: invalid port number".into(),
        ),
    ];
    for (dir, env, expected) in cases {
        let out = ragwatch(&["check", "--ragflow-conf", &path(dir)], env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(stderr.contains(&expected), "{expected:?} not in {stderr}");
    }
    let nowhere = PathBuf::from("/nonexistent/ragflow/docker");
    let out = ragwatch(
        &["config", "--ragflow-conf", nowhere.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ragflow/docker"),
        "{out:?}"
    );
}

#[test]
fn an_empty_backend_variable_means_ragflows_default() {
    let dir = docker_dir(|t| t);
    // The environment's (empty) DOC_ENGINE wins over .env's, and RAGFlow reads an empty
    // one as its default.
    let (config, import) = load(dir.path(), &[("DOC_ENGINE", "")]).unwrap();
    assert_eq!(config.doc_engine.kind, DocEngineKind::Elasticsearch);
    assert!(
        import
            .choices
            .iter()
            .any(|(c, _)| c == "DOC_ENGINE = elasticsearch"),
        "{:?}",
        import.choices
    );
}

#[test]
fn every_doc_engine_reads_its_own_section() {
    let dir = docker_dir(|t| t);
    let url = |engine: &str, env: &[(&str, &str)]| {
        let mut env = env.to_vec();
        env.push(("DOC_ENGINE", engine));
        let (config, _) = load(dir.path(), &env).unwrap();
        // The URL, and the user and password it signs in with (keys of their own).
        let login = config.doc_engine.login();
        let credentials = match (login.username(), login.password()) {
            (Some(user), Some(password)) => format!(" as {user}:{}", password.expose()),
            _ => String::new(),
        };
        (
            config.doc_engine.kind,
            format!("{}{credentials}", login.url().expose()),
        )
    };
    assert_eq!(
        url("opensearch", &[("OS_HOST", "os.internal")]),
        (
            DocEngineKind::Opensearch,
            "http://os.internal:9201/ as admin:infini_rag_flow_OS_01".into()
        )
    );
    assert_eq!(
        url("oceanbase", &[]),
        (
            DocEngineKind::Oceanbase,
            "mysql://oceanbase:2881/ragflow_doc as root@ragflow:infini_rag_flow".into()
        )
    );
    assert_eq!(
        url("seekdb", &[]),
        (
            DocEngineKind::Seekdb,
            "mysql://seekdb:2881/ragflow_doc as root:infini_rag_flow".into()
        )
    );
    assert_eq!(
        url("serenedb", &[]),
        (
            DocEngineKind::Serenedb,
            "postgres://serenedb:7890/postgres as postgres:infini_rag_flow".into()
        )
    );
    assert_eq!(
        url(
            "gaussdb",
            &[
                ("GAUSSDB_HOST", "gauss.internal"),
                ("GAUSSDB_PORT", "8000"),
                ("GAUSSDB_USER", "rag"),
                ("GAUSSDB_PASSWORD", "pw")
            ]
        ),
        (
            DocEngineKind::Gaussdb,
            "postgres://gauss.internal:8000/postgres as rag:pw".into()
        )
    );
}

/// The template with OSS, Azure (SAS) and GCS sections as an operator fills them in.
fn with_cloud_storage(template: String) -> String {
    template
        + "oss:\n  access_key: 'oss-ak'\n  secret_key: 'oss-secret-1'\n  \
           endpoint_url: 'https://oss-cn-hangzhou.aliyuncs.com'\n  region: 'oss-cn-hangzhou'\n  \
           bucket: 'ragflow65536'\n\
           azure:\n  auth_type: 'sas'\n  container_url: 'https://ragacct.blob.core.windows.net/ragflow'\n  \
           sas_token: 'sv=2024-11-04&sig=c2lnbmF0dXJl'\n\
           gcs:\n  bucket: '${GCS_BUCKET:-ragflow}'\n  endpoint_url: '${GCS_ENDPOINT:-}'\n"
}

#[test]
fn storage_impl_picks_oss_azure_or_gcs() {
    let dir = docker_dir(with_cloud_storage);
    let (oss, _) = load(dir.path(), &[("STORAGE_IMPL", "OSS")]).unwrap();
    let StorageService::Oss(oss) = &oss.storage.service else {
        panic!("not OSS: {:?}", oss.storage.service);
    };
    assert_eq!(
        oss.endpoint.as_str(),
        "https://oss-cn-hangzhou.aliyuncs.com/"
    );
    assert_eq!(oss.access_key, "oss-ak");
    assert_eq!(oss.secret_key.expose(), "oss-secret-1");
    assert_eq!(oss.bucket, "ragflow65536");
    assert_eq!(oss.region, "oss-cn-hangzhou");

    let (azure, _) = load(dir.path(), &[("STORAGE_IMPL", "AZURE_SAS")]).unwrap();
    let StorageService::Azure(azure) = &azure.storage.service else {
        panic!("not Azure: {:?}", azure.storage.service);
    };
    assert_eq!(azure.account_name, "ragacct");
    assert_eq!(azure.container, "ragflow");
    assert_eq!(
        azure.endpoint.as_str(),
        "https://ragacct.blob.core.windows.net/"
    );
    assert_eq!(azure.sas_token.expose(), "sv=2024-11-04&sig=c2lnbmF0dXJl");

    let (gcs, _) = load(
        dir.path(),
        &[
            ("STORAGE_IMPL", "GCS"),
            ("GCS_ENDPOINT", "http://gcs.internal:9023"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/etc/ragflow/gcs.json"),
        ],
    )
    .unwrap();
    let StorageService::Gcs(gcs) = &gcs.storage.service else {
        panic!("not GCS: {:?}", gcs.storage.service);
    };
    assert_eq!(gcs.bucket, "ragflow");
    assert_eq!(gcs.endpoint.as_str(), "http://gcs.internal:9023/");
    assert_eq!(gcs.credentials_file, "/etc/ragflow/gcs.json");

    let out = ragwatch(
        &["config", "--ragflow-conf", &path(&dir)],
        &[("STORAGE_IMPL", "AZURE_SAS")],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("sas_token = \"***\""), "{text}");
    assert!(!text.contains("c2lnbmF0dXJl"), "{text}");

    let out = ragwatch(
        &["check", "--ragflow-conf", &path(&dir)],
        &[("STORAGE_IMPL", "AZURE_SPN")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AZURE_SPN (a service principal)"),
        "{out:?}"
    );
}
