//! `storage_config` and `common.storage` in both shapes Loki accepts — the thanos-style
//! `object_store:` block (`use_thanos_objstore: true`, the default in current Loki) and the
//! legacy per-provider blocks (`aws`, `gcs`, `azure`, `filesystem`) — resolved into one
//! [`StoreSpec`] per store name used by the schema periods.
use crate::duration::Duration;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// S3 (or S3-compatible) settings common to both shapes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: String,
    /// Endpoint URL or host (empty: AWS default for the region).
    pub endpoint: String,
    /// Region (empty: from the environment).
    pub region: String,
    /// Static access key (empty: the environment's credential chain, e.g. IRSA).
    pub access_key_id: String,
    /// Static secret key.
    pub secret_access_key: Secret,
    /// Session token for temporary static credentials.
    pub session_token: Secret,
    /// Plain HTTP to the endpoint.
    pub insecure: bool,
    /// Path-style requests (`endpoint/bucket/key`), needed by most S3 clones.
    pub force_path_style: bool,
}

/// Google Cloud Storage settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GcsSettings {
    /// Bucket name.
    pub bucket: String,
    /// Service-account JSON (empty: application default credentials).
    pub service_account: Secret,
}

/// Azure Blob Storage settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AzureSettings {
    /// Storage account.
    pub account_name: String,
    /// Shared key (empty: environment / managed identity).
    pub account_key: Secret,
    /// Container.
    pub container_name: String,
    /// Endpoint suffix, e.g. `blob.core.windows.net`.
    pub endpoint_suffix: String,
    /// Use the managed identity.
    pub use_managed_identity: bool,
}

/// Where a store keeps its objects.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum StoreBackend {
    /// Amazon S3 or a compatible server.
    S3(S3Settings),
    /// Google Cloud Storage.
    Gcs(GcsSettings),
    /// Azure Blob Storage.
    Azure(AzureSettings),
    /// A local directory (relative paths resolve against the process's working directory,
    /// as in Loki).
    Filesystem {
        /// The directory.
        dir: PathBuf,
    },
    /// In-process memory (Loki's `inmemory` store, for tests).
    InMemory,
}

/// Which YAML shape a store was configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageShape {
    /// `storage_config.object_store` / `common.storage.object_store` (`use_thanos_objstore`).
    Thanos,
    /// `storage_config.aws|gcs|azure|filesystem` and `common.storage.*`.
    Legacy,
}

/// A fully resolved object store, as named by a period's `object_store` or by
/// `compactor.delete_request_store`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoreSpec {
    /// The name the config refers to it by (`s3`, `aws`, `filesystem`, a named store …).
    pub name: String,
    /// Backend and its settings.
    pub backend: StoreBackend,
    /// Prefix in front of every key, empty or ending in `/`.
    pub key_prefix: String,
    /// The YAML shape it came from.
    pub shape: StorageShape,
}

impl StoreSpec {
    /// Loki re-encodes chunk keys on filesystem stores (base64 last segment); every other
    /// backend stores keys verbatim.
    pub fn is_filesystem(&self) -> bool {
        matches!(self.backend, StoreBackend::Filesystem { .. })
    }
}

// ----- thanos shape -------------------------------------------------------------------------

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ThanosS3 {
    bucket_name: String,
    endpoint: String,
    region: String,
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Secret,
    insecure: bool,
    bucket_lookup_type: String,
}

