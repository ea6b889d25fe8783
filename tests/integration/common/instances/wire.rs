//! Raw protocol exchanges over TCP, each bounded: enough of every server's protocol to tell
//! whether it is ready, and handy in tests that check what a server (or proxy) answers.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound of one exchange.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);

async fn bounded<T>(fut: impl Future<Output = std::io::Result<T>>) -> std::io::Result<T> {
    tokio::time::timeout(EXCHANGE_TIMEOUT, fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "exchange timed out"))?
}

async fn read_line(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
    }
    Ok(line)
}

fn resp_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Sends `AUTH <password>` (when given) and then `PING` (`*1\r\n$4\r\nPING\r\n`) over raw TCP to
/// a Redis server on 127.0.0.1:`port` and returns the reply line to PING, e.g. `+PONG\r\n` or
/// `-NOAUTH Authentication required.\r\n`.
pub async fn redis_ping(port: u16, password: Option<&str>) -> std::io::Result<Vec<u8>> {
    bounded(async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        if let Some(pw) = password {
            stream.write_all(&resp_command(&["AUTH", pw])).await?;
            read_line(&mut stream).await?;
        }
        stream.write_all(b"*1\r\n$4\r\nPING\r\n").await?;
        read_line(&mut stream).await
    })
    .await
}

/// Sends a PostgreSQL `SSLRequest` to 127.0.0.1:`port` and returns the one-byte answer:
/// `b'N'` (no TLS) or `b'S'`.
pub async fn pg_ssl_request(port: u16) -> std::io::Result<u8> {
    bounded(async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
            .await?;
        stream.read_u8().await
    })
    .await
}

/// Sends a PostgreSQL `StartupMessage` and returns the type byte of the first answer: `b'R'`
/// (authentication request: the server accepts logins) or `b'E'` (e.g. still starting up).
pub(super) async fn pg_startup(port: u16, user: &str, database: &str) -> std::io::Result<u8> {
    bounded(async {
        let mut body = 196_608u32.to_be_bytes().to_vec();
        for part in ["user", user, "database", database] {
            body.extend_from_slice(part.as_bytes());
            body.push(0);
        }
        body.push(0);
        let len = u32::try_from(body.len() + 4).expect("startup message length");
        let mut msg = len.to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(&msg).await?;
        stream.read_u8().await
    })
    .await
}

/// Connects to a MySQL/MariaDB server on 127.0.0.1:`port` and returns the payload of the first
/// packet the server sends. For a ready server that is the initial handshake: its first byte is
/// the protocol version `10`, followed by the NUL-terminated server version. An error packet starts
/// with `0xff`.
pub async fn mysql_greeting(port: u16) -> std::io::Result<Vec<u8>> {
    bounded(async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await?;
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await?;
        Ok(payload)
    })
    .await
}

/// Whether an SMTP server on 127.0.0.1:`port` greets in the clear with `220`.
pub(super) async fn smtp_greets(port: u16) -> bool {
    bounded(async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        read_line(&mut stream).await
    })
    .await
    .is_ok_and(|line| line.starts_with(b"220 "))
}

/// Whether a NATS server on 127.0.0.1:`port` sends its `INFO {...}` line.
pub(super) async fn nats_greets(port: u16) -> bool {
    let head = bounded(async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).await?;
        Ok(head)
    })
    .await;
    matches!(head, Ok(head) if &head == b"INFO ")
}

/// Sends `GET <path> HTTP/1.1` over raw TCP and returns the status code of the answer, if
/// an HTTP answer came back.
pub(super) async fn http_status(port: u16, path: &str) -> Option<u16> {
    let head = bounded(async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok(head)
    })
    .await
    .ok()?;
    let head = std::str::from_utf8(&head).ok()?;
    head.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}
