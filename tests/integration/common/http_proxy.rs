//! [`HttpProxy`]: an HTTP forward proxy on 127.0.0.1, the kind `HTTPS_PROXY` and
//! `HTTP_PROXY` name: a `CONNECT host:port` request opens a tunnel (https:// targets), an
//! absolute-form request (`GET http://host:port/path`) is passed on to the host it names
//! (http:// targets). It records the request line of every connection, so a test can tell
//! which targets went through it. One target per connection: enough for a client that
//! keeps a connection per target, as reqwest does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::free_port;

/// The forward proxy; stops listening when dropped.
pub struct HttpProxy {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl HttpProxy {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let listener = TcpListener::bind(("127.0.0.1", free_port()))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let _ = forward(client, &seen).await;
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`, as a proxy variable names it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The first request line of each connection, oldest first (`CONNECT 10.0.0.1:443
    /// HTTP/1.1`, `GET http://10.0.0.1:9200/_cluster/health HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one client connection: reads the request head, connects to the target it
/// names, then copies bytes both ways.
async fn forward(mut client: TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    let end = loop {
        let read = client.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..read]);
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let line = text.lines().next().unwrap_or_default().to_owned();
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(line.clone());
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        let mut server = TcpStream::connect(target).await?;
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        server.write_all(&head[end..]).await?;
        tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    } else {
        let authority = target
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let mut server = TcpStream::connect(authority).await?;
        // The origin server reads the absolute form as HTTP/1.1 requires it to.
        server.write_all(&head).await?;
        tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    }
    Ok(())
}
