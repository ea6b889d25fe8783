//! [`FixtureServer`]: a small HTTP server on 127.0.0.1 that answers from a route table that can be
//! replaced while a test runs, and records the requests it receives. [`fixture`] reads the
//! recorded responses in `tests/fixtures/` (see `tests/fixtures/SOURCES.md`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use tokio::task::JoinHandle;

use super::free_port;

/// The path of a file in `tests/fixtures/`, e.g. `fixture_path("elasticsearch/clusterhealth/7.13.1.json")`.
pub fn fixture_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

/// The bytes of a file in `tests/fixtures/`; panics naming the file if it cannot be read.
pub fn fixture(relative: &str) -> Vec<u8> {
    let path = fixture_path(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A file in `tests/fixtures/` as UTF-8 text; panics if it cannot be read or is not UTF-8.
pub fn fixture_str(relative: &str) -> String {
    String::from_utf8(fixture(relative))
        .unwrap_or_else(|e| panic!("fixture {relative} is not UTF-8: {e}"))
}

/// The value of an `Authorization` header for HTTP basic auth: `Basic base64(user:password)`.
pub fn basic_auth_header(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One canned HTTP response of a [`FixtureServer`] route.
#[derive(Clone, Debug)]
pub struct FixtureResponse {
    /// Status code.
    pub status: u16,
    /// Response headers, in order (`Content-Length` is computed by the server).
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
    /// Wait this long before answering (to provoke client timeouts).
    pub delay: Option<Duration>,
}

impl FixtureResponse {
    /// A response with this status and body and no headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: None,
        }
    }

    /// A response with `Content-Type: application/json`.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, body).with_header("content-type", "application/json")
    }

    /// A response whose body is the file `tests/fixtures/<relative>`; `.json` files get
    /// `Content-Type: application/json`, `.txt` files `text/plain`.
    pub fn from_fixture(status: u16, relative: &str) -> Self {
        let body = fixture(relative);
        if relative.ends_with(".json") {
            Self::json(status, body)
        } else if relative.ends_with(".txt") {
            Self::new(status, body).with_header("content-type", "text/plain; charset=UTF-8")
        } else {
            Self::new(status, body)
        }
    }

    /// A response parsed from a recorded raw HTTP response in `tests/fixtures/` (such as
    /// `minio/recorded/cluster_503.http`): status line, headers, blank line, body. The
    /// `Content-Length`, `Transfer-Encoding` and `Connection` headers are left out (the server sets
    /// its own).
    pub fn from_http_recording(relative: &str) -> Self {
        let raw = fixture(relative);
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| (i, i + 4))
            .or_else(|| {
                raw.windows(2)
                    .position(|w| w == b"\n\n")
                    .map(|i| (i, i + 2))
            });
        let (head_end, body_start) = split.unwrap_or((raw.len(), raw.len()));
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{relative}: bad status line {status_line:?}"));
        let mut response = Self::new(status, raw[body_start..].to_vec());
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim();
            if ["content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
            {
                continue;
            }
            response = response.with_header(name, value.trim());
        }
        response
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Answers only after `delay`.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// A request a [`FixtureServer`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// Path and query, e.g. `/_cluster/health?timeout=5s`.
    pub path_and_query: String,
    /// The `Authorization` header, if any (see [`basic_auth_header`]).
    pub authorization: Option<String>,
    /// All request headers (lower-case names), in order.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(p, _)| p)
    }

    /// The value of a request header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Routes = HashMap<(String, String), FixtureResponse>;

#[derive(Default)]
struct Inner {
    routes: Mutex<Routes>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// An HTTP/1.1 server on `127.0.0.1:<free port>` answering from a route table
/// (method + path → [`FixtureResponse`]).
///
/// A route's path is matched first against the request's path and query exactly
/// (`/_cluster/health?level=cluster`), then against the path alone. The method `*` matches any
/// method. Unknown routes get `404` with the body `no fixture route for METHOD PATH`.
/// The server stops when dropped.
pub struct FixtureServer {
    port: u16,
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

impl FixtureServer {
    /// Starts a server with these routes: `(method, path, response)`.
    pub async fn start<'a>(
        routes: impl IntoIterator<Item = (&'a str, &'a str, FixtureResponse)>,
    ) -> Self {
        let inner = Arc::new(Inner::default());
        *lock(&inner.routes) = to_routes(routes);
        let port = free_port();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("FixtureServer: bind 127.0.0.1:{port}: {e}"));
        let app = Router::new().fallback(serve).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { port, inner, task }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Adds or replaces one route.
    pub fn set_route(&self, method: &str, path: &str, response: FixtureResponse) {
        lock(&self.inner.routes).insert(key(method, path), response);
    }

    /// The requests received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).clone()
    }

    /// The requests received so far for this path (query ignored).
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path() == path)
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.inner.requests).clear();
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(method: &str, path: &str) -> (String, String) {
    (method.to_ascii_uppercase(), path.to_owned())
}

fn to_routes<'a>(routes: impl IntoIterator<Item = (&'a str, &'a str, FixtureResponse)>) -> Routes {
    routes.into_iter().map(|(m, p, r)| (key(m, p), r)).collect()
}

async fn serve(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let header_text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    lock(&inner.requests).push(RecordedRequest {
        method: method.as_str().to_owned(),
        path_and_query: path_and_query.clone(),
        authorization: headers.get("authorization").map(header_text),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), header_text(v)))
            .collect(),
        body: body.to_vec(),
    });
    let found = {
        let routes = lock(&inner.routes);
        [
            key(method.as_str(), &path_and_query),
            key(method.as_str(), uri.path()),
            key("*", &path_and_query),
            key("*", uri.path()),
        ]
        .iter()
        .find_map(|k| routes.get(k).cloned())
    };
    let Some(fixture) = found else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from(format!(
                "no fixture route for {method} {path_and_query}"
            )))
            .expect("404 response");
    };
    if let Some(delay) = fixture.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::builder().status(
        StatusCode::from_u16(fixture.status)
            .unwrap_or_else(|e| panic!("bad fixture status {}: {e}", fixture.status)),
    );
    for (name, value) in &fixture.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("bad fixture header name {name:?}: {e}"));
        let value = HeaderValue::from_str(value)
            .unwrap_or_else(|e| panic!("bad fixture header value {value:?}: {e}"));
        response = response.header(name, value);
    }
    response
        .body(Body::from(fixture.body))
        .expect("fixture response")
}
