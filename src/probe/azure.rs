//! Azure Blob Storage, read-only: Get Container Properties through the Azure SDK
//! (`azure_storage_blob`), authorised by the account key (Shared Key) or a SAS token. The
//! SDK's requests go through our own reqwest client, with its retries off: a probe tries once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::Secret as AzureSecret;
use azure_core::error::ErrorKind;
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{
    AsyncRawResponse, ClientOptions, Context, HttpClient, Method, Request, RetryOptions,
    StatusCode, Transport, Url,
};
use azure_core::time::{OffsetDateTime, to_rfc3339, to_rfc7231};
use azure_storage_blob::models::BlobContainerClientGetPropertiesResultHeaders;
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};

use super::{Outcome, Probe, ProbeError, into_details, read_body};
use crate::config::{AzureConfig, KeyError, host_port};

/// Probes one container without writing anything.
pub struct AzureProbe {
    client: BlobContainerClient,
    account: String,
    container: String,
    /// Which credential is configured, for the advice in an authentication failure.
    credential: &'static str,
    target: String,
    timeout: Duration,
}

impl AzureProbe {
    /// Reads endpoint, account, credential and container from `[storage]`; requests go
    /// through `client`.
    pub fn new(
        config: &AzureConfig,
        timeout: Duration,
        client: reqwest::Client,
    ) -> Result<Self, KeyError> {
        let mut url = config.endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| KeyError::new("storage.endpoint", "cannot hold a container path"))?
            .pop_if_empty()
            .push(&config.container);
        let mut per_try_policies: Vec<Arc<dyn Policy>> = Vec::new();
        let credential = if config.account_key.is_empty() {
            url.set_query(Some(config.sas_query()));
            "storage.sas_token"
        } else {
            azure_core::base64::decode(config.account_key.expose()).map_err(|_| {
                KeyError::new(
                    "storage.account_key",
                    "not base64, as Azure shows account keys",
                )
            })?;
            per_try_policies.push(Arc::new(SharedKey {
                account: config.account_name.clone(),
                key: AzureSecret::new(config.account_key.expose().to_owned()),
            }));
            "storage.account_key"
        };
        let options = BlobContainerClientOptions {
            client_options: ClientOptions {
                per_try_policies,
                retry: RetryOptions::none(),
                transport: Some(Transport::new(Arc::new(ReqwestClient {
                    client,
                    target: host_port(&config.endpoint, 443),
                    timeout,
                }))),
                ..ClientOptions::default()
            },
            ..BlobContainerClientOptions::default()
        };
        let client = BlobContainerClient::new(url, None, Some(options))
            .map_err(|e| KeyError::new("storage", format!("cannot build the Azure client: {e}")))?;
        Ok(Self {
            client,
            account: config.account_name.clone(),
            container: config.container.clone(),
            credential,
            target: host_port(&config.endpoint, 443),
            timeout,
        })
    }

    /// Says what Azure refused, from its status and error code (`x-ms-error-code`). Azure's
    /// own message is left out: for a bad signature it repeats the string that was signed.
    fn refused(&self, error: azure_core::Error) -> ProbeError {
        let (status, code) = match error.kind() {
            ErrorKind::HttpResponse {
                status, error_code, ..
            } => (*status, error_code.clone().unwrap_or_default()),
            ErrorKind::Connection | ErrorKind::Io => {
                return match error.into_downcast::<reqwest::Error>() {
                    Ok(e) => ProbeError::http(e, &self.target, self.timeout),
                    Err(e) => match e.into_downcast::<ProbeError>() {
                        Ok(read) => read,
                        Err(e) => ProbeError::Connect {
                            target: self.target.clone(),
                            reason: super::root_cause(&e),
                        },
                    },
                };
            }
            _ => {
                return ProbeError::Protocol {
                    target: self.target.clone(),
                    reason: super::root_cause(&error),
                };
            }
        };
        let (account, container) = (&self.account, &self.container);
        ProbeError::Rejected(match (status, code.as_str()) {
            (StatusCode::NotFound, "ContainerNotFound") => {
                format!("container '{container}' does not exist in account '{account}'")
            }
            (StatusCode::NotFound, code) => format!(
                "account '{account}' not found at {} ({code}): check storage.endpoint and storage.account_name",
                self.target
            ),
            (
                StatusCode::Forbidden | StatusCode::Unauthorized,
                "AuthenticationFailed" | "AuthorizationFailure" | "",
            ) => {
                format!(
                    "authentication failed for account '{account}' (HTTP {}{}): check {}",
                    u16::from(status),
                    if code.is_empty() {
                        String::new()
                    } else {
                        format!(" {code}")
                    },
                    self.credential
                )
            }
            (StatusCode::Forbidden, code) => format!(
                "account '{account}' may not read container '{container}' with {} ({code})",
                self.credential
            ),
            (status, code) => format!(
                "HTTP {} from {}{}",
                u16::from(status),
                self.target,
                if code.is_empty() {
                    String::new()
                } else {
                    format!(": {code}")
                }
            ),
        })
    }
}

