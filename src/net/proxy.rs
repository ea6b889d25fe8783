//! HTTP proxies from the environment, read as curl reads them: `HTTPS_PROXY` for https://
//! targets, `HTTP_PROXY` for http:// ones, `ALL_PROXY` for both when those are unset (each
//! also in lower case), and `NO_PROXY`'s exceptions (names with their subdomains, IP
//! addresses and ranges, `*`). A loopback target (`localhost`, 127.0.0.0/8, ::1) is always
//! reached directly, whether NO_PROXY lists it or not: a proxy elsewhere cannot reach this
//! machine's loopback, and a health check of a local service must not depend on a proxy.

use reqwest::{ClientBuilder, NoProxy, Proxy};
use url::Url;

/// Always direct: loopback names and addresses (IPv4, IPv6, IPv4-mapped IPv6).
const LOOPBACK: &str = "localhost,127.0.0.0/8,::1,::ffff:127.0.0.0/104";

/// The proxies of http:// and https:// targets.
#[derive(Clone, Debug, Default)]
pub struct Proxies {
    http: Option<Proxy>,
    https: Option<Proxy>,
}

/// A proxy variable ragwatch cannot use. The message never repeats the value, which may
/// carry the proxy's password.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {variable}: {message}")]
pub struct ProxyError {
    /// The variable, as it is spelled in the environment.
    pub variable: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl Proxies {
    /// Reads the proxy variables through `var` (the process environment in production).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ProxyError> {
        let first = |names: [&'static str; 2]| {
            names.into_iter().find_map(|name| {
                var(name)
                    .filter(|value| !value.trim().is_empty())
                    .map(|value| (name, value))
            })
        };
        let all = first(["ALL_PROXY", "all_proxy"]);
        let http = first(["HTTP_PROXY", "http_proxy"]).or_else(|| all.clone());
        let https = first(["HTTPS_PROXY", "https_proxy"]).or(all);
        let no_proxy = first(["NO_PROXY", "no_proxy"]).map_or(String::new(), |(_, v)| v);
        // `*` alone is every host, addresses too (reqwest's matcher applies it to names only).
        if no_proxy.split(',').any(|entry| entry.trim() == "*") {
            return Ok(Self::default());
        }
        let exceptions = format!("{no_proxy},{LOOPBACK}");
        let proxy = |found: Option<(&'static str, String)>,
                     make: fn(Url) -> reqwest::Result<Proxy>| {
            found
                .map(|(variable, value)| {
                    let url =
                        proxy_url(&value).map_err(|message| ProxyError { variable, message })?;
                    let proxy = make(url).map_err(|e| ProxyError {
                        variable,
                        message: format!("not a usable proxy ({e})"),
                    })?;
                    Ok(proxy.no_proxy(NoProxy::from_string(&exceptions)))
                })
                .transpose()
        };
        Ok(Self {
            http: proxy(http, Proxy::http)?,
            https: proxy(https, Proxy::https)?,
        })
    }

    /// The client goes through these proxies and no other (reqwest's own reading of the
    /// environment would proxy loopback too).
    pub fn apply(&self, builder: ClientBuilder) -> ClientBuilder {
        let mut builder = builder.no_proxy();
        for proxy in [&self.http, &self.https].into_iter().flatten() {
            builder = builder.proxy(proxy.clone());
        }
        builder
    }

    /// Whether any proxy is set.
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }
}

/// A proxy's URL: `http://` is assumed without a scheme, as curl does; only HTTP proxies
/// (`http://`, `https://`) are supported.
fn proxy_url(value: &str) -> Result<Url, String> {
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| format!("not a proxy URL ({e})"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        "http" | "https" => Err("the proxy URL names no host".into()),
        other => Err(format!(
            "proxy scheme `{other}` is not supported; use an http:// or https:// proxy"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(vars: &[(&str, &str)]) -> Result<Proxies, ProxyError> {
        Proxies::from_env(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn no_variables_mean_no_proxy() {
        assert!(proxies(&[]).unwrap().is_empty());
        assert!(proxies(&[("HTTPS_PROXY", " ")]).unwrap().is_empty());
    }

    #[test]
    fn a_proxy_variable_ragwatch_cannot_use_is_named_without_its_value() {
        let err = proxies(&[("https_proxy", "socks5://user:s3cret@proxy:1080")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable https_proxy: proxy scheme `socks5` is not supported; use an http:// or https:// proxy"
        );
        let err = proxies(&[("ALL_PROXY", "http://user:s3cret@proxy:99999")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable ALL_PROXY: not a proxy URL (invalid port number)"
        );
        assert!(!err.to_string().contains("s3cret"));
    }

    #[test]
    fn no_proxy_star_turns_every_proxy_off() {
        let vars = [
            ("ALL_PROXY", "http://proxy:3128"),
            ("NO_PROXY", "a.example, *"),
        ];
        assert!(proxies(&vars).unwrap().is_empty());
        assert!(!proxies(&vars[..1]).unwrap().is_empty());
    }

    #[test]
    fn a_proxy_without_scheme_is_http() {
        assert_eq!(
            proxy_url("proxy.internal:3128").unwrap().as_str(),
            "http://proxy.internal:3128/"
        );
    }
}
