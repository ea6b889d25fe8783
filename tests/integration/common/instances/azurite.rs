//! [`AzuriteServer`]: an Azure Blob service of its own (Azurite).

use std::ffi::OsString;
use std::time::Duration;

use super::programs::find_program;
use super::wire::http_status;
use super::{Instance, Kind, Launch, local_http, temp_dir};
use crate::common::free_port;

/// An Azure Blob service of its own: `azurite-blob` on a free port, in memory, telemetry off,
/// with one storage account (`AZURITE_ACCOUNTS`) whose key the test chooses. URLs are
/// path-style: `http://127.0.0.1:<port>/<account>/<container>`. Requests must be signed (Shared
/// Key or SAS); containers are created with an account SAS this helper signs itself. Started
/// again, it has no containers.
pub type AzuriteServer = Instance<Azurite>;

/// Azurite: ready when it answers HTTP.
pub struct Azurite {
    account: String,
    key: String,
}

impl Kind for Azurite {
    async fn ready(&self, port: u16) -> bool {
        http_status(port, "/").await.is_some()
    }
}

impl Instance<Azurite> {
    /// The service version the helper's own requests and SAS tokens use.
    const VERSION: &'static str = "2021-06-08";

    /// Starts Azurite with this account (lowercase letters and digits) and base64 key, creates
    /// the containers, and returns once it answers.
    pub async fn start(account: &str, key: &str, containers: &[&str]) -> Self {
        let dir = temp_dir("ragwatch-azurite-");
        let port = free_port();
        let args: Vec<OsString> = vec![
            "--blobHost".into(),
            "127.0.0.1".into(),
            "--blobPort".into(),
            port.to_string().into(),
            "--inMemoryPersistence".into(),
            "--disableTelemetry".into(),
            // Azurite lags behind the service versions the Azure SDK sends.
            "--skipApiVersionCheck".into(),
            "--silent".into(),
        ];
        let launch = Launch {
            env: vec![("AZURITE_ACCOUNTS".into(), format!("{account}:{key}").into())],
            ..Launch::new(
                "azurite-blob",
                find_program(&["azurite-blob"], &[]),
                args,
                Duration::from_secs(5),
            )
        };
        let kind = Azurite {
            account: account.to_owned(),
            key: key.to_owned(),
        };
        let instance = Self::launch(kind, port, launch, dir).await;
        for container in containers {
            instance.create_container(container).await;
        }
        instance
    }

    /// `http://127.0.0.1:<port>/<account>`: the account's blob endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{}", self.port, self.kind.account)
    }

    /// An account SAS for the blob service, valid for an hour, signed with `key` (pass
    /// another key for a forged token). `permissions` as Azure writes them (`rl`, `rwdlac`),
    /// `resource_types` from `s` (service), `c` (container), `o` (object).
    pub fn account_sas(&self, key: &str, permissions: &str, resource_types: &str) -> String {
        let expiry = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1))
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        // Account SAS string-to-sign since version 2020-12-06 (empty IP, protocol and
        // encryption scope), with its closing newline.
        let to_sign = format!(
            "{}\n{permissions}\nb\n{resource_types}\n\n{expiry}\n\n\n{}\n\n",
            self.kind.account,
            Self::VERSION
        );
        let signature = azure_core::hmac::hmac_sha256(
            &to_sign,
            &azure_core::credentials::Secret::new(key.to_owned()),
        )
        .expect("account key is base64");
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sv", Self::VERSION)
            .append_pair("ss", "b")
            .append_pair("srt", resource_types)
            .append_pair("sp", permissions)
            .append_pair("se", &expiry)
            .append_pair("sig", &signature)
            .finish()
    }

    /// Creates a container (`PUT ?restype=container`, authorised by an account SAS).
    pub async fn create_container(&self, name: &str) {
        let sas = self.account_sas(&self.kind.key, "rwdlac", "sco");
        let url = format!("{}/{name}?restype=container&{sas}", self.endpoint());
        let response = local_http()
            .put(url)
            .header("x-ms-version", Self::VERSION)
            .header("content-length", "0")
            .send()
            .await
            .unwrap_or_else(|e| panic!("create container {name}: {e}"));
        assert_eq!(
            response.status().as_u16(),
            201,
            "create container {name}: {}",
            response.text().await.unwrap_or_default()
        );
    }
}
