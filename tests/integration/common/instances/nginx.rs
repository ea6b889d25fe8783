//! [`NginxProxy`]: an nginx of the test's own (Debian's package, installed by
//! `scripts/test-services.sh`) serving ragwatch under a path prefix, as a reverse proxy in
//! front of it would.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use super::programs::find_program;
use super::wire::http_status;
use super::{Instance, Kind, Launch, temp_dir};
use crate::common::free_port;

/// nginx with one `location <prefix> { proxy_pass ...; }`, its own prefix dir, pid file
/// and logs.
pub type NginxProxy = Instance<Nginx>;

/// nginx: ready when it answers HTTP.
pub struct Nginx;

impl Kind for Nginx {
    async fn ready(&self, port: u16) -> bool {
        http_status(port, "/").await.is_some()
    }
}

impl Instance<Nginx> {
    /// Starts nginx on a free port passing `prefix` (`/ragwatch/`) to `upstream`'s root,
    /// the prefix cut off, and waits until it answers.
    pub async fn start(prefix: &str, upstream: SocketAddr) -> Self {
        let dir = temp_dir("ragwatch-nginx-");
        let root = dir.path();
        let port = free_port();
        // One process in the foreground as the test's user (no master switching users), every
        // file it writes in its own dir.
        let config = format!(
            "daemon off;\nmaster_process off;\npid {root}/nginx.pid;\nerror_log {root}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
               access_log {root}/access.log;\n\
               client_body_temp_path {root}/client_body;\n\
               proxy_temp_path {root}/proxy;\n\
               fastcgi_temp_path {root}/fastcgi;\n\
               uwsgi_temp_path {root}/uwsgi;\n\
               scgi_temp_path {root}/scgi;\n\
               server {{\n\
                 listen 127.0.0.1:{port};\n\
                 location {prefix} {{ proxy_pass http://{upstream}/; }}\n\
               }}\n\
             }}\n",
            root = root.display()
        );
        let config_path = root.join("nginx.conf");
        std::fs::write(&config_path, config).expect("write nginx.conf");
        let args: Vec<OsString> = vec![
            "-p".into(),
            root.into(),
            "-c".into(),
            config_path.into(),
            "-e".into(),
            root.join("error.log").into(),
        ];
        let launch = Launch::new(
            "nginx",
            find_program(&["nginx"], &[]),
            args,
            Duration::from_secs(5),
        );
        Self::launch(Nginx, port, launch, dir).await
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}
