//! [`GcsEmulator`]: a Google Cloud Storage JSON API of its own (gcp-storage-emulator).

use std::ffi::OsString;
use std::time::Duration;

use super::programs::find_program;
use super::wire::http_status;
use super::{Instance, Kind, Launch, local_http, temp_dir};
use crate::common::free_port;

/// A GCS JSON API of its own: `gcp-storage-emulator start` on a free port, in memory. It takes
/// no credentials; buckets are made and changed with its JSON API. Started again, it has no
/// buckets.
pub type GcsEmulator = Instance<Gcs>;

/// gcp-storage-emulator: ready when it answers HTTP.
pub struct Gcs;

impl Kind for Gcs {
    async fn ready(&self, port: u16) -> bool {
        http_status(port, "/").await.is_some()
    }
}

impl Instance<Gcs> {
    /// Starts the emulator and creates the buckets; returns once it answers.
    pub async fn start(buckets: &[&str]) -> Self {
        let dir = temp_dir("ragwatch-gcs-");
        let port = free_port();
        let args: Vec<OsString> = vec![
            "start".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string().into(),
            "--no-store-on-disk".into(),
        ];
        let launch = Launch::new(
            "gcp-storage-emulator",
            find_program(&["gcp-storage-emulator"], &[]),
            args,
            Duration::from_secs(5),
        );
        let instance = Self::launch(Gcs, port, launch, dir).await;
        for bucket in buckets {
            instance.create_bucket(bucket).await;
        }
        instance
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            response.status().is_success(),
            "{what}: HTTP {}",
            response.status()
        );
    }

    /// Creates a bucket (`POST /storage/v1/b`); the emulator makes it `US`, `STANDARD`.
    pub async fn create_bucket(&self, name: &str) {
        let url = format!("{}/storage/v1/b?project=ragwatch", self.endpoint());
        let body = serde_json::json!({ "name": name });
        self.send(
            local_http().post(url).json(&body),
            &format!("create bucket {name}"),
        )
        .await;
    }

    /// Sets a bucket's location and storage class (`PATCH /storage/v1/b/<name>`).
    pub async fn set_bucket(&self, name: &str, location: &str, storage_class: &str) {
        let url = format!("{}/storage/v1/b/{name}", self.endpoint());
        let body = serde_json::json!({ "location": location, "storageClass": storage_class });
        self.send(
            local_http().patch(url).json(&body),
            &format!("patch bucket {name}"),
        )
        .await;
    }
}
