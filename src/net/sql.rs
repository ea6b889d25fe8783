//! The SQL drivers' TLS. sqlx reads the system's store itself (its native-roots feature:
//! the same `rustls-native-certs` as [`super::Trust`]) and takes a `tls_ca_file` as extra
//! roots. It checks the server's certificate only when the URL asks for it (PostgreSQL
//! `sslmode=verify-ca` / `verify-full`, MySQL `ssl-mode=VERIFY_CA` / `VERIFY_IDENTITY`), so
//! a `tls_ca_file` beside a URL that does not is refused: it would go unused, silently.

use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::pem;
use crate::config::CaFile;

/// PostgreSQL options trusting `ca_file` too.
pub fn postgres_tls(
    options: PgConnectOptions,
    ca_file: Option<&CaFile>,
) -> Result<PgConnectOptions, String> {
    let Some(file) = ca_file else {
        return Ok(options);
    };
    if !matches!(
        options.get_ssl_mode(),
        PgSslMode::VerifyCa | PgSslMode::VerifyFull
    ) {
        return Err(unused("sslmode=verify-full (or verify-ca)"));
    }
    Ok(options.ssl_root_cert_from_pem(pem(file.certificates())))
}

/// MySQL options trusting `ca_file` too.
pub fn mysql_tls(
    options: MySqlConnectOptions,
    ca_file: Option<&CaFile>,
) -> Result<MySqlConnectOptions, String> {
    let Some(file) = ca_file else {
        return Ok(options);
    };
    if !matches!(
        options.get_ssl_mode(),
        MySqlSslMode::VerifyCa | MySqlSslMode::VerifyIdentity
    ) {
        return Err(unused("ssl-mode=VERIFY_IDENTITY (or VERIFY_CA)"));
    }
    Ok(options.ssl_ca_from_pem(pem(file.certificates())))
}

fn unused(mode: &str) -> String {
    format!(
        "the URL does not ask to verify the server's certificate, so tls_ca_file would go unused: add {mode} to it"
    )
}
