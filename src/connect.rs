//! Client options from a configured [`Login`]: the one place where a URL and its section's
//! `username` and `password` become the connect options of the SQL and Redis clients. The
//! credentials go in as options, never spliced into a URL, so they need no encoding.

use redis::{ConnectionInfo, IntoConnectionInfo, RedisResult};
use sqlx::ConnectOptions;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;

use crate::config::Login;

/// MySQL (and MariaDB, OceanBase, SeekDB) options: the URL's address, database and
/// parameters, signed in as the login says.
pub fn mysql(login: &Login) -> Result<MySqlConnectOptions, sqlx::Error> {
    let mut options = MySqlConnectOptions::from_url(&login.address())?;
    if let Some(user) = login.username() {
        options = options.username(&user);
    }
    if let Some(password) = login.password() {
        options = options.password(password.expose());
    }
    Ok(options.disable_statement_logging())
}

/// PostgreSQL (and GaussDB, SereneDB) options, as [`mysql`]'s.
pub fn postgres(login: &Login) -> Result<PgConnectOptions, sqlx::Error> {
    let mut options = PgConnectOptions::from_url(&login.address())?;
    if let Some(user) = login.username() {
        options = options.username(&user);
    }
    if let Some(password) = login.password() {
        options = options.password(password.expose());
    }
    Ok(options
        .application_name("ragwatch")
        .disable_statement_logging())
}

/// Redis: the URL's address and database, signed in (an ACL user, or the default user
/// with `requirepass`) as the login says.
pub fn redis(login: &Login) -> RedisResult<ConnectionInfo> {
    let info = login.address().into_connection_info()?;
    let mut settings = info.redis_settings().clone();
    if let Some(user) = login.username() {
        settings = settings.set_username(user);
    }
    if let Some(password) = login.password() {
        settings = settings.set_password(password.expose());
    }
    Ok(info.set_redis_settings(settings))
}
