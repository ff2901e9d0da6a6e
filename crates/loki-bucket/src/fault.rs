//! Fault injection for tests: an `ObjectStore` wrapper that, per rule, fails requests
//! (unavailable, throttled, timeout, denied), delays them, or cuts response bodies short.
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
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do to a matching request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// A 503-like transient failure.
    Unavailable,
    /// A 429 / SlowDown throttling failure (transient).
    Throttled,
    /// A request timeout (transient).
    Timeout,
    /// Access denied (permanent).
    PermissionDenied,
    /// Delay the request, then run it.
    Latency(Duration),
    /// Run a GET but deliver only the first `keep` bytes of the body.
    TruncateBody {
        /// Bytes delivered before the stream ends.
        keep: u64,
    },
}

/// The error an injected failure surfaces as.
#[derive(Debug, thiserror::Error)]
#[error("injected fault: {what}")]
pub struct InjectedFault {
    what: &'static str,
    transient: bool,
}

impl InjectedFault {
    /// Would a real service's equivalent be worth retrying?
    pub fn transient(&self) -> bool {
        self.transient
    }
}

/// One rule: which requests, what fault, how many times.
#[derive(Clone, Debug)]
pub struct FaultRule {
    ops: Option<Vec<Op>>,
    key_contains: Option<String>,
    fault: Fault,
    remaining: Option<u64>,
}

impl FaultRule {
    /// Applies `fault` to every request until narrowed.
    pub fn new(fault: Fault) -> Self {
        Self {
            ops: None,
            key_contains: None,
            fault,
            remaining: None,
        }
    }

    /// Only these operations.
    pub fn on(mut self, ops: &[Op]) -> Self {
        self.ops = Some(ops.to_vec());
        self
    }

    /// Only keys (or list prefixes) containing `s`.
    pub fn key_contains(mut self, s: impl Into<String>) -> Self {
        self.key_contains = Some(s.into());
        self
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u64) -> Self {
        self.remaining = Some(n);
        self
    }
}

/// A shared set of rules; clone the `Arc` into a [`FaultStore`] and keep one to steer it.
#[derive(Debug, Default)]
pub struct FaultInjector {
    rules: Mutex<Vec<FaultRule>>,
    injected: AtomicU64,
}

impl FaultInjector {
    /// No rules.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Adds a rule (rules are tried in insertion order; the first match fires).
    pub fn add(&self, rule: FaultRule) {
        self.lock().push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        // A panicking test thread cannot corrupt a Vec of rules; keep going.
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, op: Op, key: &str) -> Option<Fault> {
        let mut rules = self.lock();
        let i = rules.iter().position(|r| {
            r.remaining != Some(0)
                && r.ops.as_ref().is_none_or(|o| o.contains(&op))
                && r.key_contains
                    .as_ref()
                    .is_none_or(|k| key.contains(k.as_str()))
        })?;
        if let Some(n) = rules[i].remaining.as_mut() {
            *n -= 1;
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        Some(rules[i].fault.clone())
    }
}

fn fail(what: &'static str, transient: bool, key: &str) -> object_store::Error {
    let source = Box::new(InjectedFault { what, transient });
    if transient {
        object_store::Error::Generic {
            store: "fault",
            source,
        }
    } else {
        object_store::Error::PermissionDenied {
            path: key.to_string(),
            source,
        }
    }
}

/// `ObjectStore` wrapper applying a [`FaultInjector`]'s rules.
#[derive(Debug)]
pub struct FaultStore<T> {
    inner: T,
    faults: Arc<FaultInjector>,
}

impl<T> FaultStore<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, faults: Arc<FaultInjector>) -> Self {
        Self { inner, faults }
    }
}

impl<T: std::fmt::Display> std::fmt::Display for FaultStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Faults({})", self.inner)
    }
}