impl Probe for AzureProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        let response = self
            .client
            .get_properties(None)
            .await
            .map_err(|e| self.refused(e))?;
        let text = |value: Option<String>| value.map_or(serde_json::Value::Null, Into::into);
        Ok(Outcome::green(into_details(serde_json::json!({
            "container": self.container,
            "account": self.account,
            "last_modified": text(
                response
                    .last_modified()
                    .ok()
                    .flatten()
                    .map(|t| to_rfc3339(&t))
            ),
            "lease_state": text(response.lease_state().ok().flatten().map(|s| s.to_string())),
            "public_access": response
                .access()
                .ok()
                .flatten()
                .map_or_else(|| "none".to_owned(), |a| a.to_string()),
        }))))
    }
}

/// Shared Key authorisation: the request's canonical form signed with the account key
/// (HMAC-SHA256), as the Blob service defines it. The SDK itself offers only Entra ID
/// tokens and SAS.
#[derive(Debug)]
struct SharedKey {
    account: String,
    key: AzureSecret,
}

impl SharedKey {
    /// The string to sign: verb, the standard headers in their fixed order, the `x-ms-`
    /// headers sorted, then the account, path and sorted query parameters.
    fn string_to_sign(&self, request: &Request) -> String {
        let header = |name: &'static str| {
            request
                .headers()
                .get_optional_str(&HeaderName::from_static(name))
                .unwrap_or_default()
        };
        let mut out = format!("{}\n", request.method().as_ref());
        for name in [
            "content-encoding",
            "content-language",
            "content-length",
            "content-md5",
            "content-type",
            "date",
            "if-modified-since",
            "if-match",
            "if-none-match",
            "if-unmodified-since",
            "range",
        ] {
            // A zero length is signed as empty.
            let value = header(name);
            out.push_str(if name == "content-length" && value == "0" {
                ""
            } else {
                value
            });
            out.push('\n');
        }
        let mut ms_headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .filter(|(name, _)| name.starts_with("x-ms-"))
            .collect();
        ms_headers.sort();
        for (name, value) in ms_headers {
            out.push_str(&format!("{name}:{}\n", value.trim()));
        }
        out.push_str(&format!("/{}{}", self.account, request.url().path()));
        let mut params: Vec<(String, String)> = request
            .url()
            .query_pairs()
            .map(|(name, value)| (name.to_lowercase(), value.into_owned()))
            .collect();
        params.sort();
        for (name, value) in params {
            out.push_str(&format!("\n{name}:{value}"));
        }
        out
    }
}

#[async_trait]
impl Policy for SharedKey {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        request.insert_header("x-ms-date", to_rfc7231(&OffsetDateTime::now_utc()));
        let signature = azure_core::hmac::hmac_sha256(&self.string_to_sign(request), &self.key)?;
        request.insert_header(
            "authorization",
            format!("SharedKey {}:{signature}", self.account),
        );
        next[0].send(ctx, request, &next[1..]).await
    }
}

/// The SDK's transport on ragwatch's reqwest client: one TLS stack, our timeouts, no proxy,
/// bodies read as every HTTP probe reads them (bounded).
#[derive(Debug)]
struct ReqwestClient {
    client: reqwest::Client,
    target: String,
    timeout: Duration,
}

#[async_trait]
impl HttpClient for ReqwestClient {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let method = match request.method() {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            other => {
                return Err(azure_core::Error::with_message(
                    ErrorKind::Other,
                    format!("a read-only probe does not send {}", other.as_ref()),
                ));
            }
        };
        let mut builder = self.client.request(method, Url::clone(request.url()));
        for (name, value) in request.headers().iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let io = |e: reqwest::Error| {
            let kind = if e.is_connect() {
                ErrorKind::Connection
            } else {
                ErrorKind::Io
            };
            azure_core::Error::new(kind, e)
        };
        let response = builder.send().await.map_err(io)?;
        let status = response.status().as_u16();
        let mut headers = Headers::new();
        for (name, value) in response.headers() {
            if let Ok(value) = value.to_str() {
                headers.insert(
                    HeaderName::from(name.as_str().to_owned()),
                    HeaderValue::from(value.to_owned()),
                );
            }
        }
        let body = read_body(response, &self.target, self.timeout)
            .await
            .map_err(|e| azure_core::Error::new(ErrorKind::Io, e))?;
        Ok(AsyncRawResponse::from_bytes(
            StatusCode::from(status),
            headers,
            body,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Azure's "Authorize with Shared Key" page, in the shape our requests
    /// have: a GET with `x-ms-` headers and query parameters out of order.
    #[test]
    fn string_to_sign_is_canonical() {
        let key = SharedKey {
            account: "myaccount".into(),
            key: AzureSecret::new("a2V5"),
        };
        let url = Url::parse(
            "https://myaccount.blob.core.windows.net/mycontainer?restype=container&COMP=metadata",
        )
        .unwrap();
        let mut request = Request::new(url, Method::Get);
        request.insert_header("x-ms-version", "2026-02-06");
        request.insert_header("x-ms-date", "Fri, 26 Jun 2015 23:39:12 GMT");
        request.insert_header("x-ms-client-request-id", " id-1 ");
        request.insert_header("content-length", "0");
        assert_eq!(
            key.string_to_sign(&request),
            "GET\n\n\n\n\n\n\n\n\n\n\n\n\
             x-ms-client-request-id:id-1\n\
             x-ms-date:Fri, 26 Jun 2015 23:39:12 GMT\n\
             x-ms-version:2026-02-06\n\
             /myaccount/mycontainer\ncomp:metadata\nrestype:container"
        );
    }
}
