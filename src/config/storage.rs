//! `[storage]`: object storage, whose `kind` picks the struct its keys are read into: S3
//! (MinIO, S3, OSS), Azure Blob or Google Cloud Storage. A key of another kind is refused
//! by that struct itself (`deny_unknown_fields`).

use serde::{Deserialize, Serialize};
use url::Url;

use super::kind::{Quoted, text_kinds};
use super::load::is_unknown_key;
use super::secret::plain_url;
use super::section::{field_names, with_settings};
use super::{ComponentSettings, KeyError, Secret, Secrets};

/// Object storage kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StorageKind {
    /// MinIO.
    #[default]
    Minio,
    /// Any S3-compatible service.
    S3,
    /// Alibaba Cloud OSS, through its S3-compatible API.
    Oss,
    /// Azure Blob Storage.
    Azure,
    /// Google Cloud Storage.
    Gcs,
}

impl StorageKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [Self::Minio, Self::S3, Self::Oss, Self::Azure, Self::Gcs];

    /// The kind as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minio => "minio",
            Self::S3 => "s3",
            Self::Oss => "oss",
            Self::Azure => "azure",
            Self::Gcs => "gcs",
        }
    }
}

text_kinds!(StorageKind);

impl StorageKind {
    /// The keys that must be given: the defaults only fit a local MinIO.
    fn required_keys(self) -> &'static [&'static str] {
        match self {
            Self::Minio | Self::S3 => &[],
            Self::Oss => &["endpoint", "access_key", "secret_key", "region"],
            Self::Azure => &["account_name", "container"],
            Self::Gcs => &["bucket"],
        }
    }

    /// The keys its struct reads.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Minio | Self::S3 | Self::Oss => field_names::<S3Config>(),
            Self::Azure => field_names::<AzureConfig>(),
            Self::Gcs => field_names::<GcsConfig>(),
        }
    }
}

/// `[storage]`: the service and its schedule.
#[derive(Clone, Debug, Default)]
pub struct StorageConfig {
    /// The service, by kind.
    pub service: StorageService,
    /// Schedule and weight.
    pub settings: ComponentSettings,
}

/// The storage service, with the keys its kind reads.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum StorageService {
    /// MinIO.
    Minio(S3Config),
    /// Any S3-compatible service.
    S3(S3Config),
    /// Alibaba Cloud OSS.
    Oss(S3Config),
    /// Azure Blob Storage.
    Azure(AzureConfig),
    /// Google Cloud Storage.
    Gcs(GcsConfig),
}

impl Default for StorageService {
    fn default() -> Self {
        Self::Minio(S3Config::default())
    }
}

impl StorageService {
    /// Its kind.
    pub fn kind(&self) -> StorageKind {
        match self {
            Self::Minio(_) => StorageKind::Minio,
            Self::S3(_) => StorageKind::S3,
            Self::Oss(_) => StorageKind::Oss,
            Self::Azure(_) => StorageKind::Azure,
            Self::Gcs(_) => StorageKind::Gcs,
        }
    }

    /// The endpoint it is reached at.
    pub fn endpoint(&self) -> &Url {
        match self {
            Self::Minio(s3) | Self::S3(s3) | Self::Oss(s3) => &s3.endpoint,
            Self::Azure(azure) => &azure.endpoint,
            Self::Gcs(gcs) => &gcs.endpoint,
        }
    }
}

impl StorageConfig {
    /// Its kind.
    pub fn kind(&self) -> StorageKind {
        self.service.kind()
    }

