//! The S3/MinIO probe against a real S3 server (s3s-fs) with real SigV4 credentials.

use crate::common;

use common::app::{only, probe_only};
use common::{FaultProxy, S3Server, free_port};
use ragwatch::probe::{ProbeResult, Status};

async fn probe(endpoint: &str, access: &str, secret: &str, bucket: &str) -> ProbeResult {
    probe_only(&format!(
        "{}[storage]\nkind = \"s3\"\nendpoint = \"{endpoint}\"\naccess_key = \"{access}\"\nsecret_key = \"{secret}\"\nbucket = \"{bucket}\"\ntimeout = \"2s\"\n",
        only("storage")
    ))
    .await
}

#[tokio::test]
async fn head_bucket_and_list_buckets_are_green() {
    let s3 = S3Server::start("probe-key", "probe-secret", &["ragflow", "other"]).await;
    let head = probe(&s3.endpoint(), "probe-key", "probe-secret", "ragflow").await;
    assert_eq!(head.status, Status::Green, "{:?}", head.error);
    assert_eq!(head.details["bucket"], "ragflow");
    let list = probe(&s3.endpoint(), "probe-key", "probe-secret", "").await;
    assert_eq!(list.status, Status::Green, "{:?}", list.error);
    assert_eq!(list.details["buckets"], 2);
}

#[tokio::test]
async fn failures_say_what_to_fix() {
    let s3 = S3Server::start("probe-key", "probe-secret", &["ragflow"]).await;
    let endpoint = s3.endpoint();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let cases = [
        (
            "missing bucket",
            endpoint.as_str(),
            "probe-key",
            "probe-secret",
            "gone",
            "bucket 'gone' does not exist".to_owned(),
        ),
        (
            "wrong secret, head",
            endpoint.as_str(),
            "probe-key",
            "wrong-secret",
            "ragflow",
            "S3 rejected the secret key of access key 'probe-key' (SignatureDoesNotMatch): check storage.secret_key".to_owned(),
        ),
        (
            "wrong secret, list",
            endpoint.as_str(),
            "probe-key",
            "wrong-secret",
            "",
            "S3 rejected the secret key of access key 'probe-key' (SignatureDoesNotMatch): check storage.secret_key".to_owned(),
        ),
        (
            "refused",
            closed.as_str(),
            "probe-key",
            "probe-secret",
            "ragflow",
            format!("connection refused to {}", closed.trim_start_matches("http://")),
        ),
    ];
    for (name, endpoint, access, secret, bucket, expected) in cases {
        let result = probe(endpoint, access, secret, bucket).await;
        assert_eq!(result.status, Status::Red, "{name}");
        assert_eq!(result.error.as_deref(), Some(expected.as_str()), "{name}");
    }
}

#[tokio::test]
async fn an_unknown_access_key_is_named() {
    let s3 = S3Server::start("probe-key", "probe-secret", &["ragflow"]).await;
    let result = probe(&s3.endpoint(), "someone-else", "probe-secret", "ragflow").await;
    assert_eq!(result.status, Status::Red);
    let error = result.error.unwrap();
    assert!(error.contains("'someone-else'"), "{error}");
    assert!(!error.contains("probe-secret"), "{error}");
}

#[tokio::test]
async fn a_black_hole_is_bounded_by_the_timeout() {
    let hole = FaultProxy::black_hole().await;
    let endpoint = format!("http://{}", hole.host_port());
    let result = probe_only(&format!(
        "{}[storage]\nendpoint = \"{endpoint}\"\nbucket = \"ragflow\"\ntimeout = \"600ms\"\n",
        only("storage")
    ))
    .await;
    assert_eq!(result.error.as_deref(), Some("timed out after 600 ms"));
}

/// Alibaba Cloud OSS speaks the S3 protocol; path-style here, since the test server has no
/// bucket host names (virtual-hosted URLs are checked in `probe::s3`'s unit tests).
#[tokio::test]
async fn oss_is_probed_over_the_s3_protocol() {
    let s3 = S3Server::start("oss-key", "oss-secret", &["ragflow"]).await;
    let oss = |secret: &str, bucket: &str| {
        format!(
            "{}[storage]\nkind = \"oss\"\nendpoint = \"{}\"\naccess_key = \"oss-key\"\nsecret_key = \"{secret}\"\nbucket = \"{bucket}\"\nregion = \"oss-cn-hangzhou\"\naddressing_style = \"path\"\ntimeout = \"2s\"\n",
            only("storage"),
            s3.endpoint()
        )
    };
    let green = probe_only(&oss("oss-secret", "ragflow")).await;
    assert_eq!(green.status, Status::Green, "{:?}", green.error);
    assert_eq!(green.details["bucket"], "ragflow");
    let missing = probe_only(&oss("oss-secret", "gone")).await;
    assert_eq!(
        missing.error.as_deref(),
        Some("bucket 'gone' does not exist")
    );
    let wrong = probe_only(&oss("not-the-secret", "ragflow")).await;
    assert_eq!(
        wrong.error.as_deref(),
        Some(
            "S3 rejected the secret key of access key 'oss-key' (SignatureDoesNotMatch): check storage.secret_key"
        )
    );
}
