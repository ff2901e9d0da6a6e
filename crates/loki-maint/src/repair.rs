//! `repair`: fixes what `verify` finds, without ever losing a byte that is not already
//! copied to the quarantine (`quarantine/<run ns>/<original key>` in the same bucket).
//!
//! Order of work (each step leaves a store Loki reads correctly if the run stops there):
//!
//! 1. verify; re-read every bad chunk (a problem that does not reproduce is left alone);
//! 2. corrupt index files: orphan chunks of the same tenant and day are re-indexed into a
//!    new compactor-named per-tenant file, then the corrupt file is copied to the
//!    quarantine and deleted;
//! 3. per-tenant index files with refs to missing/empty/corrupt chunks: a new file without
//!    those refs is uploaded (compactor naming, fresh nanosecond name), then the old one is
//!    copied to the quarantine and deleted. Multi-tenant uploads are never rewritten
//!    (see [`MULTI_TENANT_SKIP`]);
//! 4. bad chunks no index references any more: copied, the copy read back and compared,
//!    the original read again and still bad, then deleted;
//! 5. orphan chunks: the same, after checking the index listing did not change during the
//!    run (an ingester upload may have adopted them);
//! 6. markers listing indexed chunks are rewritten without them, unreadable markers
//!    quarantined; overdue markers are reported only (start a sweeper);
//! 7. the report is written to `quarantine/<run ns>/repair-report.json`.
//!
//! A dry run reads everything and plans the same actions but writes nothing.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use futures::StreamExt;
use loki_bucket::{Bucket, ChunkRef, ObjectKind};
use loki_compactor::markers::{self, MarkerFormat, MarkerSource};
use loki_compactor::Clock;
use loki_tsdb::{ChunkMeta, IndexBuilder, IndexFileName, IndexObjectKey, Labels, TENANT_LABEL};
use serde::Serialize;
use tokio::runtime::Handle;

use crate::error::{MaintError, Result};
use crate::report::{Finding, VerifyReport};
use crate::target::{MaintPeriod, StoreBucket, Target};
use crate::verify::{
    chunk_id, chunk_problem, list_index_files, list_tables, read_index, verify_with_index,
    IndexFile, Progress, VerifyOptions, QUARANTINE_PREFIX,
};

/// Why multi-tenant uploads are not rewritten.
pub const MULTI_TENANT_SKIP: &str = "multi-tenant ingester upload: not rewritten (the compactor \
    turns it into per-tenant files and deletes it; a rewritten upload would race with it). \
    Run the compactor on this table, then repair again";

/// What to repair.
#[derive(Debug, Clone, Default)]
pub struct RepairOptions {
    /// Write (false: dry run, nothing is written).
    pub apply: bool,
    /// The verification that finds the problems.
    pub verify: VerifyOptions,
    /// Repair even while a compactor holds its lease on the bucket.
    pub ignore_lease: bool,
}

/// One change, done (or, in a dry run, planned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A per-tenant index file replaced by one without refs to bad chunks.
    RewriteIndex {
        /// The old file (copied to the quarantine, then deleted).
        old: String,
        /// The new file; `None` when no ref was left (the old one is just removed).
        new: Option<String>,
        /// Refs dropped.
        dropped_refs: u64,
    },
    /// Chunks no index referenced re-indexed in place of a corrupt index file.
    ReindexChunks {
        /// The corrupt index file they replace.
        corrupt: String,
        /// The new per-tenant file.
        new: String,
        /// Chunks indexed.
        chunks: u64,
    },
    /// An object copied to the quarantine and deleted.
    Quarantine {
        /// Original key (or local marker path).
        key: String,
        /// Copy in the quarantine.
        copy: String,
        /// Why (the finding kind).
        reason: String,
    },
    /// A marker rewritten without the chunks still indexed (original in the quarantine).
    RewriteMarker {
        /// Marker location.
        marker: String,
        /// Copy of the original.
        copy: String,
        /// Chunk ids removed.
        removed: u64,
        /// Chunk ids kept (0: the marker was removed).
        kept: u64,
    },
}

/// A finding left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Object or marker.
    pub subject: String,
    /// Why it was not repaired.
    pub reason: String,
}