impl ThanosS3 {
    fn settings(&self) -> S3Settings {
        S3Settings {
            bucket: self.bucket_name.clone(),
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            insecure: self.insecure,
            // Thanos' `auto` picks path style for custom endpoints; only `virtual-hosted`
            // forces the other.
            force_path_style: match self.bucket_lookup_type.as_str() {
                "path" => true,
                "virtual-hosted" => false,
                _ => !self.endpoint.is_empty() && !self.endpoint.contains("amazonaws.com"),
            },
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ThanosGcs {
    bucket_name: String,
    service_account: Secret,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ThanosAzure {
    account_name: String,
    account_key: Secret,
    container_name: String,
    endpoint_suffix: String,
    user_assigned_id: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ThanosFilesystem {
    dir: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ThanosNamed {
    s3: BTreeMap<String, ThanosS3>,
    gcs: BTreeMap<String, ThanosGcs>,
    azure: BTreeMap<String, ThanosAzure>,
    filesystem: BTreeMap<String, ThanosFilesystem>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ThanosObjectStore {
    s3: Option<ThanosS3>,
    gcs: Option<ThanosGcs>,
    azure: Option<ThanosAzure>,
    filesystem: Option<ThanosFilesystem>,
    storage_prefix: String,
    named_stores: ThanosNamed,
}

// ----- legacy shape -------------------------------------------------------------------------

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LegacyAws {
    s3: String,
    s3forcepathstyle: bool,
    bucketnames: String,
    endpoint: String,
    region: String,
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Secret,
    insecure: bool,
}

impl LegacyAws {
    fn settings(&self) -> Result<S3Settings, String> {
        let mut s = S3Settings {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            insecure: self.insecure,
            force_path_style: self.s3forcepathstyle,
            ..Default::default()
        };
        if !self.s3.is_empty() {
            parse_legacy_s3_url(&self.s3, &mut s)?;
        }
        if !self.bucketnames.is_empty() {
            // Loki shards chunks over several buckets by hash; we read and list the first one.
            let first = self
                .bucketnames
                .split(',')
                .next()
                .unwrap_or_default()
                .trim();
            if self.bucketnames.contains(',') {
                tracing::warn!(bucketnames = %self.bucketnames, "several S3 buckets configured; only `{first}` is used");
            }
            s.bucket = first.to_string();
        }
        Ok(s)
    }
}

/// `s3://KEY:SECRET@REGION/BUCKET`, `s3://REGION/BUCKET`, `http(s)://[KEY:SECRET@]HOST/BUCKET`.
fn parse_legacy_s3_url(url: &str, s: &mut S3Settings) -> Result<(), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!("invalid S3 URL `{url}`: expected s3://[key:secret@]region/bucket")
    })?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if let Some(u) = userinfo {
        let (k, sec) = u.split_once(':').unwrap_or((u, ""));
        s.access_key_id = k.to_string();
        s.secret_access_key = Secret::new(sec);
    }
    match scheme {
        "s3" => {
            if !host.is_empty() && s.region.is_empty() {
                s.region = host.to_string();
            }
        }
        "http" | "https" => {
            s.endpoint = format!("{scheme}://{host}");
            s.insecure = scheme == "http";
            s.force_path_style = true;
        }
        "inmemory" => {}
        other => {
            return Err(format!(
                "invalid S3 URL `{url}`: unsupported scheme `{other}`"
            ))
        }
    }
    let bucket = path.trim_matches('/');
    if !bucket.is_empty() {
        s.bucket = bucket.to_string();
    }
    Ok(())
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LegacyGcs {
    bucket_name: String,
    service_account: Secret,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LegacyAzure {
    account_name: String,
    account_key: Secret,
    container_name: String,
    endpoint_suffix: String,
    use_managed_identity: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LegacyFilesystem {
    directory: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LegacyNamed {
    aws: BTreeMap<String, LegacyAws>,
    gcs: BTreeMap<String, LegacyGcs>,
    azure: BTreeMap<String, LegacyAzure>,
    filesystem: BTreeMap<String, LegacyFilesystem>,
}

/// `storage_config.tsdb_shipper` (the keys our tools need).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct TsdbShipperConfig {
    /// Ingester's local directory for not-yet-uploaded index files.
    pub active_index_directory: String,
    /// Local cache of downloaded index files.
    pub cache_location: String,
    /// How often queriers resync index files (the compactor uses 3× this as propagation delay).
    pub resync_interval: Duration,
}

impl Default for TsdbShipperConfig {
    fn default() -> Self {
        Self {
            active_index_directory: String::new(),
            cache_location: String::new(),
            resync_interval: Duration::from_secs(300),
        }
    }
}

/// Raw `storage_config`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawStorageConfig {
    pub(crate) use_thanos_objstore: Option<bool>,
    pub(crate) object_store: Option<ThanosObjectStore>,
    pub(crate) aws: Option<LegacyAws>,
    pub(crate) gcs: Option<LegacyGcs>,
    pub(crate) azure: Option<LegacyAzure>,
    pub(crate) filesystem: Option<LegacyFilesystem>,
    pub(crate) named_stores: LegacyNamed,
    pub(crate) object_prefix: String,
    pub(crate) tsdb_shipper: TsdbShipperConfig,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CommonFilesystem {
    chunks_directory: String,
}

/// Raw `common.storage`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawCommonStorage {
    pub(crate) object_store: Option<ThanosObjectStore>,
    pub(crate) s3: Option<LegacyAws>,
    pub(crate) gcs: Option<LegacyGcs>,
    pub(crate) azure: Option<LegacyAzure>,
    pub(crate) filesystem: Option<CommonFilesystem>,
}

/// The resolved storage section: every store a name can refer to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StorageConfig {
    /// Which shape is in force.
    pub shape: StorageShape,
    /// Stores by the names the config can use (`s3`/`aws` both map to the S3 store).
    pub stores: BTreeMap<String, StoreSpec>,
    /// `storage_config.tsdb_shipper`.
    pub tsdb_shipper: TsdbShipperConfig,
}

impl StorageConfig {
    /// The store a period's `object_store` (or `delete_request_store`) names.
    pub fn store(&self, name: &str) -> Option<&StoreSpec> {
        self.stores.get(name)
    }
}

/// Problems found while resolving: `(dotted key, message)`.
pub(crate) type ResolveError = (String, String);

fn valid_storage_prefix(p: &str) -> bool {
    p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub(crate) fn resolve(
    sc: &RawStorageConfig,
    common: &RawCommonStorage,
) -> Result<StorageConfig, ResolveError> {
    let has_legacy = sc.aws.is_some()
        || sc.gcs.is_some()
        || sc.azure.is_some()
        || sc.filesystem.is_some()
        || common.s3.is_some()
        || common.gcs.is_some()
        || common.azure.is_some()
        || common.filesystem.is_some()
        || !sc.named_stores.aws.is_empty()
        || !sc.named_stores.filesystem.is_empty()
        || !sc.named_stores.gcs.is_empty()
        || !sc.named_stores.azure.is_empty();
    let has_thanos = sc.object_store.is_some() || common.object_store.is_some();
    // Current Loki defaults to the thanos shape; Loki 3.x defaulted to legacy. When the key is
    // absent we follow whichever shape the file actually uses, so configs of both eras work.
    let thanos = match sc.use_thanos_objstore {
        Some(v) => v,
        None => has_thanos || !has_legacy,
    };
    if thanos && has_legacy && sc.use_thanos_objstore == Some(true) {
        tracing::warn!("use_thanos_objstore is true: legacy storage blocks (storage_config.aws/filesystem/…, common.storage.s3/…) are ignored, as Loki does");
    }
    let mut stores = BTreeMap::new();
    if thanos {
        let os = sc
            .object_store
            .clone()
            .or_else(|| common.object_store.clone())
            .unwrap_or_default();
        if !valid_storage_prefix(&os.storage_prefix) {
            return Err((
                "storage_config.object_store.storage_prefix".into(),
                format!(
                    "`{}` may contain only letters, digits and `-`",
                    os.storage_prefix
                ),
            ));
        }
        let prefix = if os.storage_prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", os.storage_prefix)
        };
        let mk = |name: &str, backend: StoreBackend| StoreSpec {
            name: name.to_string(),
            backend,
            key_prefix: prefix.clone(),
            shape: StorageShape::Thanos,
        };
        if let Some(s3) = &os.s3 {
            for n in ["s3", "aws"] {
                stores.insert(n.to_string(), mk(n, StoreBackend::S3(s3.settings())));
            }
        }
        if let Some(g) = &os.gcs {
            stores.insert(
                "gcs".into(),
                mk("gcs", gcs_backend(&g.bucket_name, &g.service_account)),
            );
        }
        if let Some(a) = &os.azure {
            stores.insert("azure".into(), mk("azure", thanos_azure(a)));
        }
        // Loki's thanos filesystem store with an empty dir writes to the working directory.
        let fs_dir = os
            .filesystem
            .as_ref()
            .map(|f| f.dir.clone())
            .unwrap_or_default();
        stores.insert("filesystem".into(), mk("filesystem", fs_backend(&fs_dir)));
        for (n, c) in &os.named_stores.s3 {
            stores.insert(n.clone(), mk(n, StoreBackend::S3(c.settings())));
        }
        for (n, c) in &os.named_stores.gcs {
            stores.insert(
                n.clone(),
                mk(n, gcs_backend(&c.bucket_name, &c.service_account)),
            );
        }
        for (n, c) in &os.named_stores.azure {
            stores.insert(n.clone(), mk(n, thanos_azure(c)));
        }
        for (n, c) in &os.named_stores.filesystem {
            stores.insert(n.clone(), mk(n, fs_backend(&c.dir)));
        }
    } else {
        let prefix = {
            let p = sc.object_prefix.trim_matches('/');
            if p.is_empty() {
                String::new()
            } else {
                format!("{p}/")
            }
        };
        let mk = |name: &str, backend: StoreBackend| StoreSpec {
            name: name.to_string(),
            backend,
            key_prefix: prefix.clone(),
            shape: StorageShape::Legacy,
        };
        // storage_config wins over common.storage, which only fills what is unset.
        if let Some(aws) = sc.aws.as_ref().or(common.s3.as_ref()) {
            let key = if sc.aws.is_some() {
                "storage_config.aws.s3"
            } else {
                "common.storage.s3.s3"
            };
            let settings = aws.settings().map_err(|m| (key.to_string(), m))?;
            for n in ["s3", "aws"] {
                stores.insert(n.to_string(), mk(n, StoreBackend::S3(settings.clone())));
            }
        }
        if let Some(g) = sc.gcs.as_ref().or(common.gcs.as_ref()) {
            stores.insert(
                "gcs".into(),
                mk("gcs", gcs_backend(&g.bucket_name, &g.service_account)),
            );
        }
        if let Some(a) = sc.azure.as_ref().or(common.azure.as_ref()) {
            stores.insert("azure".into(), mk("azure", legacy_azure(a)));
        }
        let fs_dir = match (&sc.filesystem, &common.filesystem) {
            (Some(f), _) => Some(f.directory.clone()),
            (None, Some(c)) => Some(c.chunks_directory.clone()),
            _ => None,
        };
        if let Some(d) = fs_dir {
            stores.insert("filesystem".into(), mk("filesystem", fs_backend(&d)));
        }
        for (n, c) in &sc.named_stores.aws {
            let settings = c
                .settings()
                .map_err(|m| (format!("storage_config.named_stores.aws.{n}.s3"), m))?;
            stores.insert(n.clone(), mk(n, StoreBackend::S3(settings)));
        }
        for (n, c) in &sc.named_stores.gcs {
            stores.insert(
                n.clone(),
                mk(n, gcs_backend(&c.bucket_name, &c.service_account)),
            );
        }
        for (n, c) in &sc.named_stores.azure {
            stores.insert(n.clone(), mk(n, legacy_azure(c)));
        }
        for (n, c) in &sc.named_stores.filesystem {
            stores.insert(n.clone(), mk(n, fs_backend(&c.directory)));
        }
    }
    stores.insert(
        "inmemory".into(),
        StoreSpec {
            name: "inmemory".into(),
            backend: StoreBackend::InMemory,
            key_prefix: String::new(),
            shape: if thanos {
                StorageShape::Thanos
            } else {
                StorageShape::Legacy
            },
        },
    );
    Ok(StorageConfig {
        shape: if thanos {
            StorageShape::Thanos
        } else {
            StorageShape::Legacy
        },
        stores,
        tsdb_shipper: sc.tsdb_shipper.clone(),
    })
}

fn fs_backend(dir: &str) -> StoreBackend {
    StoreBackend::Filesystem {
        dir: if dir.is_empty() {
            PathBuf::from(".")
        } else {
            PathBuf::from(dir)
        },
    }
}

fn gcs_backend(bucket: &str, sa: &Secret) -> StoreBackend {
    StoreBackend::Gcs(GcsSettings {
        bucket: bucket.to_string(),
        service_account: sa.clone(),
    })
}

fn thanos_azure(a: &ThanosAzure) -> StoreBackend {
    StoreBackend::Azure(AzureSettings {
        account_name: a.account_name.clone(),
        account_key: a.account_key.clone(),
        container_name: a.container_name.clone(),
        endpoint_suffix: a.endpoint_suffix.clone(),
        use_managed_identity: !a.user_assigned_id.is_empty(),
    })
}

fn legacy_azure(a: &LegacyAzure) -> StoreBackend {
    StoreBackend::Azure(AzureSettings {
        account_name: a.account_name.clone(),
        account_key: a.account_key.clone(),
        container_name: a.container_name.clone(),
        endpoint_suffix: a.endpoint_suffix.clone(),
        use_managed_identity: a.use_managed_identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_s3_urls() {
        let mut s = S3Settings::default();
        parse_legacy_s3_url("s3://AK:SK@eu-west-1/loki-chunks", &mut s).unwrap();
        assert_eq!(
            (
                s.access_key_id.as_str(),
                s.secret_access_key.expose(),
                s.region.as_str(),
                s.bucket.as_str()
            ),
            ("AK", "SK", "eu-west-1", "loki-chunks")
        );
        let mut s = S3Settings::default();
        parse_legacy_s3_url("http://minio:9000/loki", &mut s).unwrap();
        assert_eq!(
            (
                s.endpoint.as_str(),
                s.bucket.as_str(),
                s.insecure,
                s.force_path_style
            ),
            ("http://minio:9000", "loki", true, true)
        );
        assert!(parse_legacy_s3_url("ftp://x/y", &mut S3Settings::default()).is_err());
        assert!(parse_legacy_s3_url("bucket-only", &mut S3Settings::default()).is_err());
    }
}