    /// Reads `[storage]` (absent: a local MinIO). Keys come in any order, so the kind is
    /// taken out first; then its struct reads the rest.
    pub fn read(section: Option<toml::Value>) -> Result<Self, KeyError> {
        let mut table = match section {
            None => return Ok(Self::default()),
            Some(toml::Value::Table(table)) => table,
            Some(other) => {
                return Err(KeyError::new(
                    "storage",
                    format!("invalid type: {}, expected a table", other.type_str()),
                ));
            }
        };
        let kind = match table.remove("kind") {
            None => StorageKind::default(),
            Some(value) => StorageKind::deserialize(value)
                .map_err(|e| KeyError::new("storage.kind", e.message()))?,
        };
        for key in kind.required_keys() {
            match table.get(*key) {
                None => {
                    return Err(KeyError::new(
                        format!("storage.{key}"),
                        format!("missing; kind = {} needs it", Quoted(kind)),
                    )
                    .blaming("storage.kind"));
                }
                Some(toml::Value::String(text)) if text.trim().is_empty() => {
                    return Err(KeyError::new(format!("storage.{key}"), "must not be empty"));
                }
                Some(_) => {}
            }
        }
        if kind == StorageKind::Azure && !table.contains_key("endpoint") {
            // The account's own endpoint; a bad name is refused by validation.
            if let Some(toml::Value::String(account)) = table.get("account_name") {
                let endpoint = format!("https://{account}.blob.core.windows.net");
                table.insert("endpoint".into(), endpoint.into());
            }
        }
        let value = toml::Value::Table(table);
        let (service, settings) = match kind {
            StorageKind::Minio => read_as(value, kind, StorageService::Minio)?,
            StorageKind::S3 => read_as(value, kind, StorageService::S3)?,
            StorageKind::Oss => read_as(value, kind, StorageService::Oss)?,
            StorageKind::Azure => read_as(value, kind, StorageService::Azure)?,
            StorageKind::Gcs => read_as(value, kind, StorageService::Gcs)?,
        };
        Ok(Self { service, settings })
    }

    /// Consistency rules serde cannot express. Returns the key to blame.
    pub fn validate(&self) -> Result<(), KeyError> {
        let endpoint = self.service.endpoint();
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(KeyError::new(
                "storage.endpoint",
                "must be an http:// or https:// URL with a host",
            ));
        }
        match &self.service {
            StorageService::Minio(s3) | StorageService::S3(s3) | StorageService::Oss(s3) => {
                if s3.region.trim().is_empty() {
                    return Err(KeyError::new("storage.region", "must not be empty"));
                }
            }
            StorageService::Azure(azure) => azure.validate()?,
            StorageService::Gcs(_) => {}
        }
        Ok(())
    }
}

/// Reads the kind's struct and the shared settings; a key the struct does not take is
/// unknown, or, when another kind reads it, "not used" by this one.
fn read_as<'de, T: Deserialize<'de>>(
    value: toml::Value,
    kind: StorageKind,
    variant: fn(T) -> StorageService,
) -> Result<(StorageService, ComponentSettings), KeyError> {
    let read: WithSettings<T> = serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        let message = e.inner().message();
        let message = if !is_unknown_key(&key, message) {
            message.to_owned()
        } else if StorageKind::ALL
            .iter()
            .any(|other| other.fields().contains(&key.as_str()))
        {
            format!("not used by kind = {}", Quoted(kind))
        } else {
            "unknown key".to_owned()
        };
        KeyError::new(format!("storage.{key}"), message)
    })?;
    Ok((variant(read.0), read.1))
}

/// `T` and the shared settings, read by [`with_settings`].
struct WithSettings<T>(T, ComponentSettings);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for WithSettings<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        with_settings::<D, T>(deserializer).map(|(own, settings)| Self(own, settings))
    }
}

impl Serialize for StorageConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            kind: StorageKind,
            #[serde(flatten)]
            service: &'a StorageService,
            #[serde(flatten)]
            settings: &'a ComponentSettings,
        }
        Shown {
            kind: self.kind(),
            service: &self.service,
            settings: &self.settings,
        }
        .serialize(serializer)
    }
}

/// How an S3 request names the bucket.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AddressingStyle {
    /// `endpoint/bucket` (MinIO, most S3 servers).
    Path,
    /// `bucket.endpoint-host` (AWS, Alibaba Cloud OSS, which refuses path style).
    Virtual,
}

/// S3-style storage (`minio`, `s3`, `oss`), probed with SigV4-signed requests.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Service endpoint URL (default: MinIO on localhost).
    #[serde(deserialize_with = "plain_url")]
    pub endpoint: Url,
    /// Access key id (shown in messages; it is not a secret).
    pub access_key: String,
    /// Secret access key.
    pub secret_key: Secret,
    /// Bucket to check with HeadBucket (empty lists buckets instead).
    pub bucket: String,
    /// Signing region.
    pub region: String,
    /// `path` or `virtual`; default `virtual` for `oss`, else `path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addressing_style: Option<AddressingStyle>,
}

