//! Who reads tenant data. With no `server.tokens`, the endpoints holding it answer loopback
//! clients only, judged by the TCP peer address (forwarding headers are ignored), also on a
//! dual-stack listener; a client in a network namespace of its own ([`PeerNetwork`]) gets
//! 401 saying how to open them, while healthz, the probes and `/metrics` stay open. A token,
//! or `server.open = true` (logged at start), serves it; the System page tells a browser
//! that no token can help.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::browser::Browser;
use crate::common::netns::PeerNetwork;
use crate::common::{free_port, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ragwatch");
const TOKEN: &str = "access-Token-3c9e";
/// What a non-loopback client is told while no tokens are configured.
const LOOPBACK_ONLY: &str = "ragwatch has no server.tokens, so it serves this to loopback clients only: \
     set server.tokens (or RAGWATCH_SERVER__TOKENS) and send Authorization: Bearer <token>, \
     or set server.open = true to serve every client";
/// Every endpoint that can carry tenant data (past the guard the executor ones answer 404:
/// the executors are not watched here).
const TENANT_PATHS: [&str; 11] = [
    "/v1/system/status",
    "/api/v1/system/status",
    "/api/v1/components",
    "/api/v1/components/redis",
    "/api/v1/components/redis/history",
    "/api/v1/incidents",
    "/api/v1/cluster",
    "/api/v1/incidents/open",
    "/api/v1/executors",
    "/api/v1/executors/te_1/intervals",
    "/api/v1/executors/te_1/intervals/1000",
];
/// Endpoints open to everyone, whatever the tokens, and their answer.
const OPEN_PATHS: [(&str, u16); 9] = [
    ("/", 200),
    ("/ui/app.js", 200),
    ("/v1/system/healthz", 200),
    ("/api/v1/system/healthz", 200),
    ("/livez", 200),
    ("/readyz", 200),
    ("/startedz", 200),
    ("/api/v1/openapi.json", 200),
    ("/metrics", 200),
];

/// `ragwatch serve` listening on `ip` (every interface: `0.0.0.0` or `[::]`) with `server`
/// keys added to `[server]`, watching the machine's Redis; its log kept in a file.
struct Served {
    port: u16,
    log: PathBuf,
    _server: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start(ip: &str, server: &str) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ragwatch.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"{ip}:{port}\"\n{server}\n[monitor]\ninterval = \"1h\"\ntimeout = \"3s\"\n\
                 [db]\nenabled = false\n[redis]\nurl = \"redis://127.0.0.1:6379/1\"\n\
                 [doc_engine]\nenabled = false\n[storage]\nenabled = false\n[task_executors]\nenabled = false\n\
                 [history]\nurl = \"sqlite://{}/history.db\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let log = dir.path().join("ragwatch.log");
        let server = tokio::process::Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("RAGWATCH_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let served = Self {
            port,
            log,
            _server: server,
            _dir: dir,
        };
        wait_until("ragwatch has done its first round", || async {
            match served.get_local("127.0.0.1", "/startedz", None).await {
                Ok((200, _)) => Ok(()),
                other => Err(format!("{other:?}\n{}", served.log())),
            }
        })
        .await;
        served
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GETs `path` from this side, on loopback address `host`.
    async fn get_local(
        &self,
        host: &str,
        path: &str,
        token: Option<&str>,
    ) -> Result<(u16, String), reqwest::Error> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut request = client.get(format!("http://{host}:{}{path}", self.port));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }
}

/// One answer as curl saw it from inside the namespace.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Header lines, names lowercased.
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// GETs `path` of `served` from inside `network`, at the address of this side of the pair.
async fn get_from_peer(
    network: &PeerNetwork,
    served: &Served,
    path: &str,
    headers: &[&str],
) -> Answer {
    let url = format!("http://{}:{}{path}", network.host, served.port);
    let mut args = vec!["-sS", "-i", "--noproxy", "*", "--max-time", "20"];
    for header in headers {
        args.extend(["-H", header]);
    }
    args.push(&url);
    let out = network.run("curl", &args).await;
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    Answer {
        status: status.parse().unwrap(),
        headers: lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect(),
        body: body.to_owned(),
    }
}

/// Every tenant endpoint refuses the peer with the loopback rule's 401; every open one
/// answers it.
async fn loopback_rule_holds(network: &PeerNetwork, served: &Served) {
    for path in TENANT_PATHS {
        let answer = get_from_peer(network, served, path, &[]).await;
        assert_eq!(answer.status, 401, "{path}: {answer:?}");
        assert_eq!(
            answer.json(),
            json!({"code": 401, "message": LOOPBACK_ONLY}),
            "{path}"
        );
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"), "{path}");
        assert_eq!(
            answer.header("x-ragwatch-access"),
            Some("loopback-only"),
            "{path}"
        );
    }
    // Headers a client writes say nothing of where it is; nor does a token when none are set.
    for header in [
        "X-Forwarded-For: 127.0.0.1",
        "X-Real-IP: 127.0.0.1",
        "Forwarded: for=127.0.0.1",
        "Host: localhost",
        "Authorization: Bearer anything",
    ] {
        let answer = get_from_peer(network, served, "/v1/system/status", &[header]).await;
        assert_eq!(answer.status, 401, "{header}: {answer:?}");
    }
    for (path, status) in OPEN_PATHS {
        let answer = get_from_peer(network, served, path, &[]).await;
        assert_eq!(answer.status, status, "{path}: {answer:?}");
    }
}

