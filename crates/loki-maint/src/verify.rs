//! `verify`: every index file parses and its checksums hold; every chunk ref points to an
//! existing, non-empty object whose checksum, bounds and labels match the index; chunk
//! objects no index references (orphans) and markers that should not be there (stranded)
//! are listed.
//!
//! Memory: index files are read one at a time (large ones are decompressed to a scratch
//! file and memory-mapped), chunk checks run in bounded batches, listings are streamed.
//! What grows with the store is one 16-byte hash per distinct indexed chunk and per
//! marked chunk (needed to tell orphans and stranded markers apart) and the findings.
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use loki_bucket::{Bucket, ChunkRef, ObjectKind};
use loki_chunk::{ChunkKey, ChunkObject};
use loki_compactor::markers::MarkerSource;
use loki_tsdb::{IndexFileName, IndexObjectKey, IndexReader, TENANT_LABEL};
use tokio::runtime::Handle;

use crate::error::{MaintError, Result};
use crate::report::{Finding, VerifyReport};
use crate::target::{MaintPeriod, Target};

/// Objects under this prefix are repair's quarantine: never checked, never counted.
pub const QUARANTINE_PREFIX: &str = "quarantine/";

/// What to check.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Only this tenant (its per-tenant files, its slice of multi-tenant uploads, its chunks).
    pub tenant: Option<String>,
    /// Only this table (orphans are then not checked: other tables may reference them).
    pub table: Option<String>,
    /// HEAD each chunk (exists, non-empty) instead of GET + checksum + decode.
    pub quick: bool,
    /// Chunk objects younger than this are not orphans: ingesters flush chunks before the
    /// index that references them is uploaded.
    pub orphan_min_age: Duration,
    /// Markers older than `retention_delete_delay` plus this are overdue.
    pub marker_grace: Duration,
    /// Chunk requests in flight.
    pub concurrency: usize,
    /// Index objects larger than this are decompressed to a scratch file and mapped.
    pub spill_above: usize,
    /// "Now" in unix seconds (ages of chunks and markers).
    pub now_secs: i64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            tenant: None,
            table: None,
            quick: false,
            orphan_min_age: Duration::from_secs(3600),
            marker_grace: Duration::from_secs(3600),
            concurrency: 16,
            spill_above: 64 << 20,
            now_secs: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        }
    }
}

/// Progress of long work, for a progress bar (the library draws nothing itself).
pub trait Progress: Sync {
    /// A phase starts; `total` when known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// `n` more items done in the current phase.
    fn inc(&self, n: u64);
}

/// No progress display.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _: &str, _: Option<u64>) {}
    fn inc(&self, _: u64) {}
}

/// A compact identity of a chunk (128-bit hash of its logical key).
pub(crate) fn chunk_id(c: &ChunkRef) -> u128 {
    xxhash_rust::xxh3::xxh3_128(c.key(loki_config::SchemaVersion::V13).as_bytes())
}

/// An index file of a table, as listed.
#[derive(Debug, Clone)]
pub(crate) struct IndexFile {
    pub(crate) key: String,
    pub(crate) parsed: IndexObjectKey,
    pub(crate) size: u64,
}

/// The tables of a period (sorted), filtered by `only`.
pub(crate) async fn list_tables(p: &MaintPeriod, only: Option<&str>) -> Result<Vec<String>> {
    let (dirs, _) = p.bucket.list_dir(&p.path_prefix).await?;
    let mut out: Vec<String> = dirs
        .iter()
        .filter_map(|d| {
            d.trim_end_matches('/')
                .rsplit('/')
                .next()
                .map(str::to_owned)
        })
        .filter(|t| p.table_day(t).is_some())
        .filter(|t| only.is_none_or(|o| o == t))
        .collect();
    out.sort();
    Ok(out)
}