/// Result of `repair`.
#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    /// False for a dry run.
    pub applied: bool,
    /// Quarantine prefix of this run (`quarantine/<run ns>/`).
    pub quarantine: String,
    /// What verify found first.
    pub found: VerifyReport,
    /// Changes, in the order they were made.
    pub actions: Vec<Action>,
    /// Findings not repaired.
    pub skipped: Vec<Skipped>,
    /// Where the report was written (one per bucket touched).
    pub report_keys: Vec<String>,
}

/// Refuses to run while another process (a compactor) holds the lease of a bucket: its
/// next pass could resurrect dropped refs or race with the rewrites.
fn check_lease(target: &Target, rt: &Handle, clock: &Clock) -> Result<()> {
    for b in &target.buckets {
        let lease = loki_compactor::lease::Lease::new(
            b.bucket.clone(),
            loki_bucket::compactor_state::LEASE,
            "loki-inspect-repair",
            0,
            clock.clone(),
        );
        // The chain, or the single lease object of an older loki-compactor build.
        if let Some(rec) = rt.block_on(lease.held_elsewhere())? {
            return Err(MaintError::Unsafe(format!(
                "{}: loki-compactor `{}` holds the lease until {} ms; stop it (or pass --ignore-lease)",
                b.bucket.name(),
                rec.holder,
                rec.expires_ms
            )));
        }
    }
    Ok(())
}

/// Copies `key` to `copy`, reads the copy back, checks the original is still `expect`
/// (unchanged since it was judged bad), then deletes the original.
async fn quarantine_object(bucket: &Bucket, key: &str, copy: &str, expect: &Bytes) -> Result<()> {
    bucket.put(copy, expect.clone()).await?;
    let back = bucket.get(copy).await?;
    if back != *expect {
        return Err(MaintError::Unsafe(format!(
            "quarantine copy {copy} does not read back as written; {key} kept"
        )));
    }
    match bucket.get(key).await {
        Ok(now) if now == *expect => {}
        Ok(_) => {
            return Err(MaintError::Unsafe(format!(
                "{key} changed since it was checked; kept (copy in {copy})"
            )))
        }
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    bucket.delete(key).await?;
    Ok(())
}

/// A bad chunk as re-read at repair time.
#[derive(Debug, Clone)]
struct BadChunk {
    kind: &'static str,
    /// Name of the bucket holding it.
    store: String,
    /// The object as read (None: missing).
    bytes: Option<Bytes>,
}

struct Repair<'a> {
    target: &'a Target,
    opts: &'a RepairOptions,
    rt: &'a Handle,
    progress: &'a dyn Progress,
    clock: Clock,
    q: String,
    report: RepairReport,
}