#[tokio::test]
async fn with_no_tokens_tenant_data_is_served_to_loopback_clients_only() {
    let Some(network) = PeerNetwork::create("with_no_tokens_tenant_data_is_served_to_loopback")
    else {
        return;
    };
    // IPv4 only, then dual-stack: there an IPv4 client is an IPv4-mapped IPv6 address.
    for (listen, loopbacks) in [
        ("0.0.0.0", &["127.0.0.1"][..]),
        ("[::]", &["127.0.0.1", "[::1]"][..]),
    ] {
        let served = Served::start(listen, "").await;
        for host in loopbacks {
            for path in TENANT_PATHS {
                let (status, body) = served.get_local(host, path, None).await.unwrap();
                assert_ne!(status, 401, "{listen} from {host}{path}: {body}");
            }
            let (status, body) = served
                .get_local(host, "/v1/system/status", None)
                .await
                .unwrap();
            assert_eq!(status, 200, "{listen} from {host}: {body}");
        }
        loopback_rule_holds(&network, &served).await;
        assert!(
            !served.log().contains("server.open"),
            "no warning when closed:\n{}",
            served.log()
        );
    }
}

#[tokio::test]
async fn a_token_or_server_open_serves_a_non_loopback_client() {
    let Some(network) = PeerNetwork::create("a_token_or_server_open_serves_a_non_loopback_client")
    else {
        return;
    };
    let served = Served::start("0.0.0.0", &format!("tokens = [\"{TOKEN}\"]")).await;
    let bearer = format!("Authorization: Bearer {TOKEN}");
    for path in TENANT_PATHS {
        let answer = get_from_peer(&network, &served, path, &[&bearer]).await;
        assert_ne!(answer.status, 401, "{path}: {answer:?}");
        let refused = get_from_peer(&network, &served, path, &[]).await;
        assert_eq!(
            (refused.status, refused.json()),
            (
                401,
                json!({"code": 401, "message": "Missing Authorization header"})
            ),
            "{path}"
        );
        assert_eq!(refused.header("x-ragwatch-access"), None, "{path}");
        // Tokens bind loopback clients too.
        let (status, _) = served.get_local("127.0.0.1", path, None).await.unwrap();
        assert_eq!(status, 401, "{path} from loopback");
    }
    let wrong = get_from_peer(
        &network,
        &served,
        "/v1/system/status",
        &["Authorization: Bearer wrong"],
    )
    .await;
    assert_eq!(wrong.json()["message"], "Invalid access token");
    // /metrics asks for a token once there are tokens, as it always did.
    let scrape = get_from_peer(&network, &served, "/metrics", &[]).await;
    assert_eq!(scrape.status, 401);
    let scrape = get_from_peer(&network, &served, "/metrics", &[&bearer]).await;
    assert_eq!(scrape.status, 200);
    drop(served);

    let served = Served::start("0.0.0.0", "open = true").await;
    for path in TENANT_PATHS {
        let answer = get_from_peer(&network, &served, path, &[]).await;
        assert_ne!(answer.status, 401, "{path}: {answer:?}");
    }
    let answer = get_from_peer(&network, &served, "/v1/system/status", &[]).await;
    assert_eq!((answer.status, &answer.json()["code"]), (200, &json!(0)));
    let log = served.log();
    assert!(
        log.contains("WARN") && log.contains("server.open = true: every client"),
        "{log}"
    );
}

#[tokio::test]
async fn the_page_tells_a_non_loopback_browser_that_tokens_must_be_set() {
    let Some(network) = PeerNetwork::create("the_page_tells_a_non_loopback_browser") else {
        return;
    };
    let served = Served::start("0.0.0.0", "").await;
    // This side's address of the pair is not loopback: a browser here connecting to it is
    // a client from that address.
    let browser = Browser::start(1280, 1000).await;
    browser
        .open(&format!("http://{}:{}/", network.host, served.port))
        .await;
    let shown = browser
        .wait_for(
            "the refusal in the token prompt",
            "(() => { const e = document.getElementById('token-error'); \
             return document.getElementById('token-dialog').open && !e.hidden ? e.innerText : null; })()",
        )
        .await;
    assert_eq!(shown, LOOPBACK_ONLY);
    let cards = browser
        .run(
            "return document.querySelectorAll('#components .card').length;",
            vec![],
        )
        .await;
    assert_eq!(cards, 0, "nothing shows to a non-loopback client");
}
