//! `replicate`: copy a store's chunks and index (all of it, or one tenant, or a time range)
//! to another bucket that Loki — or `loki-inspect query` — can read as it is.
//!
//! What is copied:
//! * chunk objects (`<tenant>/…`) whose key time range overlaps `[from, to)`; keys are
//!   re-encoded when one side is a filesystem store (base64 names) and the other is not;
//! * index files of the tables whose day overlaps `[from, to)`: per-tenant files as they
//!   are; ingester uploads (multi-tenant files) as they are when copying every tenant, and
//!   with a tenant filter as that tenant's slice, written as a per-tenant file (other
//!   tenants' series never reach the destination). The slice's name is derived from the
//!   upload (its start second as the creation time), so re-runs produce the same key.
//!
//! Not copied: the delete-request DB, retention markers, the compactor's lease and
//! no-compact objects, and anything that is not a chunk or an index file (counted in the
//! report). Nothing is ever deleted in the destination.
//!
//! Order and resumption: chunks first, index files only once every chunk is there, so the
//! destination never has an index pointing at missing chunks. An object already present in
//! the destination with the same size is skipped (objects are immutable and their names
//! carry their checksum), so an interrupted run is resumed by running it again. Each
//! object appears in the destination only when complete (single PUT, completed multipart
//! upload or server-side copy).
//!
//! Transfers: server-side copy when source and destination are the same object store
//! (same backend, e.g. one S3 bucket under two prefixes); otherwise GET→PUT, streamed in
//! parts above 16 MiB, with at most `concurrency` objects in flight. Memory holds the
//! listings (about 100 bytes per object) and at most a few parts per object in flight.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use futures::StreamExt;
use loki_bucket::{Bucket, BucketOptions, ObjectKind};
use loki_config::{SchemaVersion, StoreBackend, StoreSpec};
use loki_tsdb::{FormatVersion, IndexFileName, IndexObjectKey, IndexReader};
use serde::Serialize;

use crate::error::{MaintError, Result};
use crate::target::{MaintPeriod, StoreBucket, Target};
use crate::verify::Progress;

const DAY_MS: i64 = 86_400_000;
const MAX_LISTED_FAILURES: usize = 20;

/// The bucket replicated into.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The bucket.
    pub bucket: Bucket,
    /// What it was built from.
    pub spec: StoreSpec,
}

impl Destination {
    /// A destination from a store URL (`s3://bucket/prefix`, `file:///dir`, a directory …).
    pub fn from_url(url: &str, endpoint: Option<&str>, opts: BucketOptions) -> Result<Self> {
        let spec = loki_bucket::spec_from_url(url, endpoint)?;
        if let StoreBackend::Filesystem { dir } = &spec.backend {
            // A new local copy starts from an empty directory.
            std::fs::create_dir_all(dir).map_err(|source| MaintError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let bucket = Bucket::from_spec(&spec, opts)?;
        Ok(Destination { bucket, spec })
    }
}

/// What to copy.
#[derive(Debug, Clone, Default)]
pub struct ReplicateOptions {
    /// Only this tenant's chunks and index.
    pub tenant: Option<String>,
    /// Start of the time range (unix ms, inclusive).
    pub from_ms: Option<i64>,
    /// End of the time range (unix ms, exclusive).
    pub to_ms: Option<i64>,
    /// Count what would be copied; write nothing.
    pub dry_run: bool,
    /// Objects in flight.
    pub concurrency: usize,
}

/// Counters of one kind of object.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Selected in the source.
    pub selected: u64,
    /// Copied (in a dry run: that would be).
    pub copied: u64,
    /// Already in the destination with the same size.
    pub skipped_existing: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
}

/// One object that could not be copied.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Source key.
    pub key: String,
    /// Why.
    pub error: String,
}

/// What a run did (the `--json` output).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplicateReport {
    /// Nothing was written.
    pub dry_run: bool,
    /// Objects were copied server-side (same object store on both sides).
    pub server_side_copy: bool,
    /// Chunk objects.
    pub chunks: Counts,
    /// Index files copied as they are.
    pub index_files: Counts,
    /// Per-tenant files cut from ingester uploads (with a tenant filter).
    pub tenant_slices: Counts,
    /// Listed objects that are neither selected chunks nor index files (delete requests,
    /// markers, unknown keys); chunks and tables outside the filters are not counted.
    pub not_copied: u64,
    /// A few of them.
    pub not_copied_examples: Vec<String>,
    /// Objects that failed (first 20); the run can simply be repeated.
    pub failed: Vec<Failure>,
    /// Number of failed objects.
    pub failed_count: u64,
    /// Index files were not copied because chunks failed.
    pub index_skipped: bool,
}

