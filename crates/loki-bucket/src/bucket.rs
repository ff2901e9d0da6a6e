//! [`Bucket`]: the object-store handle the rest of the project uses. It stacks the layers
//! (backend → faults → metrics → retries → concurrency limit), maps errors to ones that
//! name the key, and offers bounded-concurrency bulk helpers.
use crate::backend::{build_backend, describe, spec_from_url, BackendOptions};
use crate::error::{BucketError, Result};
use crate::fault::{FaultInjector, FaultStore};
use crate::keys::KeyCodec;
use crate::metrics::{MetricsStore, RequestMetrics};
use crate::retry::{list_all_resuming, Jitter, RetrySettings, RetryStore};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use loki_config::StoreSpec;
use object_store::limit::LimitStore;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use std::ops::Range;
use std::sync::Arc;

/// Metadata of a listed or HEAD-ed object.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ObjectInfo {
    /// Key relative to the store (and its prefix).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, unix seconds.
    pub last_modified: i64,
    /// Entity tag, when the backend has one.
    pub e_tag: Option<String>,
}

impl From<&ObjectMeta> for ObjectInfo {
    fn from(m: &ObjectMeta) -> Self {
        Self {
            key: m.location.to_string(),
            size: m.size,
            last_modified: m.last_modified.timestamp(),
            e_tag: m.e_tag.clone(),
        }
    }
}

/// Options for building a [`Bucket`].
#[derive(Clone, Debug)]
pub struct BucketOptions {
    /// Retry policy.
    pub retry: RetrySettings,
    /// Max requests in flight through this handle.
    pub max_concurrency: usize,
    /// Backend options.
    pub backend: BackendOptions,
    /// Faults to inject (tests).
    pub faults: Option<Arc<FaultInjector>>,
    /// Seed of the retry jitter.
    pub seed: u64,
}

impl Default for BucketOptions {
    fn default() -> Self {
        Self {
            retry: RetrySettings::default(),
            max_concurrency: 32,
            backend: BackendOptions::default(),
            faults: None,
            seed: 0x5eed,
        }
    }
}

/// A storage handle: one backend with retries, metrics, a concurrency limit and the key
/// codec of its layout.
#[derive(Clone, Debug)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    raw: Arc<dyn ObjectStore>,
    name: String,
    codec: KeyCodec,
    metrics: Arc<RequestMetrics>,
    pub(crate) retry: RetrySettings,
    pub(crate) jitter: Arc<Jitter>,
    concurrency: usize,
    sorted_listing: bool,
}

impl Bucket {
    /// Builds the store a Loki config names (see `loki_config::LokiConfig::period_store`).
    pub fn from_spec(spec: &StoreSpec, opts: BucketOptions) -> Result<Bucket> {
        let raw = build_backend(spec, &opts.backend)?;
        let codec = if spec.is_filesystem() {
            KeyCodec::Filesystem
        } else {
            KeyCodec::Verbatim
        };
        Ok(Self::from_store(raw, describe(spec), codec, opts))
    }

    /// Builds a store from a URL (`s3://bucket/prefix`, `file:///dir`, `memory://`).
    pub fn from_url(url: &str, endpoint: Option<&str>, opts: BucketOptions) -> Result<Bucket> {
        Self::from_spec(&spec_from_url(url, endpoint)?, opts)
    }

    /// Wraps an existing backend.
    pub fn from_store(
        raw: Arc<dyn ObjectStore>,
        name: impl Into<String>,
        codec: KeyCodec,
        opts: BucketOptions,
    ) -> Bucket {
        let name = name.into();
        let metrics = Arc::new(RequestMetrics::new(name.clone()));
        let faulted: Arc<dyn ObjectStore> = match &opts.faults {
            Some(f) => Arc::new(FaultStore::new(Arc::clone(&raw), Arc::clone(f))),
            None => Arc::clone(&raw),
        };
        let counted = MetricsStore::new(faulted, Arc::clone(&metrics));
        let retried = RetryStore::new(counted, opts.retry.clone(), Arc::clone(&metrics), opts.seed);
        let limited = LimitStore::new(retried, opts.max_concurrency.max(1));
        Bucket {
            store: Arc::new(limited),
            raw,
            name,
            codec,
            metrics,
            retry: opts.retry,
            jitter: Arc::new(Jitter::new(opts.seed ^ 0x9e37_79b9)),
            concurrency: opts.max_concurrency.max(1),
            sorted_listing: false,
        }
    }

    /// Description used in errors and as the metrics' `bucket` label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How chunk keys are stored here.
    pub fn codec(&self) -> KeyCodec {
        self.codec
    }

    /// Request counters.
    pub fn metrics(&self) -> &Arc<RequestMetrics> {
        &self.metrics
    }

