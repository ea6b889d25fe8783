//! Credentials as keys of their own, against real servers. Passwords holding every character
//! a URL cannot carry as it is (`@ # / ? % :`, a space, quotes, a backslash, non-ASCII),
//! given as `password`, through a `password_file` and through the environment, sign in to
//! MariaDB (users made for the test on the machine's server), PostgreSQL (roles on a server
//! of its own: the machine's trusts every login) and Redis (`requirepass` and ACL users on a
//! server of its own), each server checking them for real; numeric and boolean passwords
//! from the environment stay passwords. A wrong password is refused by each server, so
//! every check can fail.

use std::time::Duration;

use crate::common;

use common::app::{only, probe_config};
use common::{NatsInstance, NatsOptions, PostgresInstance, RedisInstance};
use ragwatch::history::{AnyStore, Store};
use ragwatch::probe::{ProbeResult, Status};
use sqlx::Connection;

/// Every character a URL's user info cannot carry as it is, and more.
const SPECIAL: &str = "p@ss #w/rd?50%:'\"\\ü€";

/// The machine's MariaDB, as its administrator.
const MARIADB_ADMIN: &str = "mysql://root@127.0.0.1:3306/mysql";

/// How a secret reaches ragwatch.
#[derive(Clone, Copy, Debug)]
enum Given {
    /// The key itself in the file: `password = "..."`.
    Key,
    /// Its twin: `password_file = "/path"`, the file holding the secret and a newline.
    File,
    /// A variable: `RAGWATCH_<SECTION>__PASSWORD=...`.
    Env,
}

