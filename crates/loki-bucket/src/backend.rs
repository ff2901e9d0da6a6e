//! Builds the raw `object_store` backend for a [`StoreSpec`] (from Loki's config) or for a
//! store URL given on the command line (`s3://bucket/prefix`, `file:///dir`, `memory://`).
use crate::error::{BucketError, Result};
use crate::retry::RetrySettings;
use loki_config::{S3Settings, StorageShape, StoreBackend, StoreSpec};
use object_store::aws::{AmazonS3Builder, S3CopyIfNotExists};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Backend options that are not part of Loki's config.
#[derive(Clone, Debug)]
pub struct BackendOptions {
    /// Create a filesystem store's directory when missing (off: a missing directory is an
    /// error, which catches a wrong path before anything is written).
    pub create_dirs: bool,
    /// Per-request timeout for HTTP backends.
    pub request_timeout: Duration,
    /// Connect timeout for HTTP backends.
    pub connect_timeout: Duration,
}

impl Default for BackendOptions {
    fn default() -> Self {
        Self {
            create_dirs: false,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A human-readable store description for errors and metric labels (no secrets).
pub fn describe(spec: &StoreSpec) -> String {
    let loc = match &spec.backend {
        StoreBackend::S3(s) if s.endpoint.is_empty() => format!("s3://{}", s.bucket),
        StoreBackend::S3(s) => format!("s3://{} at {}", s.bucket, s.endpoint),
        StoreBackend::Gcs(g) => format!("gs://{}", g.bucket),
        StoreBackend::Azure(a) => format!("az://{}/{}", a.account_name, a.container_name),
        StoreBackend::Filesystem { dir } => format!("file://{}", dir.display()),
        StoreBackend::InMemory => "memory://".to_string(),
        _ => "unknown backend".to_string(),
    };
    if spec.key_prefix.is_empty() {
        loc
    } else {
        format!("{loc}/{}", spec.key_prefix.trim_end_matches('/'))
    }
}

/// Parses a store URL into a spec: `s3://bucket[/prefix]` (with `endpoint` for S3 clones),
/// `gs://bucket[/prefix]`, `az://account/container[/prefix]`, `file:///dir` or a plain path,
/// `memory://`.
pub fn spec_from_url(url: &str, endpoint: Option<&str>) -> Result<StoreSpec> {
    let cfg_err = |m: String| BucketError::Config {
        store: url.to_string(),
        message: m,
    };
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("file", url),
    };
    let split = |r: &str| -> (String, String) {
        let r = r.trim_matches('/');
        match r.split_once('/') {
            Some((b, p)) => (b.to_string(), format!("{}/", p.trim_matches('/'))),
            None => (r.to_string(), String::new()),
        }
    };
    let (backend, key_prefix) = match scheme {
        "s3" => {
            let (bucket, prefix) = split(rest);
            if bucket.is_empty() {
                return Err(cfg_err("missing bucket name in s3:// URL".into()));
            }
            let endpoint = endpoint.unwrap_or_default().to_string();
            let s = S3Settings {
                bucket,
                insecure: endpoint.starts_with("http://"),
                force_path_style: !endpoint.is_empty(),
                endpoint,
                ..Default::default()
            };
            (StoreBackend::S3(s), prefix)
        }
        "gs" | "gcs" => {
            let (bucket, prefix) = split(rest);
            (
                StoreBackend::Gcs(loki_config::GcsSettings {
                    bucket,
                    ..Default::default()
                }),
                prefix,
            )
        }
        "az" | "azure" => {
            let (account, rest) = split(rest);
            let (container, prefix) = split(&rest);
            if container.is_empty() {
                return Err(cfg_err("expected az://ACCOUNT/CONTAINER[/PREFIX]".into()));
            }
            (
                StoreBackend::Azure(loki_config::AzureSettings {
                    account_name: account,
                    container_name: container,
                    ..Default::default()
                }),
                prefix,
            )
        }
        "file" => (
            StoreBackend::Filesystem {
                dir: PathBuf::from(rest),
            },
            String::new(),
        ),
        "memory" | "inmemory" => (StoreBackend::InMemory, String::new()),
        other => {
            return Err(cfg_err(format!(
                "unsupported scheme `{other}` (use s3, gs, az, file, memory)"
            )))
        }
    };
    Ok(StoreSpec {
        name: url.to_string(),
        backend,
        key_prefix,
        shape: StorageShape::Thanos,
    })
}

/// Builds the backend for `spec`, prefix applied, without our wrappers.
pub fn build_backend(spec: &StoreSpec, opts: &BackendOptions) -> Result<Arc<dyn ObjectStore>> {
    let err = |m: String| BucketError::Config {
        store: describe(spec),
        message: m,
    };
    // Our RetryStore is the only retry loop, so HTTP clients make exactly one attempt.
    let retry = RetryConfig {
        max_retries: 0,
        retry_timeout: Duration::from_secs(0),
        ..Default::default()
    };
    let client = ClientOptions::new()
        .with_timeout(opts.request_timeout)
        .with_connect_timeout(opts.connect_timeout);
    let store: Arc<dyn ObjectStore> = match &spec.backend {
        StoreBackend::S3(s) => {
            if s.bucket.is_empty() {
                return Err(err("no bucket name configured".into()));
            }
            // from_env: credentials from the environment chain (IRSA web identity, pod
            // identity, instance profile, AWS_* variables); config values override.
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(&s.bucket)
                .with_retry(retry)
                .with_client_options(
                    client.with_allow_http(s.insecure || s.endpoint.starts_with("http://")),
                )
                .with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
            if !s.region.is_empty() {
                b = b.with_region(&s.region);
            }
            if !s.endpoint.is_empty() {
                let ep = if s.endpoint.contains("://") {
                    s.endpoint.clone()
                } else if s.insecure {
                    format!("http://{}", s.endpoint)
                } else {
                    format!("https://{}", s.endpoint)
                };
                b = b.with_endpoint(ep);
            }
            b = b.with_virtual_hosted_style_request(!s.force_path_style);
            if !s.access_key_id.is_empty() {
                b = b
                    .with_access_key_id(&s.access_key_id)
                    .with_secret_access_key(s.secret_access_key.expose());
                if !s.session_token.is_empty() {
                    b = b.with_token(s.session_token.expose());
                }
            }
            Arc::new(b.build().map_err(|e| err(e.to_string()))?)
        }
        StoreBackend::Gcs(g) => {
            if g.bucket.is_empty() {
                return Err(err("no bucket name configured".into()));
            }
            let mut b = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(&g.bucket)
                .with_retry(retry)
                .with_client_options(client);
            if !g.service_account.is_empty() {
                b = b.with_service_account_key(g.service_account.expose());
            }
            Arc::new(b.build().map_err(|e| err(e.to_string()))?)
        }
        StoreBackend::Azure(a) => {
            let mut b = MicrosoftAzureBuilder::from_env()
                .with_account(&a.account_name)
                .with_container_name(&a.container_name)
                .with_retry(retry)
                .with_client_options(client);
            if !a.account_key.is_empty() {
                b = b.with_access_key(a.account_key.expose());
            }
            if !a.endpoint_suffix.is_empty() {
                b = b.with_endpoint(format!("https://{}.{}", a.account_name, a.endpoint_suffix));
            }
            Arc::new(b.build().map_err(|e| err(e.to_string()))?)
        }
        StoreBackend::Filesystem { dir } => {
            if !dir.is_dir() {
                if opts.create_dirs {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
                } else {
                    return Err(err(format!("directory {} does not exist", dir.display())));
                }
            }
            // Empty directories left by deletes are removed, as Loki's filesystem store does.
            let fs = LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| err(e.to_string()))?
                .with_automatic_cleanup(true);
            Arc::new(fs)
        }
        StoreBackend::InMemory => Arc::new(InMemory::new()),
        _ => return Err(err("unsupported backend".into())),
    };
    if spec.key_prefix.is_empty() {
        Ok(store)
    } else {
        let p = object_store::path::Path::from(spec.key_prefix.trim_end_matches('/'));
        Ok(Arc::new(PrefixStore::new(store, p)))
    }
}

/// Retry settings from Loki-style values where the config has them.
pub fn retry_from_backoff(b: &loki_config::BackoffConfig) -> RetrySettings {
    RetrySettings {
        max_retries: b.max_retries,
        min_backoff: b.min_period.as_std(),
        max_backoff: b.max_period.as_std(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let s = spec_from_url("s3://loki/tenant-data", Some("http://127.0.0.1:9000")).unwrap();
        match &s.backend {
            StoreBackend::S3(s3) => {
                assert_eq!(s3.bucket, "loki");
                assert!(s3.insecure && s3.force_path_style);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.key_prefix, "tenant-data/");
        assert!(matches!(
            spec_from_url("file:///tmp/x", None).unwrap().backend,
            StoreBackend::Filesystem { .. }
        ));
        assert!(matches!(
            spec_from_url("./bucket", None).unwrap().backend,
            StoreBackend::Filesystem { .. }
        ));
        assert!(matches!(
            spec_from_url("memory://", None).unwrap().backend,
            StoreBackend::InMemory
        ));
        assert!(spec_from_url("ftp://x", None).is_err());
        assert!(spec_from_url("s3://", None).is_err());
        assert!(spec_from_url("az://acct", None).is_err());
    }

    #[test]
    fn cloud_backends_build_from_config_without_network() {
        // Construction is offline; credentials are resolved lazily on the first request.
        let gcs = spec_from_url("gs://loki-chunks/prod", None).unwrap();
        let b = build_backend(&gcs, &BackendOptions::default()).unwrap();
        assert!(b.to_string().contains("prod"), "{b}");
        let az = spec_from_url("az://acct/chunks", None).unwrap();
        let mut az2 = az.clone();
        if let StoreBackend::Azure(a) = &mut az2.backend {
            a.account_key = loki_config::Secret::new("c2VjcmV0");
        }
        assert!(build_backend(&az2, &BackendOptions::default()).is_ok());
        let s3 = spec_from_url("s3://loki-chunks", None).unwrap();
        assert!(build_backend(&s3, &BackendOptions::default()).is_ok());
        let mut no_bucket = s3.clone();
        if let StoreBackend::S3(s) = &mut no_bucket.backend {
            s.bucket.clear();
        }
        let e = build_backend(&no_bucket, &BackendOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no bucket name"), "{e}");
    }

    #[test]
    fn missing_filesystem_dir_is_an_error() {
        let s = spec_from_url("file:///definitely/not/here", None).unwrap();
        let e = build_backend(&s, &BackendOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("/definitely/not/here") && e.contains("does not exist"),
            "{e}"
        );
    }
}
