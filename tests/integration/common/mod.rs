//! Shared harness for the integration tests (the modules next to this folder).
//!
//! What is here:
//! - [`ragflow`]: RAGFlow's side: task-executor heartbeats written to Redis as RAGFlow writes
//!   them, and its `task`/`document` tables.
//! - [`ragflow_server::RagflowServer`]: a stand-in of RAGFlow's HTTP API server keeping its
//!   documented contract (bearer API key, JSON bodies, response envelope, codes and
//!   messages) and real state, for the canaries.
//! - [`app`]: ragwatch itself served in-process on a free port ([`app::TestApp`]), and one-shot
//!   probing of a configuration ([`app::probe_once`]).
//! - [`served`]: the built binary serving as a process of its own ([`served::Served`]), for
//!   signals and exit codes.
//! - [`free_port`]: a loopback TCP port nobody listens on (never handed out twice per process).
//! - [`FaultProxy`] ([`proxy`]): a TCP proxy whose behaviour can be switched at run time between
//!   forwarding, refusing connections, black-holing, delaying and resetting.
//! - [`FixtureServer`] ([`fixtures`]): a small HTTP server answering from a replaceable route table
//!   and recording the requests it got; [`fixture`] reads the recorded files in `tests/fixtures/`.
//! - Own server instances on free ports ([`instances`]), all with one life cycle (start,
//!   kill, stop, start again, killed and cleaned up when dropped): [`RedisInstance`],
//!   [`PostgresInstance`], [`MariadbInstance`], [`NatsInstance`], [`S3Server`] (s3s-fs),
//!   [`AzuriteServer`], [`GcsEmulator`] and [`Daemon`] (a Prometheus or an Alertmanager).
//! - [`wait::wait_until`]: waiting for a condition under one generous bound, instead of
//!   sleeping a fixed time.
//! - [`browser::Browser`]: a headless Chromium session through chromedriver, for the UI tests.
//! - [`netns::PeerNetwork`]: a network namespace joined by a veth pair, for a client whose
//!   address is not loopback.
//! - [`tls::PrivateCa`]: a certificate authority of its own (openssl) issuing server
//!   certificates; [`tls::Front`]: a plain server served over TLS or at another address.
//! - [`http_proxy::HttpProxy`]: an HTTP forward proxy (CONNECT and absolute-form) recording
//!   the targets it was asked for.
//!
//! The binaries the instances run are installed by `scripts/test-services.sh`.

pub mod app;
pub mod browser;
pub mod executors;
pub mod fixtures;
pub mod http_proxy;
pub mod instances;
pub mod netns;
pub mod proxy;
pub mod ragflow;
pub mod ragflow_server;
pub mod scratch;
pub mod served;
pub mod tls;
pub mod wait;

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use fixtures::{
    FixtureResponse, FixtureServer, RecordedRequest, basic_auth_header, fixture, fixture_path,
    fixture_str,
};
pub use instances::{
    AzuriteServer, Daemon, GcsEmulator, MariadbInstance, NatsInstance, NatsOptions, NginxProxy,
    PostgresInstance, RedisInstance, S3Server, mysql_greeting, pg_ssl_request, redis_ping,
};
pub use proxy::{FaultProxy, ProxyMode};
pub use wait::{settle, wait_for, wait_until, wait_until_within};

/// How long [`instances`] wait for a server to become ready before panicking: generous, as
/// the suite starts many at once on a machine whose cores may all be busy.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// The port is found by binding port 0 and closing the socket again, so another process could in
/// principle take it before the caller binds it. Within one test process the same port is never
/// returned twice, so parallel tests do not collide with each other.
pub fn free_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    for _ in 0..1000 {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        drop(listener);
        let mut set = handed_out.lock().unwrap_or_else(|e| e.into_inner());
        if set.insert(port) {
            return port;
        }
    }
    panic!("free_port: no unused port found after 1000 attempts");
}
