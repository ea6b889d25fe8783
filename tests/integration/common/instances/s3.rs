//! [`S3Server`]: an S3 server of its own (s3s-fs).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::programs::{cargo_bin_dirs, find_program};
use super::wire::http_status;
use super::{Instance, Kind, Launch, temp_dir};
use crate::common::free_port;

/// An S3 server of its own: `s3s-fs --host 127.0.0.1 --port P --access-key .. --secret-key ..
/// <root>`, path-style. A bucket is a directory in the root dir; objects are files in it.
/// Requests must be signed (SigV4, any region); an unsigned request gets `403 AccessDenied`.
pub type S3Server = Instance<S3>;

/// s3s-fs: ready when it answers HTTP.
pub struct S3;

impl Kind for S3 {
    async fn ready(&self, port: u16) -> bool {
        http_status(port, "/").await.is_some()
    }
}

impl Instance<S3> {
    /// Starts s3s-fs with these credentials and buckets and waits until it answers HTTP.
    pub async fn start(access_key: &str, secret_key: &str, buckets: &[&str]) -> Self {
        let dir = temp_dir("ragwatch-s3-");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("create s3 root");
        for bucket in buckets {
            std::fs::create_dir(root.join(bucket))
                .unwrap_or_else(|e| panic!("create bucket {bucket}: {e}"));
        }
        let port = free_port();
        let args: Vec<OsString> = vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string().into(),
            "--access-key".into(),
            access_key.into(),
            "--secret-key".into(),
            secret_key.into(),
            root.into(),
        ];
        let launch = Launch::new(
            "s3s-fs",
            find_program(&["s3s-fs"], &cargo_bin_dirs()),
            args,
            Duration::from_secs(5),
        );
        Self::launch(S3, port, launch, dir).await
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The root dir: one directory per bucket.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
}