/// One object to transfer.
#[derive(Debug, Clone)]
struct Item {
    src: String,
    dst: String,
    size: u64,
}

/// An ingester upload to cut a tenant's slice from.
#[derive(Debug, Clone)]
struct Slice {
    src: String,
    prefix: String,
    table: String,
    created_ns: i64,
    version: FormatVersion,
}

fn overlaps(from: i64, through: i64, o: &ReplicateOptions) -> bool {
    o.from_ms.is_none_or(|f| through >= f) && o.to_ms.is_none_or(|t| from < t)
}

fn same_backend(a: &StoreSpec, b: &StoreSpec) -> bool {
    // Two in-memory stores are different instances even with equal specs.
    a.backend == b.backend && !matches!(a.backend, StoreBackend::InMemory)
}

fn nested(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Copies `src` (or the selected part of it) into `dst`.
pub async fn replicate(
    src: &Target,
    dst: &Destination,
    opts: &ReplicateOptions,
    progress: &dyn Progress,
) -> Result<ReplicateReport> {
    let mut report = ReplicateReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    if let Some(t) = &opts.tenant {
        if t.is_empty() || t.contains('/') {
            return Err(MaintError::Config(format!(
                "tenant `{t}` is not a valid tenant id"
            )));
        }
    }
    for sb in &src.buckets {
        if same_backend(&sb.spec, &dst.spec) && nested(&sb.spec.key_prefix, &dst.spec.key_prefix) {
            return Err(MaintError::Unsafe(format!(
                "source {} and destination {} overlap: copying would read its own output",
                sb.bucket.name(),
                dst.bucket.name()
            )));
        }
    }
    let concurrency = opts.concurrency.max(1);
    let existing = list_destination(src, dst, opts, progress).await?;
    for sb in &src.buckets {
        let periods: Vec<&MaintPeriod> = src
            .periods
            .iter()
            .filter(|p| p.bucket.name() == sb.bucket.name())
            .collect();
        let server_side = same_backend(&sb.spec, &dst.spec);
        report.server_side_copy |= server_side;
        // Server-side copies need one store handle that sees both prefixes.
        let root = if server_side {
            let spec = StoreSpec {
                key_prefix: String::new(),
                ..sb.spec.clone()
            };
            Some(Bucket::from_spec(&spec, BucketOptions::default())?)
        } else {
            None
        };
        let xfer = Transfer {
            src: &sb.bucket,
            src_prefix: &sb.spec.key_prefix,
            dst,
            root: root.as_ref(),
            existing: &existing,
            dry_run: opts.dry_run,
        };

        let chunks = list_chunks(sb, dst, opts, &mut report, progress).await?;
        progress.phase("copy chunks", Some(chunks.len() as u64));
        let failed_before = report.failed_count;
        let mut counts = std::mem::take(&mut report.chunks);
        xfer.run(&chunks, concurrency, &mut counts, &mut report, progress)
            .await;
        report.chunks = counts;
        if report.failed_count > failed_before {
            // Never let the destination index chunks it does not have.
            report.index_skipped = true;
            continue;
        }

        let (files, slices) = list_index(sb, &periods, opts, &mut report, progress).await?;
        progress.phase("copy index", Some((files.len() + slices.len()) as u64));
        let mut counts = std::mem::take(&mut report.index_files);
        xfer.run(&files, concurrency, &mut counts, &mut report, progress)
            .await;
        report.index_files = counts;
        if let Some(t) = &opts.tenant {
            for s in &slices {
                report.tenant_slices.selected += 1;
                match xfer.slice(s, t).await {
                    Ok(Some((copied, n))) => {
                        if copied {
                            report.tenant_slices.copied += 1;
                            report.tenant_slices.bytes_copied += n;
                        } else {
                            report.tenant_slices.skipped_existing += 1;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => record_failure(&mut report, &s.src, &e),
                }
                progress.inc(1);
            }
        }
    }
    Ok(report)
}

fn record_failure(report: &mut ReplicateReport, key: &str, e: &MaintError) {
    tracing::warn!(key, err = %e, "copy failed");
    report.failed_count += 1;
    if report.failed.len() < MAX_LISTED_FAILURES {
        report.failed.push(Failure {
            key: key.to_owned(),
            error: e.to_string(),
        });
    }
}

fn not_copied(report: &mut ReplicateReport, key: String) {
    report.not_copied += 1;
    if report.not_copied_examples.len() < 10 {
        report.not_copied_examples.push(key);
    }
}

/// Keys and sizes already in the destination, under the prefixes this run writes to.
async fn list_destination(
    src: &Target,
    dst: &Destination,
    opts: &ReplicateOptions,
    progress: &dyn Progress,
) -> Result<HashMap<String, u64>> {
    progress.phase("list destination", None);
    let mut prefixes: Vec<String> = match &opts.tenant {
        Some(t) => {
            let mut v = vec![format!("{t}/")];
            v.extend(src.periods.iter().map(|p| p.path_prefix.clone()));
            v
        }
        None => vec![String::new()],
    };
    prefixes.sort();
    prefixes.dedup();
    let mut out = HashMap::new();
    for p in prefixes {
        dst.bucket
            .for_each_object(&p, |o| {
                progress.inc(1);
                out.insert(o.key, o.size);
            })
            .await?;
    }
    Ok(out)
}

/// Selected chunk objects of one source bucket, with their destination keys.
async fn list_chunks(
    sb: &StoreBucket,
    dst: &Destination,
    opts: &ReplicateOptions,
    report: &mut ReplicateReport,
    progress: &dyn Progress,
) -> Result<Vec<Item>> {
    progress.phase("list source", None);
    let prefix = opts
        .tenant
        .as_ref()
        .map(|t| format!("{t}/"))
        .unwrap_or_default();
    let (src_codec, dst_codec) = (sb.bucket.codec(), dst.bucket.codec());
    let mut items = Vec::new();
    let mut other = Vec::new();
    sb.bucket
        .for_each_object(&prefix, |o| {
            progress.inc(1);
            match sb.layout.classify(&o.key) {
                ObjectKind::Chunk(c) => {
                    if !overlaps(c.from_ms, c.through_ms, opts) {
                        return;
                    }
                    // The stored name's form tells the schema: v12+ keys have a
                    // fingerprint directory, older ones do not.
                    let Ok(logical) = src_codec.decode_chunk_key(&o.key) else {
                        return other.push(o.key);
                    };
                    let schema = if logical.matches('/').count() == 2 {
                        SchemaVersion::V13
                    } else {
                        SchemaVersion::V11
                    };
                    items.push(Item {
                        dst: dst_codec.encode_chunk_key(&logical, schema),
                        src: o.key,
                        size: o.size,
                    });
                }
                // Index files are selected per table (`list_index`).
                ObjectKind::Index { .. } => {}
                _ => other.push(o.key),
            }
        })
        .await?;
    for k in other {
        not_copied(report, k);
    }
    report.chunks.selected += items.len() as u64;
    Ok(items)
}

/// Selected index files of one source bucket: files copied as they are, and ingester
/// uploads to slice (with a tenant filter).
async fn list_index(
    sb: &StoreBucket,
    periods: &[&MaintPeriod],
    opts: &ReplicateOptions,
    report: &mut ReplicateReport,
    progress: &dyn Progress,
) -> Result<(Vec<Item>, Vec<Slice>)> {
    let (mut files, mut slices) = (Vec::new(), Vec::new());
    for p in periods {
        let (dirs, _) = sb.bucket.list_dir(&p.path_prefix).await?;
        for d in dirs {
            let table = d.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let Some(day) = p
                .table_day(table)
                .filter(|d| format!("{}{d}", p.table_prefix) == table)
            else {
                continue; // delete_requests/ and anything else that is not a table
            };
            if !overlaps(day * DAY_MS, (day + 1) * DAY_MS - 1, opts) {
                continue;
            }
            for o in sb
                .bucket
                .list(&format!("{}{table}/", p.path_prefix))
                .await?
            {
                progress.inc(1);
                let key = match IndexObjectKey::parse(&p.path_prefix, &o.key) {
                    Ok(k) => k,
                    Err(_) => {
                        not_copied(report, o.key);
                        continue;
                    }
                };
                match (&key.tenant, &opts.tenant) {
                    (Some(t), Some(want)) if t != want => {}
                    (Some(_), _) | (None, None) => files.push(Item {
                        dst: o.key.clone(),
                        src: o.key,
                        size: o.size,
                    }),
                    (None, Some(_)) => {
                        if let IndexFileName::MultiTenant { ts, .. } = key.name {
                            slices.push(Slice {
                                src: o.key,
                                prefix: p.path_prefix.clone(),
                                table: table.to_owned(),
                                created_ns: ts.saturating_mul(1_000_000_000),
                                version: p.version,
                            });
                        } else {
                            // A compactor-named file outside a tenant directory is not
                            // Loki's layout: leave it.
                            not_copied(report, o.key);
                        }
                    }
                }
            }
        }
    }
    report.index_files.selected += files.len() as u64;
    Ok((files, slices))
}

struct Transfer<'a> {
    src: &'a Bucket,
    src_prefix: &'a str,
    dst: &'a Destination,
    root: Option<&'a Bucket>,
    existing: &'a HashMap<String, u64>,
    dry_run: bool,
}

enum Outcome {
    Copied(u64),
    Skipped,
}

impl Transfer<'_> {
    async fn one(&self, it: &Item) -> Result<Outcome> {
        if self.existing.get(&it.dst) == Some(&it.size) {
            return Ok(Outcome::Skipped);
        }
        if self.dry_run {
            return Ok(Outcome::Copied(it.size));
        }
        match self.root {
            Some(root) => {
                let from = format!("{}{}", self.src_prefix, it.src);
                let to = format!("{}{}", self.dst.spec.key_prefix, it.dst);
                root.copy(&from, &to).await?;
                Ok(Outcome::Copied(it.size))
            }
            None => Ok(Outcome::Copied(
                self.src
                    .copy_to(&it.src, it.size, &self.dst.bucket, &it.dst)
                    .await?,
            )),
        }
    }

    async fn run(
        &self,
        items: &[Item],
        concurrency: usize,
        counts: &mut Counts,
        report: &mut ReplicateReport,
        progress: &dyn Progress,
    ) {
        let failures = Mutex::new(Vec::new());
        let results: Vec<Option<Outcome>> = futures::stream::iter(items.iter().map(|it| {
            let failures = &failures;
            async move {
                let r = self.one(it).await;
                progress.inc(1);
                match r {
                    Ok(o) => Some(o),
                    Err(e) => {
                        if let Ok(mut f) = failures.lock() {
                            f.push((it.src.clone(), e));
                        }
                        None
                    }
                }
            }
        }))
        .buffer_unordered(concurrency)
        .collect()
        .await;
        for r in results.into_iter().flatten() {
            match r {
                Outcome::Copied(n) => {
                    counts.copied += 1;
                    counts.bytes_copied += n;
                }
                Outcome::Skipped => counts.skipped_existing += 1,
            }
        }
        for (k, e) in failures.into_inner().unwrap_or_default() {
            record_failure(report, &k, &e);
        }
    }

    /// Writes `tenant`'s slice of an ingester upload as a per-tenant file. Returns
    /// `(copied, bytes)`, or `None` when the upload has no series of the tenant.
    async fn slice(&self, s: &Slice, tenant: &str) -> Result<Option<(bool, u64)>> {
        if self.dry_run {
            return Ok(Some((true, 0)));
        }
        let body = self.src.get(&s.src).await?;
        let (src, t, version) = (s.src.clone(), tenant.to_owned(), s.version);
        let built = tokio::task::spawn_blocking(move || {
            let ie = |source| MaintError::Index {
                key: src.clone(),
                source,
            };
            let reader = IndexReader::from_bytes(body).map_err(ie)?;
            let view = reader.tenant_view(&t);
            if view.series_refs().map_err(ie)?.is_empty() {
                return Ok(None);
            }
            let (raw, summary) = loki_tsdb::merge(&[view], version, Vec::new()).map_err(ie)?;
            Ok::<_, MaintError>(Some((loki_tsdb::gzip(&raw), summary)))
        })
        .await
        .map_err(|e| MaintError::Task(e.to_string()))??;
        let Some((gz, summary)) = built else {
            return Ok(None);
        };
        let key = IndexObjectKey::compacted(&s.prefix, &s.table, tenant, s.created_ns, &summary)
            .to_string();
        let n = gz.len() as u64;
        if self.existing.get(&key) == Some(&n) {
            return Ok(Some((false, n)));
        }
        self.dst.bucket.put(&key, Bytes::from(gz)).await?;
        Ok(Some((true, n)))
    }
}
