//! [`RedisInstance`]: a `redis-server` of its own.

use std::ffi::OsString;
use std::time::Duration;

use super::programs::find_program;
use super::wire::redis_ping;
use super::{Instance, Kind, Launch, temp_dir};
use crate::common::free_port;

/// A `redis-server` of its own: `--port P --bind 127.0.0.1 --save "" --appendonly no`
/// (`--requirepass` when a password is given), nothing kept on disk.
pub type RedisInstance = Instance<Redis>;

/// Redis: ready when it answers PING (after AUTH when it has a password).
pub struct Redis {
    password: Option<String>,
}

impl Kind for Redis {
    async fn ready(&self, port: u16) -> bool {
        matches!(redis_ping(port, self.password.as_deref()).await, Ok(r) if r.starts_with(b"+PONG"))
    }
}

impl Instance<Redis> {
    /// Starts redis-server on a free port and waits until it answers PING.
    pub async fn start(password: Option<&str>) -> Self {
        let dir = temp_dir("ragwatch-redis-");
        let port = free_port();
        let mut args: Vec<OsString> = vec![
            "--port".into(),
            port.to_string().into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--daemonize".into(),
            "no".into(),
            "--dir".into(),
            dir.path().into(),
        ];
        if let Some(pw) = password {
            args.extend(["--requirepass".into(), pw.into()]);
        }
        let launch = Launch::new(
            "redis-server",
            find_program(&["redis-server"], &[]),
            args,
            Duration::from_secs(10),
        );
        let kind = Redis {
            password: password.map(str::to_owned),
        };
        Self::launch(kind, port, launch, dir).await
    }

    /// `redis://127.0.0.1:<port>/0`, or `redis://:<password>@127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        match &self.kind.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }
}
