//! [`ScratchDatabase`]: a database of its own on the machine's PostgreSQL, for a test that
//! writes a shared history.

use sqlx::Connection;

/// The machine's PostgreSQL, as its superuser (trust authentication on loopback).
pub const POSTGRES_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database, dropped (with its sessions) by [`ScratchDatabase::drop_it`].
pub struct ScratchDatabase {
    /// Its name.
    pub name: String,
}

impl ScratchDatabase {
    /// Creates `ragwatch_<purpose>_<pid>_<n>`.
    pub async fn create(purpose: &str) -> Self {
        let name = format!(
            "ragwatch_{purpose}_{}_{}",
            std::process::id(),
            super::free_port()
        );
        admin(&format!("CREATE DATABASE {name}")).await;
        Self { name }
    }

    /// Its URL on `host_port` (the server itself, or a proxy in front of it).
    pub fn url_via(&self, host_port: &str) -> String {
        format!("postgres://postgres@{host_port}/{}", self.name)
    }

    /// Its URL on the server itself.
    pub fn url(&self) -> String {
        self.url_via("127.0.0.1:5432")
    }

    /// Drops it, closing whatever sessions remain.
    pub async fn drop_it(self) {
        admin(&format!("DROP DATABASE {} WITH (FORCE)", self.name)).await;
    }
}

/// Runs one statement as the superuser.
pub async fn admin(sql: &str) {
    let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN).await.unwrap();
    sqlx::query(sql).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
}