/// The index files of one table (tenant files only of `tenant` when given).
pub(crate) async fn list_index_files(
    p: &MaintPeriod,
    table: &str,
    tenant: Option<&str>,
) -> Result<Vec<IndexFile>> {
    let prefix = format!("{}{table}/", p.path_prefix);
    let mut out = Vec::new();
    for o in p.bucket.list(&prefix).await? {
        match IndexObjectKey::parse(&p.path_prefix, &o.key) {
            Ok(k) if k.table == table => {
                if let (Some(want), Some(t)) = (tenant, &k.tenant) {
                    if want != t {
                        continue;
                    }
                }
                out.push(IndexFile {
                    key: o.key,
                    parsed: k,
                    size: o.size,
                });
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(key = %o.key, err = %e, "not an index file, skipped"),
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Opens index bytes; big objects go through a scratch file so they are mapped, not held.
pub(crate) fn open_index(bytes: Bytes, spill_above: usize) -> Result<IndexReader, String> {
    if bytes.len() <= spill_above {
        return IndexReader::from_bytes(bytes).map_err(|e| e.to_string());
    }
    let dir = tempfile::tempdir().map_err(|e| format!("scratch directory: {e}"))?;
    let path: PathBuf = dir.path().join("index.tsdb.gz");
    std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    drop(bytes);
    let r = IndexReader::open_spilled(&path, dir.path()).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&path);
    r
}

/// Fetches, parses and fully verifies one index file; `Err(reason)` is a finding.
pub(crate) async fn read_index(
    bucket: &Bucket,
    f: &IndexFile,
    spill_above: usize,
) -> Result<Result<IndexReader, String>> {
    let bytes = match bucket.get(&f.key).await {
        Ok(b) => b,
        // Deleted since the listing (a compactor finishing): nothing to check.
        Err(e) if e.is_not_found() => return Ok(Err("vanished after listing".into())),
        Err(e) => return Err(e.into()),
    };
    if bytes.is_empty() {
        return Ok(Err("zero-byte object".into()));
    }
    let key = f.key.clone();
    let r = tokio::task::spawn_blocking(move || {
        let r = open_index(bytes, spill_above)?;
        r.verify().map_err(|e| e.to_string())?;
        Ok::<_, String>(r)
    })
    .await
    .map_err(|e| MaintError::Unsafe(format!("index check of {key} panicked: {e}")))?;
    Ok(r)
}

/// One chunk ref to check.
struct ChunkCheck {
    key: String,
    chunk: ChunkRef,
    labels: Arc<Vec<(String, String)>>,
    index: Arc<str>,
}

/// Checks one chunk object against its ref: `Ok((size, finding))`.
async fn check_chunk(
    bucket: &Bucket,
    c: ChunkCheck,
    quick: bool,
) -> Result<(u64, Option<Finding>)> {
    let store = bucket.name().to_owned();
    let missing = || Finding::MissingChunk {
        key: c.key.clone(),
        store: store.clone(),
        index: c.index.to_string(),
    };
    let empty = || Finding::EmptyChunk {
        key: c.key.clone(),
        store: store.clone(),
        index: c.index.to_string(),
    };
    if quick {
        return match bucket.head(&c.key).await {
            Ok(i) if i.size == 0 => Ok((0, Some(empty()))),
            Ok(i) => Ok((i.size, None)),
            Err(e) if e.is_not_found() => Ok((0, Some(missing()))),
            Err(e) => Err(e.into()),
        };
    }
    let bytes = match bucket.get(&c.key).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok((0, Some(missing()))),
        Err(e) => return Err(e.into()),
    };
    let size = bytes.len() as u64;
    if size == 0 {
        return Ok((0, Some(empty())));
    }
    let problem = chunk_problem(bytes, &c.chunk, Some(&c.labels));
    Ok((
        size,
        problem.map(|error| Finding::CorruptChunk {
            key: c.key.clone(),
            store: store.clone(),
            index: c.index.to_string(),
            size,
            error,
        }),
    ))
}

/// What is wrong with a chunk object fetched for `r` (indexed with `labels`), if anything:
/// object checksum, tenant/fingerprint/from/through, labels, then every block CRC.
pub(crate) fn chunk_problem(
    bytes: Bytes,
    r: &ChunkRef,
    labels: Option<&[(String, String)]>,
) -> Option<String> {
    let o = match ChunkObject::decode_with_key(bytes, &ChunkKey::from(r)) {
        Ok(o) => o,
        Err(e) => return Some(e.to_string()),
    };
    let got = o.meta.stream_labels();
    let Some(labels) = labels else {
        return chunk_body_problem(&o);
    };
    let same = got.len() == labels.len()
        && got
            .iter()
            .zip(labels)
            .all(|((n, v), (wn, wv))| n == wn && v == wv);
    if !same {
        let show = |it: &mut dyn Iterator<Item = (&str, &str)>| {
            it.map(|(n, v)| format!("{n}={v:?}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        return Some(format!(
            "labels differ: object {{{}}}, index {{{}}}",
            show(&mut got.iter()),
            show(&mut labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        ));
    }
    chunk_body_problem(&o)
}

/// Block CRCs and decompression of every block.
fn chunk_body_problem(o: &ChunkObject) -> Option<String> {
    match o.chunk() {
        Ok(c) => {
            // Parsing checks the block CRCs; the block contents are decoded only on read,
            // so decompress every block too (what a query would do).
            for e in c.entries() {
                if let Err(e) = e {
                    return Some(e.to_string());
                }
            }
            None
        }
        Err(e) => Some(e.to_string()),
    }
}

/// Runs a batch of chunk checks with bounded concurrency.
fn run_checks(
    rt: &Handle,
    bucket: &Bucket,
    batch: &mut Vec<ChunkCheck>,
    opts: &VerifyOptions,
    report: &mut VerifyReport,
    progress: &dyn Progress,
) -> Result<()> {
    let items = std::mem::take(batch);
    let n = items.len() as u64;
    let results: Vec<Result<(u64, Option<Finding>)>> = rt.block_on(
        futures::stream::iter(
            items
                .into_iter()
                .map(|c| check_chunk(bucket, c, opts.quick)),
        )
        .buffer_unordered(opts.concurrency.max(1))
        .collect(),
    );
    for r in results {
        let (size, finding) = r?;
        report.summary.chunks_checked += 1;
        report.summary.chunk_bytes += size;
        if let Some(f) = finding {
            report.push(f);
        }
    }
    progress.inc(n);
    Ok(())
}

/// Checks the TOC bounds and checksum against a compactor-style name.
fn name_problem(f: &IndexFile, r: &IndexReader) -> Option<String> {
    if let IndexFileName::Compacted {
        from,
        through,
        checksum,
        ..
    } = &f.parsed.name
    {
        let toc = r.toc();
        if (toc.from, toc.through, toc.checksum) != (*from, *through, *checksum) {
            return Some(format!(
                "name says from {from} through {through} checksum {checksum:x}, TOC has {} {} {:x}",
                toc.from, toc.through, toc.checksum
            ));
        }
    }
    None
}

/// The verification state shared by the phases.
struct Walk<'a> {
    target: &'a Target,
    opts: &'a VerifyOptions,
    rt: &'a Handle,
    progress: &'a dyn Progress,
    report: VerifyReport,
    /// Every indexed chunk (complete only without `--table`).
    indexed: HashSet<u128>,
    /// Every chunk listed in a marker.
    marked: HashSet<u128>,
}

impl Walk<'_> {
    fn index_phase(&mut self) -> Result<()> {
        self.progress.phase("index files and chunks", None);
        let batch_len = self.opts.concurrency.max(1) * 8;
        for p in &self.target.periods {
            let tables = self
                .rt
                .block_on(list_tables(p, self.opts.table.as_deref()))?;
            for table in tables {
                self.report.summary.tables += 1;
                let files =
                    self.rt
                        .block_on(list_index_files(p, &table, self.opts.tenant.as_deref()))?;
                for f in files {
                    let reader =
                        match self
                            .rt
                            .block_on(read_index(&p.bucket, &f, self.opts.spill_above))?
                        {
                            Ok(r) => r,
                            Err(e) if e == "vanished after listing" => continue,
                            Err(error) => {
                                self.report.push(Finding::CorruptIndex {
                                    key: f.key.clone(),
                                    error,
                                });
                                continue;
                            }
                        };
                    self.report.summary.index_files += 1;
                    self.report.summary.index_bytes += f.size;
                    if let Some(error) = name_problem(&f, &reader) {
                        self.report.push(Finding::IndexNameMismatch {
                            key: f.key.clone(),
                            error,
                        });
                    }
                    let index: Arc<str> = Arc::from(f.key.as_str());
                    let multi = f.parsed.tenant.is_none();
                    let view = match (&self.opts.tenant, multi) {
                        (Some(t), true) => reader.tenant_view(t),
                        _ => reader.view(),
                    };
                    let mut cur = match view.series() {
                        Ok(c) => c,
                        Err(e) => {
                            self.report.push(Finding::CorruptIndex {
                                key: f.key.clone(),
                                error: e.to_string(),
                            });
                            continue;
                        }
                    };
                    let mut batch = Vec::new();
                    loop {
                        match cur.advance() {
                            Ok(true) => {}
                            Ok(false) => break,
                            Err(e) => {
                                self.report.push(Finding::CorruptIndex {
                                    key: f.key.clone(),
                                    error: e.to_string(),
                                });
                                break;
                            }
                        }
                        self.report.summary.series += 1;
                        let mut tenant = f.parsed.tenant.clone().or(self.opts.tenant.clone());
                        let mut labels = Vec::new();
                        for (n, v) in cur.labels() {
                            if n == TENANT_LABEL {
                                tenant = Some(v.to_owned());
                            } else {
                                labels.push((n.to_owned(), v.to_owned()));
                            }
                        }
                        let Some(tenant) = tenant else {
                            self.report.push(Finding::CorruptIndex {
                                key: f.key.clone(),
                                error: format!(
                                    "series {} of a multi-tenant upload has no {TENANT_LABEL}",
                                    cur.series_ref()
                                ),
                            });
                            continue;
                        };
                        let labels = Arc::new(labels);
                        for m in cur.chunks() {
                            self.report.summary.chunk_refs += 1;
                            let chunk = ChunkRef {
                                tenant: tenant.clone(),
                                fingerprint: cur.fingerprint(),
                                from_ms: m.min_time,
                                through_ms: m.max_time,
                                checksum: m.checksum,
                            };
                            // A chunk in several tables or files is checked once.
                            if !self.indexed.insert(chunk_id(&chunk)) {
                                continue;
                            }
                            batch.push(ChunkCheck {
                                key: p.bucket.codec().chunk_object(&chunk, p.schema),
                                chunk,
                                labels: Arc::clone(&labels),
                                index: Arc::clone(&index),
                            });
                            if batch.len() >= batch_len {
                                run_checks(
                                    self.rt,
                                    &p.bucket,
                                    &mut batch,
                                    self.opts,
                                    &mut self.report,
                                    self.progress,
                                )?;
                            }
                        }
                    }
                    run_checks(
                        self.rt,
                        &p.bucket,
                        &mut batch,
                        self.opts,
                        &mut self.report,
                        self.progress,
                    )?;
                }
            }
        }
        Ok(())
    }

    fn marker_phase(&mut self) -> Result<()> {
        self.progress.phase("markers", None);
        let overdue_ns = (self.target.retention_delete_delay + self.opts.marker_grace)
            .as_nanos()
            .min(i64::MAX as u128) as i64;
        let now_ns = self.opts.now_secs.saturating_mul(1_000_000_000);
        for b in &self.target.buckets {
            let list = self.rt.block_on(b.markers.list())?;
            for m in list {
                let shown = match &m.source {
                    MarkerSource::Object(k) => k.clone(),
                    MarkerSource::Local(p) => p.display().to_string(),
                };
                self.report.summary.markers += 1;
                self.progress.inc(1);
                let ids = match self.rt.block_on(b.markers.read(&m)) {
                    Ok(ids) => ids,
                    Err(e) => {
                        self.report.push(Finding::CorruptMarker {
                            marker: shown,
                            error: e.to_string(),
                        });
                        continue;
                    }
                };
                let mut indexed = Vec::new();
                let mut count = 0u64;
                for id in &ids {
                    let Ok(c) = ChunkRef::parse(id) else {
                        self.report.push(Finding::CorruptMarker {
                            marker: shown.clone(),
                            error: format!("`{id}` is not a chunk id"),
                        });
                        continue;
                    };
                    if self.opts.tenant.as_ref().is_some_and(|t| *t != c.tenant) {
                        continue;
                    }
                    let h = chunk_id(&c);
                    self.marked.insert(h);
                    if self.indexed.contains(&h) {
                        count += 1;
                        if indexed.len() < 100 {
                            indexed.push(id.clone());
                        }
                    }
                }
                if count > 0 {
                    self.report.push(Finding::MarkerForIndexedChunks {
                        marker: shown.clone(),
                        chunks: indexed,
                        count,
                    });
                }
                if now_ns.saturating_sub(m.created_ns) > overdue_ns {
                    self.report.push(Finding::OverdueMarker {
                        marker: shown,
                        age_secs: (now_ns - m.created_ns) / 1_000_000_000,
                    });
                }
            }
        }
        Ok(())
    }

    fn orphan_phase(&mut self) -> Result<()> {
        if self.opts.table.is_some() {
            self.report.skipped.push(
                "orphan chunks: not checked with --table (other tables may reference them)".into(),
            );
            return Ok(());
        }
        self.progress.phase("orphan scan (listing)", None);
        let min_age = self.opts.orphan_min_age.as_secs() as i64;
        for b in &self.target.buckets {
            let prefix = match &self.opts.tenant {
                Some(t) => format!("{t}/"),
                None => String::new(),
            };
            let mut found = Vec::new();
            let summary = &mut self.report.summary;
            let (indexed, marked, progress) = (&self.indexed, &self.marked, self.progress);
            let now = self.opts.now_secs;
            self.rt.block_on(b.bucket.for_each_object(&prefix, |o| {
                progress.inc(1);
                if o.key.starts_with(QUARANTINE_PREFIX) {
                    return;
                }
                let ObjectKind::Chunk(c) = b.layout.classify(&o.key) else {
                    return;
                };
                summary.chunks_listed += 1;
                let h = chunk_id(&c);
                if indexed.contains(&h) {
                    return;
                }
                if marked.contains(&h) {
                    summary.chunks_marked += 1;
                } else if now - o.last_modified < min_age {
                    summary.chunks_too_new += 1;
                } else {
                    found.push(Finding::OrphanChunk {
                        key: o.key,
                        store: b.bucket.name().to_owned(),
                        size: o.size,
                    });
                }
            }))?;
            for f in found {
                self.report.push(f);
            }
        }
        Ok(())
    }
}

/// Verifies `target`; findings are in the report, `Err` only when the work could not be
/// done (bucket unreachable, …).
pub fn verify(
    target: &Target,
    opts: &VerifyOptions,
    rt: &Handle,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    verify_with_index(target, opts, rt, progress).map(|(r, _)| r)
}

/// [`verify`], also returning the ids ([`chunk_id`]) of every indexed chunk.
pub(crate) fn verify_with_index(
    target: &Target,
    opts: &VerifyOptions,
    rt: &Handle,
    progress: &dyn Progress,
) -> Result<(VerifyReport, HashSet<u128>)> {
    let mut w = Walk {
        target,
        opts,
        rt,
        progress,
        report: VerifyReport::default(),
        indexed: HashSet::new(),
        marked: HashSet::new(),
    };
    w.index_phase()?;
    w.marker_phase()?;
    w.orphan_phase()?;
    if opts.quick {
        w.report
            .skipped
            .push("chunk contents: --quick checks existence and size only".into());
    }
    Ok((w.report, w.indexed))
}
