//! Retries with exponential backoff and jitter for transient failures (5xx, throttling,
//! timeouts, cut connections, truncated bodies), as an `ObjectStore` wrapper so every
//! caller gets them. HTTP backends are built with their internal retries off, so this is
//! the only retry loop and the metrics layer below it sees every attempt.
use crate::metrics::RequestMetrics;
use crate::ops::Op;
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Retry policy.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySettings {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// First backoff.
    pub min_backoff: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: 5,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetrySettings {
    /// Backoff before retry number `attempt` (1-based): exponential, capped, with jitter in
    /// [50%, 100%] so parallel clients do not retry in lockstep.
    pub fn backoff(&self, attempt: u32, jitter: &Jitter) -> Duration {
        let exp = self
            .min_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_backoff);
        let frac = 0.5 + 0.5 * jitter.next_unit();
        capped.mul_f64(frac)
    }
}

/// A small seeded generator for backoff jitter (no global RNG, reproducible in tests).
#[derive(Debug)]
pub struct Jitter(AtomicU64);

impl Jitter {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Jitter(AtomicU64::new(seed | 1))
    }

    fn next_unit(&self) -> f64 {
        // xorshift64*; races only perturb the sequence, which is fine for jitter.
        let mut x = self.0.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.store(x, Ordering::Relaxed);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A body shorter than its announced length.
#[derive(Debug, thiserror::Error)]
#[error("response body truncated: expected {expected} bytes, got {got}")]
pub(crate) struct TruncatedBody {
    pub(crate) expected: u64,
    pub(crate) got: u64,
}

/// `(expected, got)` when `e` is (or wraps) a truncated body.
pub(crate) fn truncation_of(e: &object_store::Error) -> Option<(u64, u64)> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<TruncatedBody>() {
            return Some((t.expected, t.got));
        }
        cur = err.source();
    }
    None
}

/// Is this failure worth retrying?
pub(crate) fn is_transient(e: &object_store::Error) -> bool {
    use object_store::Error as E;
    match e {
        E::Generic { .. } | E::JoinError { .. } => {}
        _ => return false,
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<TruncatedBody>() {
            return true;
        }
        if let Some(f) = err.downcast_ref::<crate::fault::InjectedFault>() {
            return f.transient();
        }
        if let Some(h) = err.downcast_ref::<object_store::client::HttpError>() {
            use object_store::client::HttpErrorKind as K;
            if matches!(
                h.kind(),
                K::Connect | K::Request | K::Timeout | K::Interrupted
            ) {
                return true;
            }
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(
                io.kind(),
                K::TimedOut
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::Interrupted
                    | K::UnexpectedEof
                    | K::BrokenPipe
            ) {
                return true;
            }
        }
        cur = err.source();
    }
    // The HTTP client's status errors are not a public type; their message carries the
    // status. Match status phrases, not bare numbers, which also occur in keys.
    let msg = e.to_string();
    [
        "status code: 5",
        "status code: 429",
        "SlowDown",
        "Too Many Requests",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "timed out",
    ]
    .iter()
    .any(|m| msg.contains(m))
}

/// `ObjectStore` wrapper that retries transient failures.
#[derive(Debug)]
pub struct RetryStore<T> {
    inner: T,
    settings: RetrySettings,
    metrics: Arc<RequestMetrics>,
    jitter: Jitter,
}

impl<T: ObjectStore> RetryStore<T> {
    /// Wraps `inner`; retries are counted in `metrics`.
    pub fn new(inner: T, settings: RetrySettings, metrics: Arc<RequestMetrics>, seed: u64) -> Self {
        Self {
            inner,
            settings,
            metrics,
            jitter: Jitter::new(seed),
        }
    }