impl<T: ObjectStore> FaultStore<T> {
    /// Applies a non-body fault; returns the truncation length for GETs to apply later.
    async fn before(&self, op: Op, key: &str) -> object_store::Result<Option<u64>> {
        match self.faults.take(op, key) {
            None => Ok(None),
            Some(Fault::Unavailable) => Err(fail("503 Service Unavailable", true, key)),
            Some(Fault::Throttled) => Err(fail("503 SlowDown (throttled)", true, key)),
            Some(Fault::Timeout) => Err(fail("request timed out", true, key)),
            Some(Fault::PermissionDenied) => Err(fail("403 Access Denied", false, key)),
            Some(Fault::Latency(d)) => {
                tokio::time::sleep(d).await;
                Ok(None)
            }
            Some(Fault::TruncateBody { keep }) => Ok(Some(keep)),
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<T: ObjectStore> ObjectStore for FaultStore<T> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.before(Op::Put, location.as_ref()).await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.before(Op::Put, location.as_ref()).await?;
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FaultedUpload {
            inner,
            faults: Arc::clone(&self.faults),
            key: location.to_string(),
            parts: 0,
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let op = Op::of_get(&options);
        let truncate = self.before(op, location.as_ref()).await?;
        let r = self.inner.get_opts(location, options).await?;
        let Some(keep) = truncate else { return Ok(r) };
        let (payload, head) = crate::get_body::split(r);
        let range = head.range.clone();
        // Read it all, then hand out a prefix while the range still announces the full size.
        let all: Bytes = match payload {
            GetResultPayload::Stream(s) => {
                crate::get_body::collect(s, range.end - range.start).await?
            }
            GetResultPayload::File(mut f, _) => {
                use std::io::{Read, Seek, SeekFrom};
                let mut buf = Vec::new();
                f.seek(SeekFrom::Start(range.start))
                    .and_then(|_| f.take(range.end - range.start).read_to_end(&mut buf))
                    .map_err(|e| object_store::Error::Generic {
                        store: "fault",
                        source: Box::new(e),
                    })?;
                buf.into()
            }
        };
        let cut = all.slice(..(keep.min(all.len() as u64) as usize));
        Ok(head.with_bytes(cut))
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.before(Op::GetRange, location.as_ref()).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let faults = Arc::clone(&self.faults);
        // Faulted keys fail in place; the others go to the backend.
        let checked = locations
            .map(move |p| {
                let p = p?;
                match faults.take(Op::Delete, p.as_ref()) {
                    Some(Fault::Unavailable) | Some(Fault::Throttled) | Some(Fault::Timeout) => {
                        Err(fail("503 Service Unavailable", true, p.as_ref()))
                    }
                    Some(Fault::PermissionDenied) => {
                        Err(fail("403 Access Denied", false, p.as_ref()))
                    }
                    _ => Ok(p),
                }
            })
            .boxed();
        self.inner.delete_stream(checked)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let key = prefix.map(|p| p.as_ref().to_string()).unwrap_or_default();
        match self.faults.take(Op::List, &key) {
            Some(Fault::Unavailable) | Some(Fault::Throttled) | Some(Fault::Timeout) => {
                // Fail mid-listing (after the first item), as a dropped page would.
                let err = fail("503 Service Unavailable", true, &key);
                self.inner
                    .list(prefix)
                    .take(1)
                    .chain(futures::stream::once(async move { Err(err) }))
                    .boxed()
            }
            Some(Fault::PermissionDenied) => {
                let err = fail("403 Access Denied", false, &key);
                futures::stream::once(async move { Err(err) }).boxed()
            }
            _ => self.inner.list(prefix),
        }
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let key = prefix.map(|p| p.as_ref().to_string()).unwrap_or_default();
        match self.faults.take(Op::List, &key) {
            Some(Fault::Unavailable) | Some(Fault::Throttled) | Some(Fault::Timeout) => {
                let err = fail("503 Service Unavailable", true, &key);
                futures::stream::once(async move { Err(err) }).boxed()
            }
            Some(Fault::PermissionDenied) => {
                let err = fail("403 Access Denied", false, &key);
                futures::stream::once(async move { Err(err) }).boxed()
            }
            _ => self.inner.list_with_offset(prefix, offset),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.before(Op::List, prefix.map(|p| p.as_ref()).unwrap_or(""))
            .await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.before(Op::Copy, from.as_ref()).await?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.before(Op::Copy, from.as_ref()).await?;
        self.inner.rename_opts(from, to, options).await
    }
}

/// A multipart upload whose parts are faulted too: each part is a PUT request of its own,
/// matched against the rules as `<key>#part<n>` (n from 1) so tests can aim at parts only.
#[derive(Debug)]
struct FaultedUpload {
    inner: Box<dyn MultipartUpload>,
    faults: Arc<FaultInjector>,
    key: String,
    parts: u64,
}

#[async_trait]
impl MultipartUpload for FaultedUpload {
    fn put_part(&mut self, data: PutPayload) -> object_store::UploadPart {
        self.parts += 1;
        let key = format!("{}#part{}", self.key, self.parts);
        let err = |what, transient| {
            let e = fail(what, transient, &key);
            Box::pin(async move { Err(e) }) as object_store::UploadPart
        };
        match self.faults.take(Op::Put, &key) {
            Some(Fault::Unavailable) => err("503 Service Unavailable", true),
            Some(Fault::Throttled) => err("503 SlowDown (throttled)", true),
            Some(Fault::Timeout) => err("request timed out", true),
            Some(Fault::PermissionDenied) => err("403 Access Denied", false),
            Some(Fault::Latency(d)) => {
                let part = self.inner.put_part(data);
                Box::pin(async move {
                    tokio::time::sleep(d).await;
                    part.await
                })
            }
            // Bodies of PUTs are not cut; a truncation rule means nothing here.
            Some(Fault::TruncateBody { .. }) | None => self.inner.put_part(data),
        }
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}
