//! Request counters per operation (requests, failures, bytes, time, retries), an
//! `ObjectStore` wrapper that feeds them, Prometheus text exposition, and a cost estimate.
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
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Default)]
struct OpCounters {
    requests: AtomicU64,
    failures: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    objects_listed: AtomicU64,
    retries: AtomicU64,
    nanos: AtomicU64,
}

/// Counters for one bucket. Shared (`Arc`) between the wrappers and whoever exports them.
#[derive(Debug)]
pub struct RequestMetrics {
    bucket: String,
    ops: [OpCounters; 7],
}

/// A point-in-time copy of one operation's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OpSnapshot {
    /// Attempts made (each retry is a request).
    pub requests: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Body bytes received.
    pub bytes_read: u64,
    /// Body bytes sent.
    pub bytes_written: u64,
    /// Objects returned by listings.
    pub objects_listed: u64,
    /// Retries scheduled.
    pub retries: u64,
}

impl RequestMetrics {
    /// Counters labelled with `bucket`.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            ops: Default::default(),
        }
    }

    /// The `bucket` label.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn c(&self, op: Op) -> &OpCounters {
        &self.ops[op.index()]
    }

    pub(crate) fn record(&self, op: Op, ok: bool, started: Instant) {
        let c = self.c(op);
        c.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            c.failures.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        c.nanos.fetch_add(ns, Ordering::Relaxed);
    }

    pub(crate) fn add_read(&self, op: Op, n: u64) {
        self.c(op).bytes_read.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_written(&self, op: Op, n: u64) {
        self.c(op).bytes_written.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_listed(&self, n: u64) {
        self.c(Op::List)
            .objects_listed
            .fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn record_retry(&self, op: Op) {
        self.c(op).retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Counters of `op`.
    pub fn snapshot(&self, op: Op) -> OpSnapshot {
        let c = self.c(op);
        OpSnapshot {
            requests: c.requests.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            bytes_read: c.bytes_read.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            objects_listed: c.objects_listed.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }

    /// Prometheus text exposition. Names follow the thanos objstore metrics Loki exposes
    /// with its `loki_` prefix; `…_uploaded_bytes_total` and `…_retries_total` are ours.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        let b = escape(&self.bucket);
        let families: [Family; 6] = [
            (
                "loki_objstore_bucket_operations_total",
                "counter",
                "Storage requests (attempts) by operation.",
                |c| c.requests.load(Ordering::Relaxed) as f64,
            ),
            (
                "loki_objstore_bucket_operation_failures_total",
                "counter",
                "Failed storage requests by operation.",
                |c| c.failures.load(Ordering::Relaxed) as f64,
            ),
            (
                "loki_objstore_bucket_operation_fetched_bytes_total",
                "counter",
                "Body bytes received by operation.",
                |c| c.bytes_read.load(Ordering::Relaxed) as f64,
            ),
            (
                "loki_objstore_bucket_operation_uploaded_bytes_total",
                "counter",
                "Body bytes sent by operation.",
                |c| c.bytes_written.load(Ordering::Relaxed) as f64,
            ),
            (
                "loki_objstore_bucket_operation_retries_total",
                "counter",
                "Retries of transient failures by operation.",
                |c| c.retries.load(Ordering::Relaxed) as f64,
            ),
            (
                "loki_objstore_bucket_operation_duration_seconds_sum",
                "counter",
                "Total time in storage requests by operation.",
                |c| c.nanos.load(Ordering::Relaxed) as f64 / 1e9,
            ),
        ];
        for (name, kind, help, get) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for op in Op::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{bucket=\"{b}\",operation=\"{}\"}} {}",
                    op.label(),
                    get(self.c(op))
                );
            }
        }
        out
    }

    /// Estimated cost of the requests and bytes counted so far.
    pub fn estimate_cost(&self, model: &CostModel) -> CostEstimate {
        let mut e = CostEstimate::default();
        for op in Op::ALL {
            let s = self.snapshot(op);
            let per_1k = match op {
                Op::Put | Op::Copy | Op::List => model.usd_per_1k_class_a,
                Op::Get | Op::GetRange | Op::Head => model.usd_per_1k_class_b,
                Op::Delete => model.usd_per_1k_delete,
            };
            // object_store hides list pagination: estimate one request per 1,000 keys.
            let requests = if op == Op::List {
                s.requests.max(s.objects_listed.div_ceil(1000))
            } else {
                s.requests
            };
            e.requests_usd += requests as f64 / 1000.0 * per_1k;
            e.read_gb += s.bytes_read as f64 / 1e9;
            e.written_gb += s.bytes_written as f64 / 1e9;
        }
        e.transfer_usd =
            e.read_gb * model.usd_per_gb_read + e.written_gb * model.usd_per_gb_written;
        e.total_usd = e.requests_usd + e.transfer_usd;
        e
    }
}

/// Name, type, help, value of one metric family.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&OpCounters) -> f64,
);

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prices for a cost estimate (settings, not facts: defaults are S3 Standard list prices in
/// us-east-1 at the time of writing, with in-region transfer free).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CostModel {
    /// PUT, COPY, POST, LIST per 1,000 requests.
    pub usd_per_1k_class_a: f64,
    /// GET, HEAD and others per 1,000 requests.
    pub usd_per_1k_class_b: f64,
    /// DELETE per 1,000 requests.
    pub usd_per_1k_delete: f64,
    /// Per GB read (egress).
    pub usd_per_gb_read: f64,
    /// Per GB written (ingress).
    pub usd_per_gb_written: f64,
}