/// Default storage endpoint (MinIO on port 9000).
pub const DEFAULT_STORAGE_ENDPOINT: &str = "http://127.0.0.1:9000";

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: Url::parse(DEFAULT_STORAGE_ENDPOINT).expect("default URL parses"),
            access_key: "rag_flow".into(),
            secret_key: Secret::new("infini_rag_flow"),
            bucket: String::new(),
            region: "us-east-1".into(),
            addressing_style: None,
        }
    }
}

impl S3Config {
    /// The addressing style in force: the configured one, else the kind's.
    pub fn addressing_style(&self, kind: StorageKind) -> AddressingStyle {
        self.addressing_style.unwrap_or(match kind {
            StorageKind::Oss => AddressingStyle::Virtual,
            _ => AddressingStyle::Path,
        })
    }
}

/// Azure Blob Storage, authorised by the account key (Shared Key) or a SAS token.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// Service endpoint URL (default: `https://<account_name>.blob.core.windows.net`).
    #[serde(deserialize_with = "plain_url")]
    pub endpoint: Url,
    /// Storage account name.
    pub account_name: String,
    /// Storage account key (base64), for Shared Key signing.
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub account_key: Secret,
    /// Shared access signature (the query string, with or without `?`).
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub sas_token: Secret,
    /// Container to read the properties of.
    pub container: String,
}

impl AzureConfig {
    /// The SAS token without a leading `?`.
    pub fn sas_query(&self) -> &str {
        self.sas_token.expose().trim_start_matches('?')
    }

    /// An account name as Azure spells them, and one credential.
    fn validate(&self) -> Result<(), KeyError> {
        let lowercase = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        if !self.account_name.chars().all(lowercase) {
            return Err(KeyError::new(
                "storage.account_name",
                "must be lowercase letters and digits only, as Azure storage account names are",
            ));
        }
        let set = |secret: &Secret| !secret.expose().trim().is_empty();
        match (set(&self.account_key), set(&self.sas_token)) {
            (false, false) => Err(KeyError::new(
                "storage.account_key",
                "missing; kind = \"azure\" needs storage.account_key or storage.sas_token",
            )
            .blaming("storage.kind")),
            (true, true) => Err(KeyError::new(
                "storage.sas_token",
                "set storage.account_key or storage.sas_token, not both",
            )),
            _ => Ok(()),
        }
    }
}

/// Google Cloud Storage, with an OAuth2 token (or none, for an emulator).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GcsConfig {
    /// JSON API endpoint (default: `https://storage.googleapis.com`).
    #[serde(default = "default_gcs_endpoint", deserialize_with = "plain_url")]
    pub endpoint: Url,
    /// Bucket to read the metadata of.
    pub bucket: String,
    /// Service-account key file (JSON); empty takes the metadata server's token for
    /// Google's endpoint and sends no credentials to any other (an emulator).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credentials_file: String,
}

/// Google Cloud Storage's JSON API endpoint.
pub const DEFAULT_GCS_ENDPOINT: &str = "https://storage.googleapis.com";

fn default_gcs_endpoint() -> Url {
    Url::parse(DEFAULT_GCS_ENDPOINT).expect("default URL parses")
}

impl Secrets for StorageConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            service,
            settings: _,
        } = self;
        match service {
            StorageService::Minio(s3) | StorageService::S3(s3) | StorageService::Oss(s3) => {
                let S3Config {
                    endpoint: _,
                    access_key: _,
                    secret_key,
                    bucket: _,
                    region: _,
                    addressing_style: _,
                } = s3;
                secret_key.secrets(out);
            }
            StorageService::Azure(azure) => {
                let AzureConfig {
                    endpoint: _,
                    account_name: _,
                    account_key,
                    sas_token,
                    container: _,
                } = azure;
                account_key.secrets(out);
                sas_token.secrets(out);
                // A URL in an error shows the signature alone, raw or decoded.
                let query = azure.sas_query();
                for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
                    if name == "sig" {
                        out.push(value.into_owned());
                    }
                }
                out.extend(
                    query
                        .split('&')
                        .filter_map(|pair| pair.strip_prefix("sig="))
                        .map(str::to_owned),
                );
            }
            StorageService::Gcs(GcsConfig {
                endpoint: _,
                bucket: _,
                credentials_file: _,
            }) => {}
        }
    }
}
