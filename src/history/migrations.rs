//! The schema's versioned migrations, embedded in the binary and applied by sqlx's migrator
//! (which records them in `_sqlx_migrations`, so re-running is a no-op).

use std::borrow::Cow;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::dialect::Dialect;

/// Every migration, oldest first: (version, description, SQLite SQL, PostgreSQL SQL).
const MIGRATIONS: [(i64, &str, &str, &str); 6] = [
    (
        1,
        "history",
        include_str!("migrations/sqlite/0001_history.sql"),
        include_str!("migrations/postgres/0001_history.sql"),
    ),
    (
        2,
        "executors",
        include_str!("migrations/sqlite/0002_executors.sql"),
        include_str!("migrations/postgres/0002_executors.sql"),
    ),
    (
        3,
        "incident from unknown",
        include_str!("migrations/sqlite/0003_incident_from_unknown.sql"),
        include_str!("migrations/postgres/0003_incident_from_unknown.sql"),
    ),
    (
        4,
        "silences and quiet incidents",
        include_str!("migrations/sqlite/0004_quiet.sql"),
        include_str!("migrations/postgres/0004_quiet.sql"),
    ),
    (
        5,
        "cluster",
        include_str!("migrations/sqlite/0005_cluster.sql"),
        include_str!("migrations/postgres/0005_cluster.sql"),
    ),
    (
        6,
        "executor heartbeats",
        include_str!("migrations/sqlite/0006_executor_heartbeats.sql"),
        include_str!("migrations/postgres/0006_executor_heartbeats.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(Dialect);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        let migrations = MIGRATIONS
            .iter()
            .map(|(version, description, sqlite, postgres)| {
                let sql = match self.0 {
                    Dialect::Sqlite => sqlite,
                    Dialect::Postgres => postgres,
                    Dialect::Mysql => return Err("the history is not kept in MySQL".into()),
                };
                Ok(Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                ))
            })
            .collect();
        Box::pin(async move { migrations })
    }
}

/// The migrator for a dialect.
pub async fn migrator(dialect: Dialect) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(dialect)).await
}
