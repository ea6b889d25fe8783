//! The HTTP server's accept loop, bounded so that clients can never take the file
//! descriptors the probes need: at most `max_connections` connections at once (a new one
//! takes the place of the longest-open idle one, else waits), request headers and the idle
//! time between keep-alive requests bounded by [`HEADER_TIMEOUT`], and a graceful shutdown
//! that finishes the requests in flight. Each request carries its client's address
//! ([`ConnectInfo`]), for the endpoints served to loopback clients only.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, header};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::config::ServerConfig;

/// How long a client may take to send a request's headers, and how long a keep-alive
/// connection may wait for its next request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Open files always left to the probes, the history and the logs.
pub const MIN_RESERVE: u64 = 128;
/// The connection cap when the open-files limit allows more.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// The connection cap however low the open-files limit is.
const MIN_CONNECTIONS: usize = 16;
/// Pause after a failed accept (out of files, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// What bounds the server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// See [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
}

impl Limits {
    /// The limits for `server`: its `max_connections`, else the open-files limit less a
    /// quarter of it (at least [`MIN_RESERVE`]), at most [`DEFAULT_MAX_CONNECTIONS`]. Raises
    /// the soft open-files limit to the hard one first, where the system allows.
    pub fn of(server: &ServerConfig) -> Self {
        let files = open_files();
        let available = files.map(|n| usize::try_from(n.saturating_sub(reserve(n))));
        let max_connections = match (server.max_connections, available) {
            (Some(max), Some(Ok(available))) => {
                if max.get() > available {
                    tracing::warn!(
                        max_connections = max.get(),
                        open_files = files,
                        "server.max_connections leaves fewer than {} open files to the probes",
                        files.map_or(MIN_RESERVE, reserve),
                    );
                }
                max.get()
            }
            (Some(max), _) => max.get(),
            (None, Some(Ok(available))) => {
                available.clamp(MIN_CONNECTIONS, DEFAULT_MAX_CONNECTIONS)
            }
            (None, _) => DEFAULT_MAX_CONNECTIONS,
        };
        Self {
            max_connections,
            header_timeout: HEADER_TIMEOUT,
        }
    }
}

/// Files kept for everything but the HTTP clients when `files` may be open.
fn reserve(files: u64) -> u64 {
    (files / 4).max(MIN_RESERVE)
}

/// The soft open-files limit after raising it to the hard one; `None` when unlimited or
/// unknown.
fn open_files() -> Option<u64> {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => soft,
        Err(error) => {
            tracing::warn!(%error, "Cannot raise the open-files limit.");
            rlimit::Resource::NOFILE.get().ok()?.0
        }
    };
    (soft != rlimit::INFINITY).then_some(soft)
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then closes
/// idle connections and finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let room = Arc::new(Semaphore::new(limits.max_connections));
    let open = Arc::new(Open::default());
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "Cannot accept a connection.");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let permit = match Arc::clone(&room).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                open.evict_idle();
                tokio::select! {
                    () = &mut shutdown => break,
                    permit = Arc::clone(&room).acquire_owned() => permit.expect("the semaphore is never closed"),
                }
            }
        };
        let connection = open.add();
        let service = Tracked {
            router: router.clone(),
            connection: Arc::clone(&connection),
            room: Arc::clone(&room),
            peer,
        };
        let served = http.serve_connection(TokioIo::new(stream), service);
        connections.spawn(run(served, connection, Arc::clone(&open), permit));
    }
    drop(listener);
    open.close_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Drives one connection until it ends, is evicted while idle, or is shut down.
async fn run(
    served: hyper::server::conn::http1::Connection<TokioIo<tokio::net::TcpStream>, Tracked>,
    connection: Arc<Connection>,
    open: Arc<Open>,
    _permit: OwnedSemaphorePermit,
) {
    tokio::pin!(served);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = served.as_mut() => break,
            () = connection.close.notified(), if !closing => {
                // Nothing in flight: dropping the connection loses nothing.
                if connection.requests.load(Ordering::Acquire) == 0 {
                    break;
                }
                closing = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
    open.remove(connection.id);
}

/// The connections being served, oldest first.
#[derive(Default)]
struct Open {
    connections: Mutex<(u64, BTreeMap<u64, Arc<Connection>>)>,
}

impl Open {
    fn add(&self) -> Arc<Connection> {
        let mut guard = self.connections.lock().expect("connections lock");
        let (next, connections) = &mut *guard;
        let connection = Arc::new(Connection {
            id: *next,
            requests: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
            close: Notify::new(),
        });
        connections.insert(*next, Arc::clone(&connection));
        *next += 1;
        connection
    }

    fn remove(&self, id: u64) {
        self.connections
            .lock()
            .expect("connections lock")
            .1
            .remove(&id);
    }

    /// Asks the longest-open connection without a request in flight to close.
    fn evict_idle(&self) {
        let guard = self.connections.lock().expect("connections lock");
        let idle = guard.1.values().find(|c| {
            c.requests.load(Ordering::Acquire) == 0 && !c.evicted.swap(true, Ordering::AcqRel)
        });
        if let Some(connection) = idle {
            connection.close.notify_one();
        }
    }

    fn close_all(&self) {
        for connection in self
            .connections
            .lock()
            .expect("connections lock")
            .1
            .values()
        {
            connection.close.notify_one();
        }
    }
}

/// One connection as the accept loop sees it.
struct Connection {
    id: u64,
    /// Requests whose response is not yet fully sent.
    requests: AtomicUsize,
    /// Already asked to make room.
    evicted: AtomicBool,
    close: Notify,
}

/// A request in flight on a connection, until its response body is dropped.
struct InFlight(Arc<Connection>);

impl InFlight {
    fn enter(connection: &Arc<Connection>) -> Self {
        connection.requests.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(connection))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The router, counting a connection's requests in flight.
struct Tracked {
    router: Router,
    connection: Arc<Connection>,
    room: Arc<Semaphore>,
    /// The client's address, as the TCP connection says (never a forwarding header).
    peer: SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let in_flight = InFlight::enter(&self.connection);
        let mut router = self.router.clone();
        let room = Arc::clone(&self.room);
        Box::pin(async move {
            let mut response = tower_service::Service::call(&mut router, request).await?;
            // At the cap, a connection does not stay open for another request.
            if room.available_permits() == 0 {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response.map(|body| TrackedBody {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// A response body that keeps its request counted as in flight until it is sent.
struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_of_the_files_stays_for_the_probes() {
        assert_eq!(reserve(256), 128);
        assert_eq!(reserve(1024), 256);
        assert_eq!(reserve(65536), 16384);
    }
}