impl Default for CostModel {
    fn default() -> Self {
        Self {
            usd_per_1k_class_a: 0.005,
            usd_per_1k_class_b: 0.0004,
            usd_per_1k_delete: 0.0,
            usd_per_gb_read: 0.0,
            usd_per_gb_written: 0.0,
        }
    }
}

/// Result of [`RequestMetrics::estimate_cost`].
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct CostEstimate {
    /// Request charges.
    pub requests_usd: f64,
    /// Transfer charges.
    pub transfer_usd: f64,
    /// Sum.
    pub total_usd: f64,
    /// GB read.
    pub read_gb: f64,
    /// GB written.
    pub written_gb: f64,
}

/// `ObjectStore` wrapper counting every request that reaches the backend.
#[derive(Debug)]
pub struct MetricsStore<T> {
    inner: T,
    metrics: Arc<RequestMetrics>,
}

impl<T> MetricsStore<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, metrics: Arc<RequestMetrics>) -> Self {
        Self { inner, metrics }
    }
}

impl<T: std::fmt::Display> std::fmt::Display for MetricsStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Metrics({})", self.inner)
    }
}

fn count_stream(
    s: BoxStream<'static, object_store::Result<ObjectMeta>>,
    metrics: Arc<RequestMetrics>,
) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
    let started = Instant::now();
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (m2, f2) = (Arc::clone(&metrics), Arc::clone(&failed));
    s.map(move |item| {
        match &item {
            Ok(_) => metrics.add_listed(1),
            Err(_) => {
                if !failed.swap(true, Ordering::Relaxed) {
                    metrics.record(Op::List, false, started);
                }
            }
        }
        Some(item)
    })
    .chain(futures::stream::once(async move {
        if !f2.load(Ordering::Relaxed) {
            m2.record(Op::List, true, started);
        }
        None
    }))
    .filter_map(futures::future::ready)
    .boxed()
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<T: ObjectStore> ObjectStore for MetricsStore<T> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let t = Instant::now();
        let n = payload.content_length() as u64;
        let r = self.inner.put_opts(location, payload, opts).await;
        self.metrics.record(Op::Put, r.is_ok(), t);
        if r.is_ok() {
            self.metrics.add_written(Op::Put, n);
        }
        r
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let t = Instant::now();
        let r = self.inner.put_multipart_opts(location, opts).await;
        self.metrics.record(Op::Put, r.is_ok(), t);
        r
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let op = Op::of_get(&options);
        let t = Instant::now();
        let r = self.inner.get_opts(location, options).await;
        self.metrics.record(op, r.is_ok(), t);
        let r = r?;
        if op == Op::Head {
            return Ok(r);
        }
        // Count bytes as they stream, so truncated bodies count what actually arrived.
        let m = Arc::clone(&self.metrics);
        let (payload, head) = crate::get_body::split(r);
        let payload = match payload {
            GetResultPayload::Stream(s) => GetResultPayload::Stream(
                s.inspect(move |c| {
                    if let Ok(b) = c {
                        m.add_read(op, b.len() as u64);
                    }
                })
                .boxed(),
            ),
            file => {
                m.add_read(op, head.range.end - head.range.start);
                file
            }
        };
        Ok(head.with_payload(payload))
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let t = Instant::now();
        let r = self.inner.get_ranges(location, ranges).await;
        self.metrics.record(Op::GetRange, r.is_ok(), t);
        if let Ok(v) = &r {
            self.metrics
                .add_read(Op::GetRange, v.iter().map(|b| b.len() as u64).sum());
        }
        r
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let m = Arc::clone(&self.metrics);
        let t = Instant::now();
        self.inner
            .delete_stream(locations)
            .inspect(move |r| m.record(Op::Delete, r.is_ok(), t))
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        count_stream(self.inner.list(prefix), Arc::clone(&self.metrics))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        count_stream(
            self.inner.list_with_offset(prefix, offset),
            Arc::clone(&self.metrics),
        )
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let t = Instant::now();
        let r = self.inner.list_with_delimiter(prefix).await;
        self.metrics.record(Op::List, r.is_ok(), t);
        if let Ok(l) = &r {
            self.metrics
                .add_listed((l.objects.len() + l.common_prefixes.len()) as u64);
        }
        r
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let t = Instant::now();
        let r = self.inner.copy_opts(from, to, options).await;
        self.metrics.record(Op::Copy, r.is_ok(), t);
        r
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        let t = Instant::now();
        let r = self.inner.rename_opts(from, to, options).await;
        self.metrics.record(Op::Copy, r.is_ok(), t);
        r
    }
}
