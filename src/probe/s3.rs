//! S3, MinIO and Alibaba Cloud OSS (its S3-compatible API), read-only: HeadBucket on the
//! configured bucket, else ListBuckets, each signed with SigV4 by rusty-s3. A 403 is
//! diagnosed (wrong secret, unknown access key, or a key that may not read the bucket); a
//! 404 is a missing bucket.

use std::time::Duration;

use reqwest::StatusCode;
use rusty_s3::actions::HeadBucket;
use rusty_s3::{Bucket, Credentials, Method, S3Action, UrlStyle};
use url::Url;

use super::{Outcome, Probe, ProbeError, fetch, into_details};
use crate::config::{AddressingStyle, KeyError, S3Config, StorageKind, host_port};

/// How long a signed request stays valid: long enough for any probe timeout.
const SIGNATURE_TTL: Duration = Duration::from_secs(60);

/// Probes object storage without writing anything.
pub struct S3Probe {
    client: reqwest::Client,
    endpoint: Url,
    region: String,
    credentials: Credentials,
    bucket: Option<Bucket>,
    target: String,
    timeout: Duration,
}

impl S3Probe {
    /// Reads endpoint, credentials and bucket from `[storage]` of an S3-style `kind`;
    /// requests go through `client`.
    pub fn new(
        config: &S3Config,
        kind: StorageKind,
        timeout: Duration,
        client: reqwest::Client,
    ) -> Result<Self, KeyError> {
        let bucket = match config.bucket.trim() {
            "" => None,
            name => Some(
                Bucket::new(
                    config.endpoint.clone(),
                    match config.addressing_style(kind) {
                        AddressingStyle::Path => UrlStyle::Path,
                        AddressingStyle::Virtual => UrlStyle::VirtualHost,
                    },
                    name.to_owned(),
                    config.region.clone(),
                )
                .map_err(|e| KeyError::new("storage.bucket", e.to_string()))?,
            ),
        };
        Ok(Self {
            client,
            endpoint: config.endpoint.clone(),
            region: config.region.clone(),
            credentials: Credentials::new(&config.access_key, config.secret_key.expose()),
            bucket,
            target: host_port(&config.endpoint, 80),
            timeout,
        })
    }

