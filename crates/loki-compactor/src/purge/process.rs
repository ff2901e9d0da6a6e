//! Delete requests applied to one tenant index of one table (spec §6.3, §8.5, §8.6).
//!
//! Per series matched by a request, per chunk overlapping its range:
//! * a request without pipeline covering the whole chunk deletes it unread;
//! * otherwise the chunk is fetched and rewritten without the selected lines (or with them
//!   redacted). Nothing selected: unchanged. Nothing left: deleted. Else the new chunk is
//!   uploaded and indexed in place of the original, if it still overlaps this table's day.
//!
//! Originals are marked for the sweeper where they start (or always, for whole-chunk
//! deletions), because older tables, processed later, still need the object to rewrite it.
//! A missing or corrupt chunk is skipped and reported; it never blocks the rest.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use loki_bucket::Bucket;
use loki_chunk::{ChunkKey, ChunkObject};
use loki_config::SchemaVersion;
use loki_tsdb::{ChunkFilter, ChunkMeta, IndexReader, Series};

use crate::error::{CompactorError, Result};
use crate::metrics::{names, Metrics};
use crate::purge::audit::{AuditAction, AuditRecord};
use crate::purge::rewrite::{rewrite_chunk, Rewrite, Verdict};
use crate::purge::Compiled;
use crate::retention::ExpiredChunk;

const DAY_MS: i64 = 86_400_000;

/// One tenant index of one table.
#[derive(Debug, Clone, Copy)]
pub struct TenantJob<'a> {
    /// Bucket of the chunks.
    pub bucket: &'a Bucket,
    /// Schema of the period (chunk key form).
    pub schema: SchemaVersion,
    /// Tenant.
    pub tenant: &'a str,
    /// Table name.
    pub table: &'a str,
    /// Table day number.
    pub day: i64,
    /// The tenant's requests still to apply to this table.
    pub requests: &'a [Arc<Compiled>],
    /// Pass time, unix ms (audit records).
    pub now_ms: i64,
    /// Fetch and decide, upload nothing.
    pub dry_run: bool,
    /// Chunks fetched and rewritten at once.
    pub concurrency: usize,
    /// Metrics.
    pub metrics: &'a Metrics,
}

/// What processing did to the index.
#[derive(Debug, Default)]
pub struct TenantResult {
    /// The changes to the index's chunk refs, when there are any: applied with
    /// `loki_tsdb::filter_in` (chunkless series dropped), never by collecting series.
    pub edits: Option<ChunkEdits>,
    /// Original chunks to mark for deletion.
    pub marked: Vec<ExpiredChunk>,
    /// Audit records.
    pub audit: Vec<AuditRecord>,
    /// New chunk objects uploaded (stored keys).
    pub uploaded: Vec<String>,
    /// Chunks selected by some request.
    pub chunks_selected: u64,
    /// Lines removed by rewrites (whole-chunk deletions excluded).
    pub lines_deleted: u64,
    /// Lines removed by requests with a pipeline, counted in the table where their chunk
    /// starts: what Loki's `loki_compactor_deleted_lines` counts.
    pub lines_deleted_by_filters: u64,
    /// Lines redacted (counted in the table where their chunk starts).
    pub lines_redacted: u64,
    /// Chunks skipped (id, reason).
    pub skipped: Vec<(String, String)>,
}

/// Counts of one tenant index, for reports.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Chunks selected by some request.
    pub chunks_selected: u64,
    /// Chunks removed from the index without replacement.
    pub chunks_deleted: u64,
    /// Chunks replaced by a rewritten chunk.
    pub chunks_rewritten: u64,
    /// Lines removed by rewrites.
    pub lines_deleted: u64,
    /// Lines removed by requests with a pipeline (`loki_compactor_deleted_lines`).
    pub lines_deleted_by_filters: u64,
    /// Lines redacted.
    pub lines_redacted: u64,
    /// New chunk ids indexed.
    pub new_chunks: Vec<String>,
    /// Chunks skipped (id, reason).
    pub skipped: Vec<(String, String)>,
}

impl TenantResult {
    /// The counts.
    pub fn summary(&self) -> Summary {
        let count = |a: AuditAction| self.audit.iter().filter(|r| r.action == a).count() as u64;
        Summary {
            chunks_selected: self.chunks_selected,
            chunks_deleted: count(AuditAction::Deleted),
            chunks_rewritten: count(AuditAction::Rewritten),
            lines_deleted: self.lines_deleted,
            lines_deleted_by_filters: self.lines_deleted_by_filters,
            lines_redacted: self.lines_redacted,
            new_chunks: self.uploaded.clone(),
            skipped: self.skipped.clone(),
        }
    }
}