impl Repair<'_> {
    fn skip(&mut self, subject: &str, reason: impl Into<String>) {
        self.report.skipped.push(Skipped {
            subject: subject.to_owned(),
            reason: reason.into(),
        });
    }

    fn store_bucket(&self, p: &MaintPeriod) -> &StoreBucket {
        self.target
            .buckets
            .iter()
            .find(|b| b.bucket.name() == p.bucket.name())
            .unwrap_or(&self.target.buckets[0])
    }

    /// Step 1: re-reads each chunk found missing, empty or corrupt.
    fn reread_bad(&mut self) -> Result<HashMap<String, BadChunk>> {
        let mut out = HashMap::new();
        let found: Vec<(String, String, &'static str)> = self
            .report
            .found
            .findings
            .iter()
            .filter_map(|f| match f {
                Finding::MissingChunk { key, store, .. } => {
                    Some((key.clone(), store.clone(), "missing_chunk"))
                }
                Finding::EmptyChunk { key, store, .. } => {
                    Some((key.clone(), store.clone(), "empty_chunk"))
                }
                Finding::CorruptChunk { key, store, .. } => {
                    Some((key.clone(), store.clone(), "corrupt_chunk"))
                }
                _ => None,
            })
            .collect();
        self.progress
            .phase("re-reading bad chunks", Some(found.len() as u64));
        for (key, store, kind) in found {
            self.progress.inc(1);
            // The bucket verify found it in (keys can repeat across buckets).
            let Some(b) = self
                .target
                .buckets
                .iter()
                .find(|b| b.bucket.name() == store)
            else {
                self.skip(&key, format!("bucket {store} is not part of this run"));
                continue;
            };
            let ObjectKind::Chunk(c) = b.layout.classify(&key) else {
                self.skip(&key, "not a chunk key");
                continue;
            };
            let bytes = match self.rt.block_on(b.bucket.get(&key)) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            };
            let still_bad = match &bytes {
                None => true,
                Some(b) if b.is_empty() => true,
                // Labels are not re-compared: a label mismatch alone is left in place.
                Some(b) => chunk_problem(b.clone(), &c, None).is_some(),
            };
            if still_bad {
                out.insert(key, BadChunk { kind, store, bytes });
            } else {
                self.skip(
                    &key,
                    format!("{kind} did not reproduce on a second read; left alone"),
                );
            }
        }
        Ok(out)
    }

    /// Steps 2 and 3: every index file of every table, rewriting what must be.
    fn indexes(
        &mut self,
        bad: &HashMap<String, BadChunk>,
        corrupt: &BTreeSet<String>,
        orphans: &mut BTreeMap<String, String>,
        still_referenced: &mut HashSet<String>,
        index_keys: &mut BTreeSet<String>,
    ) -> Result<()> {
        self.progress.phase("index files", None);
        let (target, opts) = (self.target, self.opts);
        let vo = &opts.verify;
        for p in &target.periods {
            let sb = self.store_bucket(p).clone();
            for table in self.rt.block_on(list_tables(p, vo.table.as_deref()))? {
                let files = self
                    .rt
                    .block_on(list_index_files(p, &table, vo.tenant.as_deref()))?;
                for f in files {
                    self.progress.inc(1);
                    index_keys.insert(f.key.clone());
                    if corrupt.contains(&f.key) {
                        self.replace_corrupt(p, &sb, &table, &f, bad, orphans, index_keys)?;
                        continue;
                    }
                    if bad.is_empty() {
                        continue;
                    }
                    let reader =
                        match self
                            .rt
                            .block_on(read_index(&p.bucket, &f, vo.spill_above))?
                        {
                            Ok(r) => r,
                            Err(e) => {
                                self.skip(&f.key, format!("index unreadable during repair: {e}"));
                                continue;
                            }
                        };
                    let multi = f.parsed.tenant.is_none();
                    let view = match (&vo.tenant, multi) {
                        (Some(t), true) => reader.tenant_view(t),
                        _ => reader.view(),
                    };
                    let mut cur = view.series().map_err(|source| MaintError::Index {
                        key: f.key.clone(),
                        source,
                    })?;
                    let mut builder = IndexBuilder::new(p.version);
                    let mut dropped = 0u64;
                    let mut dropped_keys = Vec::new();
                    while cur.advance().map_err(|source| MaintError::Index {
                        key: f.key.clone(),
                        source,
                    })? {
                        let mut tenant = f.parsed.tenant.clone().or(vo.tenant.clone());
                        for (n, v) in cur.labels() {
                            if n == TENANT_LABEL {
                                tenant = Some(v.to_owned());
                            }
                        }
                        let tenant = tenant.unwrap_or_default();
                        let mut kept: Vec<ChunkMeta> = Vec::new();
                        for m in cur.chunks() {
                            let c = ChunkRef {
                                tenant: tenant.clone(),
                                fingerprint: cur.fingerprint(),
                                from_ms: m.min_time,
                                through_ms: m.max_time,
                                checksum: m.checksum,
                            };
                            let key = p.bucket.codec().chunk_object(&c, p.schema);
                            if bad.contains_key(&key) {
                                dropped += 1;
                                dropped_keys.push(key);
                            } else {
                                kept.push(*m);
                            }
                        }
                        if !kept.is_empty() {
                            builder.add_series(Labels::new(cur.labels()), cur.fingerprint(), kept);
                        }
                    }
                    if dropped == 0 {
                        continue;
                    }
                    if multi {
                        still_referenced.extend(dropped_keys);
                        self.skip(&f.key, MULTI_TENANT_SKIP);
                        continue;
                    }
                    let tenant = f.parsed.tenant.clone().unwrap_or_default();
                    let new = if builder.is_empty() {
                        None
                    } else {
                        let (raw, summary) =
                            builder.build().map_err(|source| MaintError::Index {
                                key: f.key.clone(),
                                source,
                            })?;
                        let name = IndexFileName::compacted(self.clock.unique_ns(), &summary);
                        let key = IndexObjectKey::per_tenant(&p.path_prefix, &table, &tenant, name)
                            .to_string();
                        if self.opts.apply {
                            self.rt
                                .block_on(p.bucket.put(&key, Bytes::from(loki_tsdb::gzip(&raw))))?;
                        }
                        index_keys.insert(key.clone());
                        Some(key)
                    };
                    self.retire_index(&p.bucket, &f.key)?;
                    index_keys.remove(&f.key);
                    self.report.actions.push(Action::RewriteIndex {
                        old: f.key.clone(),
                        new,
                        dropped_refs: dropped,
                    });
                }
            }
        }
        Ok(())
    }

    /// Copies an index file to the quarantine and deletes it (after its replacement is up).
    fn retire_index(&mut self, bucket: &Bucket, key: &str) -> Result<()> {
        let copy = format!("{}{key}", self.q);
        if self.opts.apply {
            let bytes = self.rt.block_on(bucket.get(key))?;
            self.rt
                .block_on(quarantine_object(bucket, key, &copy, &bytes))?;
        }
        Ok(())
    }

    /// Step 2 for one corrupt index file.
    #[allow(clippy::too_many_arguments)]
    fn replace_corrupt(
        &mut self,
        p: &MaintPeriod,
        sb: &StoreBucket,
        table: &str,
        corrupt_file: &IndexFile,
        bad: &HashMap<String, BadChunk>,
        orphans: &mut BTreeMap<String, String>,
        index_keys: &mut BTreeSet<String>,
    ) -> Result<()> {
        let (key, parsed) = (corrupt_file.key.as_str(), &corrupt_file.parsed);
        let Some(day) = p.table_day(table) else {
            return Ok(());
        };
        let (lo, hi) = (day * 86_400_000, (day + 1) * 86_400_000);
        // Orphans of the file's tenant (any tenant for an upload) overlapping its day: the
        // chunks the lost file most likely indexed.
        let candidates: Vec<(String, ChunkRef)> = orphans
            .iter()
            .filter(|(_, store)| *store == sb.bucket.name())
            .filter_map(|(k, _)| match sb.layout.classify(k) {
                ObjectKind::Chunk(c) => Some((k.clone(), c)),
                _ => None,
            })
            .filter(|(_, c)| parsed.tenant.as_ref().is_none_or(|t| *t == c.tenant))
            .filter(|(_, c)| crate::rebuild::chunk_in_day(c, day))
            .collect();
        let mut builders: BTreeMap<String, (IndexBuilder, Vec<String>, u64)> = BTreeMap::new();
        for (k, c) in candidates {
            let bytes = match self.rt.block_on(p.bucket.get(&k)) {
                Ok(b) => b,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            // Only chunks that pass every check are indexed again.
            if chunk_problem(bytes.clone(), &c, None).is_some() {
                continue;
            }
            let Ok(entry) = crate::rebuild::index_entry(&k, &c, bytes) else {
                continue;
            };
            let e = builders
                .entry(c.tenant.clone())
                .or_insert_with(|| (IndexBuilder::new(p.version), Vec::new(), 0));
            e.0.add_series(entry.labels, entry.fingerprint, [entry.meta]);
            e.1.push(k);
            e.2 += 1;
        }
        // Chunks spanning into this day that other tables index: the lost file indexed
        // them for this day too (queries are split by day), so index them here again.
        for other in self.rt.block_on(list_tables(p, None))? {
            if other == table {
                continue;
            }
            let files = self
                .rt
                .block_on(list_index_files(p, &other, parsed.tenant.as_deref()))?;
            for f in files {
                let Ok(reader) =
                    self.rt
                        .block_on(read_index(&p.bucket, &f, self.opts.verify.spill_above))?
                else {
                    continue;
                };
                let view = match (&parsed.tenant, f.parsed.tenant.is_none()) {
                    (Some(t), true) => reader.tenant_view(t),
                    _ => reader.view(),
                };
                let Ok(mut cur) = view.series() else {
                    continue;
                };
                while let Ok(true) = cur.advance() {
                    let mut tenant = f.parsed.tenant.clone().or(parsed.tenant.clone());
                    let mut labels = Vec::new();
                    for (n, v) in cur.labels() {
                        if n == TENANT_LABEL {
                            tenant = Some(v.to_owned());
                        } else {
                            labels.push((n, v));
                        }
                    }
                    let Some(tenant) = tenant else {
                        continue;
                    };
                    let metas: Vec<ChunkMeta> = cur
                        .chunks()
                        .iter()
                        .filter(|m| m.min_time < hi && m.max_time >= lo)
                        .filter(|m| {
                            let c = ChunkRef {
                                tenant: tenant.clone(),
                                fingerprint: cur.fingerprint(),
                                from_ms: m.min_time,
                                through_ms: m.max_time,
                                checksum: m.checksum,
                            };
                            !bad.contains_key(&p.bucket.codec().chunk_object(&c, p.schema))
                        })
                        .copied()
                        .collect();
                    if metas.is_empty() {
                        continue;
                    }
                    let e = builders
                        .entry(tenant)
                        .or_insert_with(|| (IndexBuilder::new(p.version), Vec::new(), 0));
                    e.2 += metas.len() as u64;
                    e.0.add_series(Labels::new(labels), cur.fingerprint(), metas);
                }
            }
        }
        for (tenant, (builder, keys, chunks)) in builders {
            let (raw, summary) = builder.build().map_err(|source| MaintError::Index {
                key: key.to_owned(),
                source,
            })?;
            let name = IndexFileName::compacted(self.clock.unique_ns(), &summary);
            let new = IndexObjectKey::per_tenant(&p.path_prefix, table, &tenant, name).to_string();
            if self.opts.apply {
                self.rt
                    .block_on(p.bucket.put(&new, Bytes::from(loki_tsdb::gzip(&raw))))?;
            }
            index_keys.insert(new.clone());
            for k in &keys {
                orphans.remove(k);
            }
            self.report.actions.push(Action::ReindexChunks {
                corrupt: key.to_owned(),
                new,
                chunks,
            });
        }
        let copy = format!("{}{key}", self.q);
        if self.opts.apply {
            // The object is corrupt: quarantine whatever bytes it has.
            let bytes = match self.rt.block_on(p.bucket.get(key)) {
                Ok(b) => b,
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            self.rt
                .block_on(quarantine_object(&p.bucket, key, &copy, &bytes))?;
        }
        index_keys.remove(key);
        self.report.actions.push(Action::Quarantine {
            key: key.to_owned(),
            copy,
            reason: "corrupt_index".into(),
        });
        Ok(())
    }

    /// Step 4: bad chunks nothing references any more.
    fn chunks(
        &mut self,
        bad: &HashMap<String, BadChunk>,
        still_referenced: &HashSet<String>,
    ) -> Result<()> {
        let mut keys: Vec<&String> = bad.keys().collect();
        keys.sort();
        self.progress
            .phase("quarantining bad chunks", Some(keys.len() as u64));
        for key in keys {
            self.progress.inc(1);
            let b = &bad[key];
            let Some(bytes) = &b.bytes else {
                continue; // missing: only its refs needed dropping
            };
            if still_referenced.contains(key) {
                self.skip(
                    key,
                    format!(
                        "{}: still referenced by a multi-tenant upload; left in place",
                        b.kind
                    ),
                );
                continue;
            }
            let Some(sb) = self
                .target
                .buckets
                .iter()
                .find(|s| s.bucket.name() == b.store)
            else {
                continue;
            };
            let copy = format!("{}{key}", self.q);
            if self.opts.apply {
                self.rt
                    .block_on(quarantine_object(&sb.bucket, key, &copy, bytes))?;
            }
            self.report.actions.push(Action::Quarantine {
                key: key.clone(),
                copy,
                reason: b.kind.into(),
            });
        }
        Ok(())
    }

    /// Step 5: orphans, if the index did not change under us.
    fn orphans(
        &mut self,
        orphans: &BTreeMap<String, String>,
        index_keys: &BTreeSet<String>,
    ) -> Result<()> {
        if orphans.is_empty() {
            return Ok(());
        }
        let (target, opts) = (self.target, self.opts);
        let vo = &opts.verify;
        let mut now = BTreeSet::new();
        for p in &target.periods {
            for table in self.rt.block_on(list_tables(p, vo.table.as_deref()))? {
                for f in self
                    .rt
                    .block_on(list_index_files(p, &table, vo.tenant.as_deref()))?
                {
                    now.insert(f.key);
                }
            }
        }
        if self.opts.apply && now != *index_keys {
            for k in orphans.keys() {
                self.skip(k, "index files changed during the repair (an upload may reference it now); run repair again");
            }
            return Ok(());
        }
        self.progress
            .phase("quarantining orphan chunks", Some(orphans.len() as u64));
        let conc = vo.concurrency.max(1);
        let mut jobs = Vec::new();
        for (key, store) in orphans {
            let Some(sb) = self
                .target
                .buckets
                .iter()
                .find(|s| s.bucket.name() == store)
            else {
                continue;
            };
            jobs.push((sb.bucket.clone(), key.clone(), format!("{}{key}", self.q)));
        }
        if self.opts.apply {
            let progress = self.progress;
            let results: Vec<Result<()>> = self.rt.block_on(
                futures::stream::iter(jobs.iter().map(|(b, key, copy)| async move {
                    let bytes = match b.get(key).await {
                        Ok(x) => x,
                        Err(e) if e.is_not_found() => return Ok(()),
                        Err(e) => return Err(e.into()),
                    };
                    let r = quarantine_object(b, key, copy, &bytes).await;
                    progress.inc(1);
                    r
                }))
                .buffered(conc)
                .collect(),
            );
            for r in results {
                r?;
            }
        }
        for (_, key, copy) in jobs {
            self.report.actions.push(Action::Quarantine {
                key,
                copy,
                reason: "orphan_chunk".into(),
            });
        }
        Ok(())
    }

    /// Step 6: markers.
    fn markers(&mut self, indexed: &HashSet<u128>) -> Result<()> {
        let wanted: BTreeMap<String, &'static str> = self
            .report
            .found
            .findings
            .iter()
            .filter_map(|f| match f {
                Finding::MarkerForIndexedChunks { marker, .. } => {
                    Some((marker.clone(), "marker_for_indexed_chunks"))
                }
                Finding::CorruptMarker { marker, .. } => Some((marker.clone(), "corrupt_marker")),
                Finding::OverdueMarker { marker, .. } => Some((marker.clone(), "overdue_marker")),
                _ => None,
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let target = self.target;
        for b in &target.buckets {
            for m in self.rt.block_on(b.markers.list())? {
                let (shown, name) = match &m.source {
                    MarkerSource::Object(k) => {
                        (k.clone(), k.rsplit('/').next().unwrap_or("").to_owned())
                    }
                    MarkerSource::Local(p) => (
                        p.display().to_string(),
                        p.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    ),
                };
                let Some(kind) = wanted.get(&shown) else {
                    continue;
                };
                if *kind == "overdue_marker" {
                    self.skip(&shown, "overdue: nothing to repair in the store; run a sweeper (loki-compactor) for it");
                    continue;
                }
                let raw = match &m.source {
                    MarkerSource::Object(k) => self.rt.block_on(b.bucket.get(k))?,
                    MarkerSource::Local(p) => {
                        Bytes::from(std::fs::read(p).map_err(|source| MaintError::Io {
                            path: p.display().to_string(),
                            source,
                        })?)
                    }
                };
                let copy = format!("{}markers/{name}", self.q);
                let kept: Option<(Vec<String>, u64)> = if *kind == "corrupt_marker" {
                    None
                } else {
                    let Ok(ids) = markers::decode(&shown, &raw) else {
                        continue;
                    };
                    let (keep, drop): (Vec<String>, Vec<String>) =
                        ids.into_iter().partition(|id| {
                            ChunkRef::parse(id).is_ok_and(|c| !indexed.contains(&chunk_id(&c)))
                        });
                    Some((keep, drop.len() as u64))
                };
                if self.opts.apply {
                    self.rt.block_on(b.bucket.put(&copy, raw.clone()))?;
                    if self.rt.block_on(b.bucket.get(&copy))? != raw {
                        return Err(MaintError::Unsafe(format!(
                            "quarantine copy {copy} does not read back as written"
                        )));
                    }
                    let new = kept.as_ref().filter(|(k, _)| !k.is_empty()).map(|(k, _)| {
                        let format = if loki_compactor::bbolt::looks_like_bbolt(&raw) {
                            MarkerFormat::Loki
                        } else {
                            MarkerFormat::Native
                        };
                        Bytes::from(markers::encode(format, k))
                    });
                    write_marker(self.rt, &b.bucket, &m.source, new)?;
                }
                match kept {
                    None => self.report.actions.push(Action::Quarantine {
                        key: shown,
                        copy,
                        reason: (*kind).into(),
                    }),
                    Some((k, removed)) => self.report.actions.push(Action::RewriteMarker {
                        marker: shown,
                        copy,
                        removed,
                        kept: k.len() as u64,
                    }),
                }
            }
        }
        Ok(())
    }
}

/// Replaces a marker in place (same name, so the same sweep time), or removes it.
fn write_marker(
    rt: &Handle,
    bucket: &Bucket,
    src: &MarkerSource,
    new: Option<Bytes>,
) -> Result<()> {
    match (src, new) {
        (MarkerSource::Object(k), Some(b)) => rt.block_on(bucket.put(k, b))?,
        (MarkerSource::Object(k), None) => rt.block_on(bucket.delete(k))?,
        (MarkerSource::Local(p), new) => {
            let io = |source| MaintError::Io {
                path: p.display().to_string(),
                source,
            };
            match new {
                Some(b) => {
                    // Temp name + rename: a sweeper never sees half a marker.
                    let tmp = p.with_extension("repair.tmp");
                    std::fs::write(&tmp, &b).map_err(io)?;
                    std::fs::rename(&tmp, p).map_err(io)?;
                }
                None => std::fs::remove_file(p).map_err(io)?,
            }
        }
    }
    Ok(())
}

/// Verifies `target`, then repairs what was found (see the module docs). With
/// `opts.apply == false` nothing is written.
pub fn repair(
    target: &Target,
    opts: &RepairOptions,
    rt: &Handle,
    progress: &dyn Progress,
) -> Result<RepairReport> {
    let clock = Clock::system();
    if opts.apply && !opts.ignore_lease {
        check_lease(target, rt, &clock)?;
    }
    let (found, indexed) = verify_with_index(target, &opts.verify, rt, progress)?;
    let run = clock.unique_ns();
    let mut r = Repair {
        target,
        opts,
        rt,
        progress,
        clock,
        q: format!("{QUARANTINE_PREFIX}{run}/"),
        report: RepairReport {
            applied: opts.apply,
            quarantine: format!("{QUARANTINE_PREFIX}{run}/"),
            found,
            actions: Vec::new(),
            skipped: Vec::new(),
            report_keys: Vec::new(),
        },
    };
    if r.report.found.is_clean() {
        return Ok(r.report);
    }
    let bad = r.reread_bad()?;
    let corrupt: BTreeSet<String> = r
        .report
        .found
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::CorruptIndex { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    let mut orphans: BTreeMap<String, String> = r
        .report
        .found
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::OrphanChunk { key, store, .. } => Some((key.clone(), store.clone())),
            _ => None,
        })
        .collect();
    let mut still_referenced = HashSet::new();
    let mut index_keys = BTreeSet::new();
    r.indexes(
        &bad,
        &corrupt,
        &mut orphans,
        &mut still_referenced,
        &mut index_keys,
    )?;
    r.chunks(&bad, &still_referenced)?;
    r.orphans(&orphans, &index_keys)?;
    // Chunks whose refs were dropped are no longer indexed.
    let mut indexed = indexed;
    for b in &r.target.buckets {
        for k in bad.keys() {
            if let ObjectKind::Chunk(c) = b.layout.classify(k) {
                indexed.remove(&chunk_id(&c));
            }
        }
    }
    r.markers(&indexed)?;
    for f in r.report.found.findings.clone() {
        if let Finding::IndexNameMismatch { key, .. } = f {
            r.skip(
                &key,
                "name disagrees with content: left for the compactor (it rewrites the table)",
            );
        }
    }
    if opts.apply && !r.report.actions.is_empty() {
        let key = format!("{}repair-report.json", r.q);
        let body = serde_json::to_vec_pretty(&r.report).unwrap_or_default();
        for b in &target.buckets {
            rt.block_on(b.bucket.put(&key, Bytes::from(body.clone())))?;
            r.report
                .report_keys
                .push(format!("{}: {key}", b.bucket.name()));
        }
    }
    Ok(r.report)
}