    /// A signed ListBuckets request (`GET /`).
    fn list_buckets_url(&self) -> Url {
        rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            Method::Get,
            self.endpoint.clone(),
            self.credentials.key(),
            self.credentials.secret(),
            None,
            &self.region,
            SIGNATURE_TTL.as_secs(),
            std::iter::empty(),
            std::iter::empty(),
        )
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
    ) -> Result<(StatusCode, String), ProbeError> {
        let request = self.client.request(method, url);
        let (status, body) = fetch(request, &self.target, self.timeout).await?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    async fn head_bucket(&self, bucket: &Bucket) -> Result<Outcome, ProbeError> {
        let url = HeadBucket::new(bucket, Some(&self.credentials)).sign(SIGNATURE_TTL);
        let (status, _) = self.send(reqwest::Method::HEAD, url).await?;
        match status {
            s if s.is_success() => Ok(Outcome::green(into_details(serde_json::json!({
                "bucket": bucket.name(),
            })))),
            StatusCode::NOT_FOUND => Err(ProbeError::Rejected(format!(
                "bucket '{}' does not exist",
                bucket.name()
            ))),
            StatusCode::FORBIDDEN => {
                // HEAD answers carry no error code; ask ListBuckets why access was denied.
                let (_, body) = self
                    .send(reqwest::Method::GET, self.list_buckets_url())
                    .await?;
                Err(self.denied(&body, Some(bucket.name())))
            }
            other => Err(self.unexpected(other, "")),
        }
    }

    async fn list_buckets(&self) -> Result<Outcome, ProbeError> {
        let (status, body) = self
            .send(reqwest::Method::GET, self.list_buckets_url())
            .await?;
        match status {
            s if s.is_success() => Ok(Outcome::green(into_details(serde_json::json!({
                "buckets": body.matches("<Bucket>").count(),
            })))),
            StatusCode::FORBIDDEN => Err(self.denied(&body, None)),
            other => Err(self.unexpected(other, &body)),
        }
    }

    /// Says which part of the credentials S3 refused, from its error code.
    fn denied(&self, body: &str, bucket: Option<&str>) -> ProbeError {
        let key = self.credentials.key();
        let message = match xml_field(body, "Code").as_deref() {
            Some("SignatureDoesNotMatch") => format!(
                "S3 rejected the secret key of access key '{key}' (SignatureDoesNotMatch): check storage.secret_key"
            ),
            Some("InvalidAccessKeyId") => format!(
                "S3 does not know access key '{key}' (InvalidAccessKeyId): check storage.access_key"
            ),
            Some("RequestTimeTooSkewed") => {
                "S3 refused the request: this machine's clock is too far off (RequestTimeTooSkewed)"
                    .into()
            }
            code => {
                let what = match bucket {
                    Some(b) => format!("read bucket '{b}'"),
                    None => "list buckets".into(),
                };
                format!(
                    "access key '{key}' may not {what} ({})",
                    code.unwrap_or("HTTP 403")
                )
            }
        };
        ProbeError::Rejected(message)
    }

    fn unexpected(&self, status: StatusCode, body: &str) -> ProbeError {
        let detail = match (xml_field(body, "Code"), xml_field(body, "Message")) {
            (Some(code), Some(message)) => format!(": {code}: {message}"),
            (Some(code), None) => format!(": {code}"),
            _ => String::new(),
        };
        ProbeError::Rejected(format!(
            "HTTP {} from {}{detail}",
            status.as_u16(),
            self.target
        ))
    }
}

/// The text of the first `<name>` element of an S3 XML error document.
fn xml_field(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{name}>"))?;
    Some(body[start..start + end].trim().to_owned())
}

impl Probe for S3Probe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        match &self.bucket {
            Some(bucket) => self.head_bucket(bucket).await,
            None => self.list_buckets().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket_url(kind: StorageKind, style: Option<AddressingStyle>) -> String {
        let config = S3Config {
            endpoint: Url::parse("https://oss-cn-hangzhou.aliyuncs.com").unwrap(),
            bucket: "ragflow".into(),
            addressing_style: style,
            ..S3Config::default()
        };
        let probe = S3Probe::new(
            &config,
            kind,
            Duration::from_secs(1),
            reqwest::Client::new(),
        )
        .unwrap();
        probe.bucket.unwrap().base_url().to_string()
    }

    #[test]
    fn oss_names_the_bucket_in_the_host_name() {
        // OSS refuses path-style requests; MinIO and S3 keep path style unless told.
        assert_eq!(
            bucket_url(StorageKind::Oss, None),
            "https://ragflow.oss-cn-hangzhou.aliyuncs.com/"
        );
        assert_eq!(
            bucket_url(StorageKind::S3, None),
            "https://oss-cn-hangzhou.aliyuncs.com/ragflow/"
        );
        assert_eq!(
            bucket_url(StorageKind::Oss, Some(AddressingStyle::Path)),
            "https://oss-cn-hangzhou.aliyuncs.com/ragflow/"
        );
        assert_eq!(
            bucket_url(StorageKind::Minio, Some(AddressingStyle::Virtual)),
            "https://ragflow.oss-cn-hangzhou.aliyuncs.com/"
        );
    }

    #[test]
    fn xml_field_reads_s3_error_documents() {
        let body = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(xml_field(body, "Code").as_deref(), Some("NoSuchBucket"));
        assert_eq!(
            xml_field(body, "Message").as_deref(),
            Some("The specified bucket does not exist")
        );
        assert_eq!(xml_field(body, "Resource"), None);
    }
}