/// Chunk id `<tenant>/<fp>/<from>:<through>:<checksum>`.
pub fn chunk_id(tenant: &str, fp: u64, c: &ChunkMeta) -> String {
    format!(
        "{tenant}/{fp:x}/{:x}:{:x}:{:x}",
        c.min_time, c.max_time, c.checksum
    )
}

enum Fate {
    Unchanged,
    Skipped(String),
    Deleted {
        removed: u64,
        hits: Hits,
    },
    Replaced {
        new: Box<crate::purge::rewrite::Rewritten>,
        indexed: bool,
        hits: Hits,
    },
}

/// Which requests selected lines of a chunk, and how many lines requests with a pipeline
/// removed.
struct Hits {
    ids: Vec<String>,
    by_filters: u64,
}

struct Work {
    si: usize,
    ci: usize,
    reqs: Vec<Arc<Compiled>>,
}

/// A chunk ref in a tenant index: stored fingerprint and (min, max, checksum).
type RefKey = (u64, (i64, i64, u32));

/// Chunk refs to drop or replace in a tenant index. As a [`ChunkFilter`] it is a pure
/// function of each series' fingerprint and chunks, as `filter_in` needs.
#[derive(Debug, Default)]
pub struct ChunkEdits {
    removed: HashSet<RefKey>,
    replaced: HashMap<RefKey, ChunkMeta>,
}

impl ChunkEdits {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.replaced.is_empty()
    }
}

impl ChunkFilter for ChunkEdits {
    fn retain(&self, _: u64, _: &[(&str, &str)], fp: u64, chunks: &mut Vec<ChunkMeta>) {
        let mut touched = false;
        chunks.retain_mut(|c| {
            let k = (fp, c.key());
            if self.removed.contains(&k) {
                touched = true;
                return false;
            }
            if let Some(n) = self.replaced.get(&k) {
                *c = *n;
                touched = true;
            }
            true
        });
        if touched {
            // A rewritten chunk may start later than its original.
            chunks.sort_by_key(ChunkMeta::key);
            chunks.dedup_by_key(|c| c.key());
        }
    }
}

/// The series of a tenant index that some request selects: only these are held (the rest
/// of the index is never collected).
#[derive(Debug, Default)]
pub struct Selection {
    series: Vec<Series>,
}

impl Selection {
    /// Scans `reader` for series matched by any of `requests`, releasing the pages of a
    /// mapped index as it goes.
    pub fn scan(reader: &IndexReader, requests: &[Arc<Compiled>]) -> loki_tsdb::Result<Self> {
        let mut out = Selection::default();
        let mut cur = reader.series()?;
        let mut n = 0u64;
        while cur.advance()? {
            n += 1;
            if n % crate::retention::RELEASE_EVERY == 0 {
                reader.release_memory();
            }
            if cur.chunks().is_empty() {
                continue;
            }
            let labels: Vec<(&str, &str)> = cur.labels().collect();
            if requests
                .iter()
                .any(|r| r.selector.matches_stream(labels.iter().copied()))
            {
                out.series.push(cur.to_series());
            }
        }
        Ok(out)
    }