    async fn run<R, F, Fut>(&self, op: Op, key: &str, mut f: F) -> object_store::Result<R>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = object_store::Result<R>>,
    {
        let mut attempt = 0u32;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.settings.max_retries && is_transient(&e) => {
                    attempt += 1;
                    let wait = self.settings.backoff(attempt, &self.jitter);
                    self.metrics.record_retry(op);
                    tracing::debug!(op = op.verb(), key, attempt, ?wait, error = %e, "retrying transient storage error");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl<T> std::fmt::Display for RetryStore<T>
where
    T: std::fmt::Display,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Retry({})", self.inner)
    }
}

/// Reads a GET body completely and checks it against the announced range, so a cut
/// connection becomes a retryable error instead of silently short data.
async fn buffered(r: GetResult) -> object_store::Result<GetResult> {
    let (payload, head) = crate::get_body::split(r);
    let expected = head.range.end - head.range.start;
    let data = match payload {
        GetResultPayload::Stream(s) => crate::get_body::collect(s, expected).await?,
        // Local files are read in full by object_store itself.
        file @ GetResultPayload::File(..) => return Ok(head.with_payload(file)),
    };
    if data.len() as u64 != expected {
        return Err(object_store::Error::Generic {
            store: "retry",
            source: Box::new(TruncatedBody {
                expected,
                got: data.len() as u64,
            }),
        });
    }
    Ok(head.with_bytes(data))
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<T: ObjectStore> ObjectStore for RetryStore<T> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        // PutPayload clones share the buffers; options are cloned per attempt.
        self.run(Op::Put, location.as_ref(), || {
            self.inner.put_opts(location, payload.clone(), opts.clone())
        })
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        // Parts cannot be retried from here (each call numbers a new part); only initiation is.
        self.run(Op::Put, location.as_ref(), || {
            self.inner.put_multipart_opts(location, opts.clone())
        })
        .await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let op = Op::of_get(&options);
        self.run(op, location.as_ref(), || async {
            let r = self.inner.get_opts(location, options.clone()).await?;
            if options.head {
                Ok(r)
            } else {
                buffered(r).await
            }
        })
        .await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.run(Op::GetRange, location.as_ref(), || {
            self.inner.get_ranges(location, ranges)
        })
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // Bulk deletes are idempotent but their streams cannot be replayed; callers retry
        // per key through `Bucket::delete`.
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.run(Op::List, prefix.map(|p| p.as_ref()).unwrap_or(""), || {
            self.inner.list_with_delimiter(prefix)
        })
        .await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.run(Op::Copy, from.as_ref(), || {
            self.inner.copy_opts(from, to, options.clone())
        })
        .await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.run(Op::Copy, from.as_ref(), || {
            self.inner.rename_opts(from, to, options.clone())
        })
        .await
    }
}

/// Lists `prefix` completely despite transient failures mid-listing (a listing cannot be
/// retried as one request). Backends that list in key order (`sorted`: S3, GCS, Azure,
/// memory) resume after the last key seen; others (local filesystem) start over and skip
/// keys already returned.
pub(crate) async fn list_all_resuming(
    store: &dyn ObjectStore,
    prefix: Option<&Path>,
    sorted: bool,
    settings: &RetrySettings,
    metrics: &RequestMetrics,
    jitter: &Jitter,
    mut on_item: impl FnMut(ObjectMeta),
) -> object_store::Result<u64> {
    // Sorted backends need only the last key to resume; unsorted ones remember every key.
    let mut last: Option<Path> = None;
    let mut seen = std::collections::HashSet::new();
    let mut count = 0u64;
    let mut attempt = 0u32;
    loop {
        let mut s = match &last {
            Some(l) if sorted => store.list_with_offset(prefix, l),
            _ => store.list(prefix),
        };
        let mut failed = None;
        while let Some(item) = s.next().await {
            match item {
                Ok(m) => {
                    let fresh = if sorted {
                        last = Some(m.location.clone());
                        true
                    } else {
                        seen.insert(m.location.clone())
                    };
                    if fresh {
                        count += 1;
                        on_item(m);
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        match failed {
            None => return Ok(count),
            Some(e) if attempt < settings.max_retries && is_transient(&e) => {
                attempt += 1;
                metrics.record_retry(Op::List);
                let wait = settings.backoff(attempt, jitter);
                tracing::debug!(attempt, ?wait, error = %e, "retrying listing from the last key seen");
                tokio::time::sleep(wait).await;
            }
            Some(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(msg: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: msg.to_string().into(),
        }
    }

    #[test]
    fn classification() {
        assert!(is_transient(&generic(
            "Server returned non-2xx status code: 503 Service Unavailable: "
        )));
        assert!(is_transient(&generic(
            "Server returned non-2xx status code: 429 Too Many Requests: "
        )));
        assert!(is_transient(&generic(
            "Server returned error response: <Code>SlowDown</Code>"
        )));
        assert!(!is_transient(&generic(
            "Server returned non-2xx status code: 400 Bad Request: index_20429/x"
        )));
        let nf = object_store::Error::NotFound {
            path: "x".into(),
            source: "503".to_string().into(),
        };
        assert!(!is_transient(&nf), "only generic errors are retried");
        let io = object_store::Error::Generic {
            store: "x",
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            )),
        };
        assert!(is_transient(&io));
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let s = RetrySettings {
            max_retries: 10,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        };
        let j = Jitter::new(42);
        for attempt in 1..=10u32 {
            let full =
                (Duration::from_millis(100) * 2u32.pow(attempt - 1)).min(Duration::from_secs(2));
            let b = s.backoff(attempt, &j);
            assert!(
                b >= full / 2 && b <= full,
                "attempt {attempt}: {b:?} vs {full:?}"
            );
        }
    }
}
