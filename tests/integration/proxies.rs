//! The environment's HTTP proxies, as the real binary reads them: a remote http:// target
//! goes through `HTTP_PROXY`, a remote https:// one tunnels through `HTTPS_PROXY`, a host
//! in `NO_PROXY` is reached directly, and loopback always is, whatever the variables say.
//! The remote target is an address of a veth pair in a network namespace the test makes
//! (root; skipped visibly where namespaces are refused), served by the fixture server
//! through a [`Front`] there; the proxy is a forward proxy of the test's own.

use std::net::IpAddr;

use crate::common;

use common::app::{Checked, check_binary, only};
use common::http_proxy::HttpProxy;
use common::netns::PeerNetwork;
use common::tls::{Front, PrivateCa};
use common::{FixtureResponse, FixtureServer};

/// An Elasticsearch fixture answering green.
async fn cluster() -> FixtureServer {
    FixtureServer::start([(
        "GET",
        "/_cluster/health",
        FixtureResponse::from_fixture(200, "elasticsearch/netdata/v8.4.2/cluster_health.json"),
    )])
    .await
}

/// The document engine alone at `url`, with `extra` in its section.
fn doc_engine(url: &str, extra: &str) -> String {
    format!(
        "{}[monitor]\ntimeout = \"5s\"\n[doc_engine]\nurl = \"{url}\"\n{extra}",
        only("doc_engine")
    )
}

/// Runs `check` and says whether the document engine was green.
async fn green(config: &str, env: &[(&str, &str)]) -> bool {
    let Checked { code, json, stderr } = check_binary(config, env).await;
    assert!(matches!(code, Some(0 | 1)), "{code:?}: {stderr}");
    json["components"]["doc_engine"]["status"] == "green"
}

#[tokio::test]
async fn loopback_is_reached_directly_whatever_the_proxy_variables_say() {
    let es = cluster().await;
    let proxy = HttpProxy::start().await;
    let every_variable = [
        ("HTTP_PROXY", proxy.url()),
        ("HTTPS_PROXY", proxy.url()),
        ("ALL_PROXY", proxy.url()),
        ("NO_PROXY", "example.com".to_owned()),
    ];
    let env: Vec<(&str, &str)> = every_variable
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    for host in ["127.0.0.1", "localhost"] {
        let config = doc_engine(&format!("http://{host}:{}", es.port()), "");
        assert!(green(&config, &env).await, "{host}");
    }
    assert_eq!(proxy.requests(), Vec::<String>::new());
    assert_eq!(es.requests_to("/_cluster/health").len(), 2);
}

#[tokio::test]
async fn a_remote_http_target_goes_through_http_proxy_unless_no_proxy_names_it() {
    let Some(network) = PeerNetwork::create("proxies::remote_http") else {
        return;
    };
    let es = cluster().await;
    let host = IpAddr::V4(network.host);
    let front = Front::plain(host, ([127, 0, 0, 1], es.port()).into()).await;
    let url = format!("http://{}", front.addr());
    let config = doc_engine(&url, "");
    let proxy = HttpProxy::start().await;
    let proxy_url = proxy.url();

    assert!(green(&config, &[("HTTP_PROXY", &proxy_url)]).await);
    assert_eq!(
        proxy.requests(),
        [format!("GET {url}/_cluster/health HTTP/1.1")]
    );

    let host_text = host.to_string();
    for no_proxy in [host_text.as_str(), "198.18.0.0/15", "*"] {
        assert!(
            green(
                &config,
                &[("http_proxy", &proxy_url), ("no_proxy", no_proxy)]
            )
            .await,
            "{no_proxy}"
        );
    }
    assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
    assert_eq!(es.requests_to("/_cluster/health").len(), 4);
}

#[tokio::test]
async fn a_remote_https_target_tunnels_through_https_proxy() {
    let Some(network) = PeerNetwork::create("proxies::remote_https") else {
        return;
    };
    let es = cluster().await;
    let ca = PrivateCa::new();
    let host = IpAddr::V4(network.host);
    let certificate = ca.issue("remote-es", &[&format!("IP:{host}")]);
    let front = Front::tls(host, ([127, 0, 0, 1], es.port()).into(), &certificate).await;
    let config = doc_engine(
        &format!("https://{}", front.addr()),
        &format!("tls_ca_file = \"{}\"\n", ca.ca_file().display()),
    );
    let proxy = HttpProxy::start().await;

    // HTTP_PROXY is for http:// targets: an https:// one ignores it.
    assert!(green(&config, &[("HTTP_PROXY", &proxy.url())]).await);
    assert_eq!(proxy.requests(), Vec::<String>::new());

    assert!(green(&config, &[("HTTPS_PROXY", &proxy.url())]).await);
    assert_eq!(
        proxy.requests(),
        [format!("CONNECT {} HTTP/1.1", front.addr())]
    );
    assert_eq!(es.requests_to("/_cluster/health").len(), 2);
}

#[tokio::test]
async fn a_proxy_variable_ragwatch_cannot_use_is_refused_without_its_password() {
    let config = doc_engine("http://127.0.0.1:9", "");
    let Checked { code, stderr, .. } = check_binary(
        &config,
        &[(
            "HTTPS_PROXY",
            "socks5://user:s3cret-proxy@proxy.example:1080",
        )],
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "ragwatch: invalid configuration: environment variable HTTPS_PROXY: proxy scheme `socks5` is not supported; use an http:// or https:// proxy\n"
    );
}