    /// Series selected.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when no series is selected.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// Applies `job.requests` to the selected series of a tenant index (after merging and
/// retention); the returned edits rewrite the index.
pub async fn process_tenant(job: &TenantJob<'_>, selection: Selection) -> Result<TenantResult> {
    let series = selection.series;
    let table_start = job.day.saturating_mul(DAY_MS);
    let table_end = table_start.saturating_add(DAY_MS - 1);
    let mut out = TenantResult::default();
    let mut edits = ChunkEdits::default();
    let mut work = Vec::new();
    let mut streams: Vec<Arc<Vec<(String, String)>>> = Vec::with_capacity(series.len());
    for (si, s) in series.iter().enumerate() {
        let stream: Vec<(String, String)> = s
            .labels
            .iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
        let reqs: Vec<&Arc<Compiled>> = job
            .requests
            .iter()
            .filter(|r| r.selector.matches_stream(s.labels.iter()))
            .collect();
        streams.push(Arc::new(stream));
        if reqs.is_empty() {
            continue;
        }
        for (ci, c) in s.chunks.iter().enumerate() {
            let ov: Vec<Arc<Compiled>> = reqs
                .iter()
                .filter(|r| r.selector.overlaps_ms(c.min_time, c.max_time))
                .map(|r| Arc::clone(r))
                .collect();
            if ov.is_empty() {
                continue;
            }
            out.chunks_selected += 1;
            let whole = ov.iter().find(|r| {
                r.redaction.is_none() && r.selector.covers_chunk_ms(c.min_time, c.max_time)
            });
            if let Some(r) = whole {
                tracing::debug!(chunk = %chunk_id(job.tenant, s.fingerprint, c), "no chunks to retain: the whole chunk is deleted");
                edits.removed.insert((s.fingerprint, c.key()));
                let id = chunk_id(job.tenant, s.fingerprint, c);
                out.marked.push(marked(&id, c, &r.req.request_id));
                out.audit.push(record(
                    job,
                    vec![r.req.request_id.clone()],
                    AuditAction::Deleted,
                    id,
                    None,
                    u64::from(c.entries),
                    0,
                ));
                continue;
            }
            work.push(Work { si, ci, reqs: ov });
        }
    }
    if out.chunks_selected > 0 && !job.dry_run {
        job.metrics.add(
            names::DELETE_CHUNKS_SELECTED,
            &[("user", job.tenant)],
            out.chunks_selected as f64,
        );
    }

    let fates: Vec<(usize, usize, Result<Fate>)> =
        futures::stream::iter(work.into_iter().map(|w| {
            let s = &series[w.si];
            let c = s.chunks[w.ci];
            let stream = Arc::clone(&streams[w.si]);
            let fp = s.fingerprint;
            async move {
                let r = one_chunk(job, fp, c, stream, w.reqs, table_start, table_end).await;
                (w.si, w.ci, r)
            }
        }))
        .buffer_unordered(job.concurrency.max(1))
        .collect()
        .await;

    let mut fates_sorted = fates;
    fates_sorted.sort_by_key(|(si, ci, _)| (*si, *ci));
    for (si, ci, fate) in fates_sorted {
        let s = &series[si];
        let c = s.chunks[ci];
        let id = chunk_id(job.tenant, s.fingerprint, &c);
        match fate? {
            Fate::Unchanged => {}
            Fate::Skipped(reason) => {
                tracing::warn!(chunk = %id, user = job.tenant, table = job.table, %reason, "skipping chunk selected by a delete request");
                if !job.dry_run {
                    job.metrics
                        .inc(names::DELETE_MISSING_CHUNKS, &[("user", job.tenant)]);
                }
                out.audit.push(AuditRecord {
                    reason: Some(reason.clone()),
                    ..record(
                        job,
                        Vec::new(),
                        AuditAction::Skipped,
                        id.clone(),
                        None,
                        0,
                        0,
                    )
                });
                out.skipped.push((id, reason));
            }
            Fate::Deleted { removed: n, hits } => {
                edits.removed.insert((s.fingerprint, c.key()));
                out.lines_deleted += n;
                if c.min_time >= table_start {
                    out.lines_deleted_by_filters += hits.by_filters;
                    out.marked.push(marked(&id, &c, &hits.ids.join(",")));
                }
                let hits = hits.ids;
                out.audit
                    .push(record(job, hits, AuditAction::Deleted, id, None, n, 0));
            }
            Fate::Replaced { new, indexed, hits } => {
                out.lines_deleted += new.removed;
                // A chunk in two tables is rewritten in both: count it where it starts.
                if c.min_time >= table_start {
                    out.lines_redacted += new.redacted;
                }
                let new_id = chunk_id(job.tenant, s.fingerprint, &new.meta);
                if indexed {
                    edits.replaced.insert((s.fingerprint, c.key()), new.meta);
                    out.uploaded.push(new_id.clone());
                } else {
                    edits.removed.insert((s.fingerprint, c.key()));
                }
                if c.min_time >= table_start {
                    out.lines_deleted_by_filters += hits.by_filters;
                    out.marked.push(marked(&id, &c, &hits.ids.join(",")));
                }
                let hits = hits.ids;
                out.audit.push(record(
                    job,
                    hits,
                    AuditAction::Rewritten,
                    id,
                    indexed.then_some(new_id),
                    new.removed,
                    new.redacted,
                ));
            }
        }
    }
    if !job.dry_run && out.lines_deleted_by_filters > 0 {
        job.metrics.add(
            names::DELETED_LINES,
            &[("user", job.tenant)],
            out.lines_deleted_by_filters as f64,
        );
    }
    if !job.dry_run && out.lines_redacted > 0 {
        job.metrics.add(
            names::REDACTED_LINES,
            &[("user", job.tenant)],
            out.lines_redacted as f64,
        );
    }
    if !edits.is_empty() {
        out.edits = Some(edits);
    }
    Ok(out)
}

fn marked(id: &str, c: &ChunkMeta, requests: &str) -> ExpiredChunk {
    ExpiredChunk {
        id: id.to_owned(),
        bytes: u64::from(c.kb) * 1024,
        rule: format!("delete request {requests}"),
        by_ingestion: false,
        min_time: c.min_time,
    }
}

fn record(
    job: &TenantJob<'_>,
    request_ids: Vec<String>,
    action: AuditAction,
    chunk: String,
    new_chunk: Option<String>,
    lines_removed: u64,
    lines_redacted: u64,
) -> AuditRecord {
    AuditRecord {
        time_ms: job.now_ms,
        tenant: job.tenant.to_owned(),
        table: job.table.to_owned(),
        request_ids,
        action,
        chunk,
        new_chunk,
        lines_removed,
        lines_redacted,
        reason: None,
    }
}

async fn one_chunk(
    job: &TenantJob<'_>,
    fp: u64,
    c: ChunkMeta,
    stream: Arc<Vec<(String, String)>>,
    reqs: Vec<Arc<Compiled>>,
    table_start: i64,
    table_end: i64,
) -> Result<Fate> {
    let id = chunk_id(job.tenant, fp, &c);
    let key = job.bucket.codec().encode_chunk_key(&id, job.schema);
    let bytes = match job.bucket.get(&key).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(Fate::Skipped("chunk object not found".into())),
        // Anything else may be transient: fail the table, the next pass retries it.
        Err(e) => return Err(e.into()),
    };
    let decided = tokio::task::spawn_blocking(move || decide(&id, bytes, c, &stream, &reqs))
        .await
        .map_err(|e| CompactorError::Task(e.to_string()))?;
    let (rw, hits) = match decided {
        Ok(x) => x,
        Err(reason) => return Ok(Fate::Skipped(reason)),
    };
    Ok(match rw {
        Rewrite::Unchanged => Fate::Unchanged,
        Rewrite::Emptied { removed } => Fate::Deleted { removed, hits },
        Rewrite::New(new) => {
            let indexed = new.meta.min_time <= table_end && new.meta.max_time >= table_start;
            if indexed && !job.dry_run {
                let new_id = chunk_id(job.tenant, fp, &new.meta);
                let new_key = job.bucket.codec().encode_chunk_key(&new_id, job.schema);
                job.bucket
                    .put(&new_key, Bytes::clone(new.object.object_bytes()))
                    .await?;
            }
            Fate::Replaced { new, indexed, hits }
        }
    })
}