    /// The fully wrapped store, for code that wants the `object_store` API.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// The backend without our layers (tests use it to set up state behind our back).
    pub fn raw_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.raw)
    }

    /// `key` as an `object_store` path; an invalid key is a config error naming it.
    pub(crate) fn path(&self, key: &str) -> Result<Path> {
        Path::parse(key).map_err(|e| BucketError::Config {
            store: self.name.clone(),
            message: format!("invalid object key `{key}`: {e}"),
        })
    }

    fn map(&self, op: &'static str, key: &str, e: object_store::Error) -> BucketError {
        BucketError::from_store(&self.name, op, key, e)
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let p = self.path(key)?;
        let r = self
            .store
            .get(&p)
            .await
            .map_err(|e| self.map("GET", key, e))?;
        r.bytes().await.map_err(|e| self.map("GET", key, e))
    }

    /// Reads a whole object as a stream of byte chunks, so a large object need not sit in
    /// memory. A failure part-way ends the stream with that error (the caller retries the
    /// whole read if it wants to).
    pub async fn get_stream(
        &self,
        key: &str,
    ) -> Result<impl futures::Stream<Item = Result<Bytes>> + Send + 'static> {
        let p = self.path(key)?;
        let r = self
            .store
            .get(&p)
            .await
            .map_err(|e| self.map("GET", key, e))?;
        let (name, key) = (self.name.clone(), key.to_owned());
        Ok(futures::StreamExt::map(r.into_stream(), move |c| {
            c.map_err(|e| BucketError::from_store(&name, "GET", &key, e))
        }))
    }

    /// Reads `range` of an object.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        let p = self.path(key)?;
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..Default::default()
        };
        let r = self
            .store
            .get_opts(&p, opts)
            .await
            .map_err(|e| self.map("GET", key, e))?;
        r.bytes().await.map_err(|e| self.map("GET", key, e))
    }

    /// Object metadata.
    pub async fn head(&self, key: &str) -> Result<ObjectInfo> {
        let p = self.path(key)?;
        let m = self
            .store
            .head(&p)
            .await
            .map_err(|e| self.map("HEAD", key, e))?;
        Ok(ObjectInfo::from(&m))
    }

    /// True when the object exists.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.head(key).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes an object (overwriting).
    pub async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let p = self.path(key)?;
        self.store
            .put(&p, PutPayload::from(data))
            .await
            .map(|_| ())
            .map_err(|e| self.map("PUT", key, e))
    }

    /// Writes an object only if it does not exist ([`BucketError::AlreadyExists`] otherwise).
    /// Used for markers and locks. Note: if an attempt times out after the server stored it,
    /// the retry reports `AlreadyExists`; callers owning the content can compare it.
    pub async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<()> {
        let p = self.path(key)?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        self.store
            .put_opts(&p, PutPayload::from(data), opts)
            .await
            .map(|_| ())
            .map_err(|e| self.map("PUT", key, e))
    }

    /// Deletes an object; a missing object is not an error (deletes are idempotent).
    pub async fn delete(&self, key: &str) -> Result<()> {
        let p = self.path(key)?;
        let mut attempt = 0u32;
        loop {
            match self.store.delete(&p).await {
                Ok(()) => return Ok(()),
                Err(object_store::Error::NotFound { .. }) => return Ok(()),
                Err(e) if attempt < self.retry.max_retries && crate::retry::is_transient(&e) => {
                    attempt += 1;
                    self.metrics.record_retry(crate::ops::Op::Delete);
                    tokio::time::sleep(self.retry.backoff(attempt, &self.jitter)).await;
                }
                Err(e) => return Err(self.map("DELETE", key, e)),
            }
        }
    }

    /// Lists every object under `prefix` (all levels), resuming after transient failures.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.list_with_progress(prefix, |_| {}).await
    }

    /// As [`Bucket::list`], calling `progress` with the running count every 1,000 objects.
    pub async fn list_with_progress(
        &self,
        prefix: &str,
        mut progress: impl FnMut(u64),
    ) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut n = 0u64;
        self.for_each_object(prefix, |o| {
            out.push(o);
            n += 1;
            if n % 1000 == 0 {
                progress(n);
            }
        })
        .await?;
        Ok(out)
    }

    /// Streams every object under `prefix` to `visit` without collecting the listing
    /// (memory stays flat on buckets with millions of chunks); returns the object count.
    pub async fn for_each_object(
        &self,
        prefix: &str,
        mut visit: impl FnMut(ObjectInfo),
    ) -> Result<u64> {
        let p = if prefix.is_empty() {
            None
        } else {
            Some(self.path(prefix.trim_end_matches('/'))?)
        };
        list_all_resuming(
            self.store.as_ref(),
            p.as_ref(),
            self.sorted_listing,
            &self.retry,
            &self.metrics,
            &self.jitter,
            |m| visit(ObjectInfo::from(&m)),
        )
        .await
        .map_err(|e| self.map("LIST", prefix, e))
    }

    /// One level under `prefix`: sub-"directories" (without trailing `/`) and objects.
    pub async fn list_dir(&self, prefix: &str) -> Result<(Vec<String>, Vec<ObjectInfo>)> {
        let p = if prefix.is_empty() {
            None
        } else {
            Some(self.path(prefix.trim_end_matches('/'))?)
        };
        let r = self
            .store
            .list_with_delimiter(p.as_ref())
            .await
            .map_err(|e| self.map("LIST", prefix, e))?;
        Ok((
            r.common_prefixes.iter().map(|c| c.to_string()).collect(),
            r.objects.iter().map(ObjectInfo::from).collect(),
        ))
    }

    /// Reads many objects, at most the bucket's concurrency at a time; results in input order.
    pub async fn get_many(&self, keys: &[String]) -> Vec<Result<Bytes>> {
        futures::stream::iter(keys.iter().map(|k| self.get(k)))
            .buffered(self.concurrency)
            .collect()
            .await
    }

    /// Deletes many objects with bounded concurrency; stops at the first error.
    pub async fn delete_many(&self, keys: &[String]) -> Result<()> {
        futures::stream::iter(keys.iter().map(|k| self.delete(k)))
            .buffer_unordered(self.concurrency)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }
}
