//! [`FaultProxy`]: a TCP proxy on 127.0.0.1 in front of an upstream address whose behaviour
//! ([`ProxyMode`]) can be switched while a test runs, to simulate a dependency that refuses
//! connections, hangs, is slow or resets connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::free_port;

/// What a [`FaultProxy`] does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward bytes both ways between the client and the upstream.
    Pass,
    /// Do not listen at all: connecting gets `ECONNREFUSED`. Switching to another mode listens
    /// again on the same port.
    Refuse,
    /// Accept connections but never read from them nor answer; the socket stays open until the
    /// mode changes to another failure mode or the proxy is dropped.
    BlackHole,
    /// Like [`ProxyMode::Pass`], but wait this long after accepting each new connection before
    /// connecting to the upstream and forwarding.
    Delay(Duration),
    /// Accept, then close at once with a TCP RST (`SO_LINGER` 0): the client sees
    /// `ECONNRESET` (or an unexpected EOF).
    Reset,
}

impl ProxyMode {
    /// `Refuse`, `BlackHole` and `Reset` are failure modes: switching to one of them drops the
    /// connections the proxy currently holds.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Refuse | Self::BlackHole | Self::Reset)
    }
}

type Command = (ProxyMode, oneshot::Sender<()>);

/// A TCP proxy on `127.0.0.1:<free port>` whose [`ProxyMode`] can be switched at run time.
///
/// Dropping it stops listening and closes every connection it holds.
pub struct FaultProxy {
    port: u16,
    upstream: Option<SocketAddr>,
    commands: mpsc::UnboundedSender<Command>,
    mode: watch::Receiver<ProxyMode>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy in [`ProxyMode::Pass`] in front of `upstream` (e.g. `"127.0.0.1:6379"` or a
    /// `SocketAddr`). The upstream is resolved once, now; it does not need to be up.
    pub async fn start(upstream: impl ToSocketAddrs) -> Self {
        let upstream = tokio::net::lookup_host(upstream)
            .await
            .expect("FaultProxy: resolve upstream")
            .next()
            .expect("FaultProxy: upstream resolved to no address");
        Self::spawn(Some(upstream), ProxyMode::Pass).await
    }

    /// Starts a proxy with no upstream in [`ProxyMode::BlackHole`]: it accepts connections and
    /// never answers. It can be switched to `Refuse` or `Reset`, not to `Pass` or `Delay`.
    pub async fn black_hole() -> Self {
        Self::spawn(None, ProxyMode::BlackHole).await
    }

    async fn spawn(upstream: Option<SocketAddr>, mode: ProxyMode) -> Self {
        let port = free_port();
        let listener = bind_retrying(port).await;
        let (commands, rx) = mpsc::unbounded_channel();
        let (mode_tx, mode_rx) = watch::channel(mode);
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(run(
            port,
            upstream,
            Some(listener),
            rx,
            mode_tx,
            accepted.clone(),
        ));
        Self {
            port,
            upstream,
            commands,
            mode: mode_rx,
            accepted,
            task,
        }
    }

    /// `127.0.0.1:<port>` as a socket address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `"127.0.0.1:<port>"`, for building URLs.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The upstream address, `None` for [`FaultProxy::black_hole`].
    pub fn upstream(&self) -> Option<SocketAddr> {
        self.upstream
    }

    /// The current mode.
    pub fn mode(&self) -> ProxyMode {
        *self.mode.borrow()
    }

    /// How many client connections the proxy has accepted so far, in every mode.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Switches the mode. When this returns the switch is complete: after `Refuse` the port no
    /// longer listens, after leaving `Refuse` it listens again. Switching to a failure mode
    /// (see [`ProxyMode::is_failure`]) first closes every connection the proxy holds.
    ///
    /// Panics when switching a proxy without upstream to `Pass` or `Delay`.
    pub async fn set_mode(&self, mode: ProxyMode) {
        if self.upstream.is_none() {
            assert!(
                mode.is_failure(),
                "FaultProxy::set_mode({mode:?}): this proxy has no upstream"
            );
        }
        let (ack_tx, ack_rx) = oneshot::channel();
        self.commands
            .send((mode, ack_tx))
            .expect("FaultProxy task has stopped");
        ack_rx.await.expect("FaultProxy task has stopped");
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the task drops the listener and the JoinSet, which aborts every connection.
        self.task.abort();
    }
}

async fn bind_retrying(port: u16) -> TcpListener {
    let mut last_err = None;
    for _ in 0..100 {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => return listener,
            Err(e) => last_err = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("FaultProxy: cannot listen on 127.0.0.1:{port}: {last_err:?}");
}

async fn run(
    port: u16,
    upstream: Option<SocketAddr>,
    mut listener: Option<TcpListener>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mode_tx: watch::Sender<ProxyMode>,
    accepted: Arc<AtomicUsize>,
) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let command = match &listener {
            Some(l) => {
                tokio::select! {
                    command = commands.recv() => command,
                    res = l.accept() => {
                        if let Ok((client, _)) = res {
                            accepted.fetch_add(1, Ordering::SeqCst);
                            handle(client, *mode_tx.borrow(), upstream, &mut connections);
                        }
                        continue;
                    }
                }
            }
            None => commands.recv().await,
        };
        let Some((mode, ack)) = command else {
            return;
        };
        let old = *mode_tx.borrow();
        if mode.is_failure() && mode != old {
            connections.abort_all();
        }
        if mode == ProxyMode::Refuse {
            listener = None;
        } else if listener.is_none() {
            listener = Some(bind_retrying(port).await);
        }
        mode_tx.send_replace(mode);
        let _ = ack.send(());
    }
}

fn handle(
    client: TcpStream,
    mode: ProxyMode,
    upstream: Option<SocketAddr>,
    connections: &mut JoinSet<()>,
) {
    match (mode, upstream) {
        (ProxyMode::Pass, Some(up)) => {
            connections.spawn(forward(client, up, Duration::ZERO));
        }
        (ProxyMode::Delay(delay), Some(up)) => {
            connections.spawn(forward(client, up, delay));
        }
        (ProxyMode::BlackHole, _) => {
            connections.spawn(async move {
                let _held = client;
                std::future::pending::<()>().await;
            });
        }
        // Reset, or a connection accepted just before switching to Refuse, or no upstream.
        _ => reset(client),
    }
}

fn reset(client: TcpStream) {
    let _ = client.set_zero_linger();
    drop(client);
}

async fn forward(mut client: TcpStream, upstream: SocketAddr, delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match TcpStream::connect(upstream).await {
        Ok(mut server) => {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        Err(_) => reset(client),
    }
}