/// Rewrites one chunk object; `Err` is why it cannot be read.
fn decide(
    id: &str,
    bytes: Bytes,
    c: ChunkMeta,
    stream: &[(String, String)],
    reqs: &[Arc<Compiled>],
) -> std::result::Result<(Rewrite, Hits), String> {
    let key = ChunkKey::parse(id).map_err(|e| format!("chunk id: {e}"))?;
    let obj =
        ChunkObject::decode_with_key(bytes, &key).map_err(|e| format!("corrupt chunk: {e}"))?;
    let mut hit = vec![false; reqs.len()];
    let mut by_filters = 0u64;
    let rw = rewrite_chunk(&obj, &c, |e| {
        for (i, r) in reqs.iter().enumerate() {
            if r.redaction.is_none() && r.selector.selects_raw(stream, e.ts_ns, e.line, e.metadata)
            {
                hit[i] = true;
                by_filters += u64::from(r.selector.has_filters());
                return Verdict::Drop;
            }
        }
        let mut line: Option<Vec<u8>> = None;
        for (i, r) in reqs.iter().enumerate() {
            let Some(red) = &r.redaction else { continue };
            let cur = line.as_deref().unwrap_or(e.line);
            if r.selector.selects_raw(stream, e.ts_ns, cur, e.metadata) {
                if let Some(n) = red.apply(cur) {
                    hit[i] = true;
                    line = Some(n);
                }
            }
        }
        match line {
            Some(l) => Verdict::Replace(l),
            None => Verdict::Keep,
        }
    })
    .map_err(|e| format!("corrupt chunk: {e}"))?;
    let ids = reqs
        .iter()
        .zip(&hit)
        .filter(|(_, h)| **h)
        .map(|(r, _)| r.req.request_id.clone())
        .collect();
    Ok((rw, Hits { ids, by_filters }))
}