/// Each way a password is given, and the passwords TOML would read as other types.
fn cases() -> [(&'static str, Given); 6] {
    [
        (SPECIAL, Given::Key),
        (SPECIAL, Given::File),
        (SPECIAL, Given::Env),
        ("12345", Given::Env),
        ("true", Given::Env),
        ("1e3", Given::Env),
    ]
}

/// A configuration in the making: its keys, its environment, the secret files it names.
struct Setup {
    table: toml::Table,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(toml: &str) -> Self {
        Self {
            table: toml::from_str(toml).unwrap(),
            env: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Sets `key` (`db.username`) in the file.
    fn set(&mut self, key: &str, value: impl Into<toml::Value>) {
        let (section, name) = key.split_once('.').unwrap();
        self.table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap()
            .insert(name.to_owned(), value.into());
    }

    /// Gives the secret key `key` (`db.password`) the value `secret` as `given` says.
    fn give(&mut self, key: &str, secret: &str, given: Given) {
        match given {
            Given::Key => self.set(key, secret),
            Given::File => {
                let path = self.dir.path().join(key);
                std::fs::write(&path, format!("{secret}\n")).unwrap();
                self.set(&format!("{key}_file"), path.display().to_string());
            }
            Given::Env => {
                let variable = format!("RAGWATCH_{}", key.to_uppercase().replace('.', "__"));
                self.env.push((variable, secret.to_owned()));
            }
        }
    }

    /// The configuration, loaded as the binary loads its file and environment.
    fn load(&self) -> ragwatch::config::Config {
        let file = self.dir.path().join("ragwatch.toml");
        std::fs::write(&file, toml::to_string(&self.table).unwrap()).unwrap();
        ragwatch::config::load(Some(&file), self.env.clone())
            .unwrap_or_else(|e| panic!("refused: {e}"))
    }

    /// Every enabled component's result, probed once as `ragwatch check` does.
    async fn probe(&self) -> Vec<(String, ProbeResult)> {
        probe_config(self.load()).await
    }

    /// The one enabled component's result.
    async fn probe_only(&self) -> ProbeResult {
        let mut results = self.probe().await;
        assert_eq!(results.len(), 1, "one component");
        results.remove(0).1
    }
}

/// `text` as a MariaDB string literal's content.
fn mysql_quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

/// `text` as a PostgreSQL string literal's content (backslashes are plain).
fn pg_quoted(text: &str) -> String {
    text.replace('\'', "''")
}

#[tokio::test]
async fn mariadb_users_sign_in_whatever_their_password_holds() {
    let mut admin = sqlx::MySqlConnection::connect(MARIADB_ADMIN).await.unwrap();
    let user = |i: usize| format!("ragwatch_credentials_{}_{i}", std::process::id());
    for (i, (password, _)) in cases().iter().enumerate() {
        let user = user(i);
        sqlx::raw_sql(&format!(
            "DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%' IDENTIFIED BY '{}'",
            mysql_quoted(password)
        ))
        .execute(&mut admin)
        .await
        .unwrap();
    }
    let setup = |i: usize| {
        let mut setup = Setup::new(&format!(
            "{}[db]\nkind = \"mysql\"\nurl = \"mysql://127.0.0.1:3306\"\ntimeout = \"5s\"\n",
            only("db")
        ));
        setup.set("db.username", user(i));
        setup
    };
    let mut results = Vec::new();
    for (i, (password, given)) in cases().into_iter().enumerate() {
        let mut setup = setup(i);
        setup.give("db.password", password, given);
        results.push((format!("{password} as {given:?}"), setup.probe_only().await));
    }
    let mut wrong = setup(0);
    wrong.give("db.password", "not-the-password", Given::Key);
    let refused = wrong.probe_only().await;
    for i in 0..cases().len() {
        sqlx::raw_sql(&format!("DROP USER IF EXISTS '{}'@'%'", user(i)))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    for (case, result) in results {
        assert_eq!(result.status, Status::Green, "{case}: {:?}", result.error);
    }
    assert_eq!(refused.status, Status::Red);
    assert_eq!(
        refused.error.as_deref(),
        Some(format!("authentication failed for user {}", user(0)).as_str())
    );
}

#[tokio::test]
async fn postgres_roles_sign_in_whatever_their_password_holds() {
    let server = PostgresInstance::start().await;
    let mut admin = sqlx::PgConnection::connect(&server.url()).await.unwrap();
    let role = |i: usize| format!("watcher_{i}");
    for (i, (password, _)) in cases().iter().enumerate() {
        sqlx::raw_sql(&format!(
            "CREATE ROLE {} LOGIN PASSWORD '{}'",
            role(i),
            pg_quoted(password)
        ))
        .execute(&mut admin)
        .await
        .unwrap();
    }
    let url = format!("postgres://127.0.0.1:{}/ragwatch", server.port());
    let setup = |i: usize| {
        let mut setup = Setup::new(&format!(
            "{}[db]\nkind = \"postgres\"\nurl = \"{url}\"\ntimeout = \"5s\"\n",
            only("db")
        ));
        setup.set("db.username", role(i));
        setup
    };
    for (i, (password, given)) in cases().into_iter().enumerate() {
        let mut setup = setup(i);
        setup.give("db.password", password, given);
        let result = setup.probe_only().await;
        assert_eq!(
            result.status,
            Status::Green,
            "{password} as {given:?}: {:?}",
            result.error
        );
    }
    let mut wrong = setup(0);
    wrong.give("db.password", "not-the-password", Given::Key);
    let refused = wrong.probe_only().await;
    assert_eq!(refused.status, Status::Red);
    assert_eq!(
        refused.error.as_deref(),
        Some("authentication failed for user watcher_0")
    );
}

/// A shared history in PostgreSQL, signed in with `history.username` and a password file.
#[tokio::test]
async fn the_history_signs_in_with_its_own_keys() {
    let server = PostgresInstance::start().await;
    let mut admin = sqlx::PgConnection::connect(&server.url()).await.unwrap();
    sqlx::raw_sql(&format!(
        "CREATE ROLE recorder LOGIN PASSWORD '{}'",
        pg_quoted(SPECIAL)
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::raw_sql("CREATE DATABASE recorded OWNER recorder")
        .execute(&mut admin)
        .await
        .unwrap();
    let migrate = |password: &str, given: Given| {
        let mut setup = Setup::new(&format!(
            "[history]\nurl = \"postgres://127.0.0.1:{}/recorded\"\nusername = \"recorder\"\n",
            server.port()
        ));
        setup.give("history.password", password, given);
        let config = setup.load();
        async move {
            let store = AnyStore::open(&config.history.login(), Duration::from_secs(5)).unwrap();
            store.migrate().await
        }
    };
    migrate(SPECIAL, Given::File).await.unwrap();
    migrate(SPECIAL, Given::Env).await.unwrap();
    let refused = migrate("not-the-password", Given::Key).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("password authentication failed"),
        "{refused}"
    );
}

/// Redis's default user with `requirepass`, and ACL users, each password set as the server
/// reads it (one binary-safe argument).
async fn redis_with_users(users: &[(&str, &str)]) -> RedisInstance {
    let server = RedisInstance::start(None).await;
    let client = redis::Client::open(server.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    for (user, password) in users {
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(user)
            .arg("on")
            .arg(format!(">{password}"))
            .arg("~*")
            .arg("&*")
            .arg("+@all")
            .query_async::<()>(&mut admin)
            .await
            .unwrap();
    }
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(SPECIAL)
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    server
}

#[tokio::test]
async fn redis_users_sign_in_whatever_their_password_holds() {
    let users: Vec<(String, &str)> = cases()
        .iter()
        .enumerate()
        .map(|(i, (password, _))| (format!("watcher_{i}"), *password))
        .collect();
    let acl: Vec<(&str, &str)> = users.iter().map(|(u, p)| (u.as_str(), *p)).collect();
    let server = redis_with_users(&acl).await;
    let url = format!("redis://127.0.0.1:{}/0", server.port());
    let setup = || {
        Setup::new(&format!(
            "{}[redis]\nurl = \"{url}\"\ntimeout = \"5s\"\n",
            only("redis")
        ))
    };
    for (i, (password, given)) in cases().into_iter().enumerate() {
        let mut as_user = setup();
        as_user.set("redis.username", users[i].0.as_str());
        as_user.give("redis.password", password, given);
        let result = as_user.probe_only().await;
        let case = format!("{} with {password} as {given:?}", users[i].0);
        assert_eq!(result.status, Status::Green, "{case}: {:?}", result.error);
    }
    for given in [Given::Key, Given::File, Given::Env] {
        let mut default_user = setup();
        default_user.give("redis.password", SPECIAL, given);
        let result = default_user.probe_only().await;
        assert_eq!(result.status, Status::Green, "requirepass as {given:?}");
    }
    let mut wrong = setup();
    wrong.set("redis.username", "watcher_0");
    wrong.give("redis.password", "not-the-password", Given::Key);
    let refused = wrong.probe_only().await;
    assert_eq!(refused.status, Status::Red);
    assert_eq!(
        refused.error.as_deref(),
        Some("authentication failed for user watcher_0")
    );
}

/// The executors' and the queue's Redis keys reach their probes: signed in, the executors
/// find none registered and the queue's streams do not exist yet; with the wrong
/// password both say so.
#[tokio::test]
async fn the_executors_and_the_queue_sign_in_with_their_own_keys() {
    let server = redis_with_users(&[("executors", SPECIAL), ("queue", SPECIAL)]).await;
    let url = format!("redis://127.0.0.1:{}/0", server.port());
    let probe = |password: &'static str| {
        let mut setup = Setup::new(&format!(
            "[db]\nenabled = false\n[redis]\nenabled = false\n[doc_engine]\nenabled = false\n\
             [storage]\nenabled = false\n\
             [task_executors]\nredis_url = \"{url}\"\nredis_username = \"executors\"\ntimeout = \"5s\"\n\
             [message_queue]\nkind = \"redis_stream\"\nurl = \"{url}\"\nusername = \"queue\"\ntimeout = \"5s\"\n"
        ));
        setup.give("task_executors.redis_password", password, Given::File);
        setup.give("message_queue.password", password, Given::Env);
        async move { setup.probe().await }
    };
    for (key, result) in probe(SPECIAL).await {
        let error = result.error.unwrap_or_default();
        let expected = match key.as_str() {
            "task_executors" => "no task executor is registered",
            _ => "stream te.1.common does not exist yet",
        };
        assert!(error.contains(expected), "{key}: {error}");
    }
    for (key, result) in probe("not-the-password").await {
        assert_eq!(result.status, Status::Red, "{key}");
        let error = result.error.unwrap_or_default();
        assert!(
            error.starts_with("authentication failed for user "),
            "{key}: {error}"
        );
    }
}

#[tokio::test]
async fn nats_signs_in_with_the_queue_s_keys() {
    let server = NatsInstance::start(NatsOptions {
        credentials: Some(("watcher".into(), SPECIAL.into())),
        ..NatsOptions::default()
    })
    .await;
    for (password, status) in [(SPECIAL, Status::Green), ("not-the-password", Status::Red)] {
        let mut setup = Setup::new(&format!(
            "{}[message_queue]\nurl = \"{}\"\nusername = \"watcher\"\njetstream = false\ntimeout = \"5s\"\n",
            only("message_queue"),
            server.url()
        ));
        setup.give("message_queue.password", password, Given::File);
        let result = setup.probe_only().await;
        assert_eq!(result.status, status, "{password}: {:?}", result.error);
    }
}
