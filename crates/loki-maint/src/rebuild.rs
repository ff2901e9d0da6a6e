//! `rebuild-index`: write a tenant's per-tenant TSDB index of one table from the chunk
//! objects in the bucket, for when the index is lost or damaged (Loki issues #4755, #15928).
//!
//! * Which chunks: every object under `<tenant>/` whose key time range `[from, through]`
//!   touches the table's day, as Loki's ingester indexes a chunk in every daily table it
//!   touches (chunks crossing midnight are in two tables, with times outside the day).
//! * Per chunk: labels and fingerprint from the object's metadata (never recomputed: Loki
//!   may have remapped a colliding fingerprint), times and checksum from the key (checked
//!   against the object), and the stats Loki's ingester records at flush: `Entries` = the
//!   block metas' entry counts, `KB` = round((Σ block `uncompressedSize` + bytes of the v4
//!   structured-metadata symbol strings) / 1024) — reproducing every golden index byte for
//!   byte. Only the object header, the block metas and the symbol table are parsed: no
//!   block is decompressed (except for v1/v2 chunks, whose metas carry no size).
//! * The file is what Loki's compactor would write: the period's format version, named
//!   `<nanos>-compactor-<from>-<through>-<crc>.tsdb.gz` in `<table>/<tenant>/`.
//! * Safety: an existing per-tenant index is never overwritten without `replace`; with it,
//!   the new file is uploaded first and only the files listed before are deleted.
//!   Ingester uploads (multi-tenant files) of the table are left alone: readers merge them
//!   with the new file and de-duplicate chunk refs.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use loki_bucket::ChunkRef;
use loki_chunk::{Chunk, ChunkObject, FormatVersion as ChunkVersion};
use loki_tsdb::{ChunkMeta, FormatVersion, IndexBuilder, IndexObjectKey, Labels};
use serde::Serialize;

use crate::error::{MaintError, Result};
use crate::target::{MaintPeriod, Target};
use crate::verify::Progress;

const DAY_MS: i64 = 86_400_000;

/// What to rebuild.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    /// Tenant whose index is rebuilt.
    pub tenant: String,
    /// Table name (`<period prefix><day number>`).
    pub table: String,
    /// Replace an existing per-tenant index of the table (upload first, then delete it).
    pub replace: bool,
    /// Scan and build, but upload and delete nothing.
    pub dry_run: bool,
    /// Chunk objects fetched concurrently (memory ≈ this × chunk object size).
    pub concurrency: usize,
    /// Creation time in the file name (unix ns); `None` = now.
    pub created_ns: Option<i64>,
}

/// What a rebuild did (the `--json` output).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RebuildReport {
    /// Table.
    pub table: String,
    /// Tenant.
    pub tenant: String,
    /// Index format version written.
    pub format_version: u8,
    /// Objects listed under `<tenant>/`.
    pub objects_listed: u64,
    /// Keys under `<tenant>/` that are not chunk objects (left alone, not indexed).
    pub not_chunks: u64,
    /// The first few of them.
    pub not_chunks_examples: Vec<String>,
    /// Chunks indexed (those touching the table's day).
    pub chunks: u64,
    /// Streams (series) in the new index.
    pub series: u64,
    /// Entries over all indexed chunks.
    pub entries: u64,
    /// Chunk object bytes read.
    pub bytes_read: u64,
    /// TOC From / Through of the new index (ms).
    pub from_ms: i64,
    /// See `from_ms`.
    pub through_ms: i64,
    /// Per-tenant index files present before (replaced with `replace`).
    pub existing: Vec<String>,
    /// Key of the new index (in a dry run: the key it would have).
    pub uploaded: Option<String>,
    /// Size of the new (gzipped) index object.
    pub index_bytes: u64,
    /// Files deleted (the replaced ones).
    pub deleted: Vec<String>,
    /// Nothing was written.
    pub dry_run: bool,
}

/// The index entry of one chunk object.
#[derive(Debug, Clone)]
pub struct IndexedChunk {
    /// Stream labels (the object's metric without `__name__`).
    pub labels: Labels,
    /// Stored stream fingerprint.
    pub fingerprint: u64,
    /// Chunk meta as Loki's ingester records it.
    pub meta: ChunkMeta,
}

/// Derives a chunk's index entry from its object, checking the object against its key.
pub fn index_entry(key: &str, c: &ChunkRef, object: Bytes) -> Result<IndexedChunk> {
    let err = |source| MaintError::Chunk {
        key: key.to_owned(),
        source,
    };
    let obj = ChunkObject::decode_with_key(object, &loki_chunk::ChunkKey::from(c)).map_err(err)?;
    let chunk = obj.chunk().map_err(err)?;
    let (entries, size) = chunk_stats(&chunk).map_err(err)?;
    let labels = Labels::new(obj.meta.stream_labels().iter());
    Ok(IndexedChunk {
        labels,
        fingerprint: obj.meta.fingerprint,
        meta: ChunkMeta {
            min_time: c.from_ms,
            max_time: c.through_ms,
            checksum: c.checksum,
            kb: u32::try_from((size + 512) / 1024).unwrap_or(u32::MAX),
            entries: u32::try_from(entries).unwrap_or(u32::MAX),
            ingested_at: obj.meta.ingested_at_ms.unwrap_or(0),
        },
    })
}

/// `(entries, uncompressed size)` as Loki's ingester counts them at flush: the block metas'
/// entry counts and size estimates (lines + 8 bytes per structured-metadata pair). v1/v2
/// metas have no size, so those chunks are decoded and their line bytes summed.
pub fn chunk_stats(chunk: &Chunk) -> loki_chunk::Result<(u64, u64)> {
    if chunk.version() >= ChunkVersion::V3 {
        // v4: the structured-metadata symbol table counts with its string bytes.
        let symbols: u64 = chunk.symbols().iter().map(|s| s.len() as u64).sum();
        return Ok((chunk.num_entries(), chunk.uncompressed_size() + symbols));
    }
    let (mut n, mut size) = (0u64, 0u64);
    for e in chunk.entries() {
        let e = e?;
        n += 1;
        size += e.line.len() as u64;
    }
    Ok((n, size))
}

/// True when a chunk with key times `[from_ms, through_ms]` is indexed in table `day`.
pub fn chunk_in_day(c: &ChunkRef, day: i64) -> bool {
    c.from_ms.div_euclid(DAY_MS) <= day && day <= c.through_ms.div_euclid(DAY_MS)
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Lists the chunk objects of `tenant` touching `day`, streaming over the listing so only
/// the matching refs are kept.
async fn matching_chunks(
    period: &MaintPeriod,
    tenant: &str,
    day: i64,
    report: &mut RebuildReport,
    progress: &dyn Progress,
) -> Result<Vec<(String, ChunkRef)>> {
    progress.phase("list", None);
    let codec = period.bucket.codec();
    let mut found = Vec::new();
    let (mut not_chunks, mut examples) = (0u64, Vec::new());
    let listed = period
        .bucket
        .for_each_object(&format!("{tenant}/"), |o| {
            progress.inc(1);
            match codec.parse_chunk_object(&o.key) {
                Ok(c) if c.tenant == tenant => {
                    if chunk_in_day(&c, day) {
                        found.push((o.key, c));
                    }
                }
                _ => {
                    not_chunks += 1;
                    if examples.len() < 10 {
                        examples.push(o.key);
                    }
                }
            }
        })
        .await?;
    report.objects_listed = listed;
    report.not_chunks = not_chunks;
    report.not_chunks_examples = examples;
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// Rebuilds `opts.tenant`'s index of `opts.table` in `store`.
pub async fn rebuild_index(
    target: &Target,
    opts: &RebuildOptions,
    progress: &dyn Progress,
) -> Result<RebuildReport> {
    let (period, day) = target
        .periods
        .iter()
        .find_map(|p| p.table_day(&opts.table).map(|d| (p, d)))
        .filter(|(p, d)| p.table_prefix.len() + d.to_string().len() == opts.table.len())
        .ok_or_else(|| {
            MaintError::Config(format!(
                "`{}` is not a table of any TSDB period (expected {})",
                opts.table,
                target
                    .periods
                    .iter()
                    .map(|p| format!("{}<day>", p.table_prefix))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))
        })?;
    let tenant = opts.tenant.as_str();
    if tenant.is_empty() || tenant.contains('/') {
        return Err(MaintError::Config(format!(
            "tenant `{tenant}` is not a valid tenant id"
        )));
    }
    let mut report = RebuildReport {
        table: opts.table.clone(),
        tenant: tenant.to_owned(),
        format_version: period.version.as_u8(),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let tenant_dir = format!("{}{}/{tenant}/", period.path_prefix, opts.table);
    report.existing = period
        .bucket
        .list(&tenant_dir)
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect();
    report.existing.sort();
    if !report.existing.is_empty() && !opts.replace && !opts.dry_run {
        return Err(MaintError::Unsafe(format!(
            "table {} already has an index for tenant {tenant} ({}); pass --replace to replace it \
             (the new file is uploaded before the old ones are deleted)",
            opts.table,
            report.existing.join(", ")
        )));
    }

    let chunks = matching_chunks(period, tenant, day, &mut report, progress).await?;
    progress.phase("chunks", Some(chunks.len() as u64));
    let bytes_read = AtomicU64::new(0);
    let bucket = &period.bucket;
    let entries: Vec<IndexedChunk> = futures::stream::iter(chunks.iter().map(|(key, c)| {
        let bytes_read = &bytes_read;
        async move {
            let body = bucket.get(key).await?;
            let n = body.len() as u64;
            bytes_read.fetch_add(n, Ordering::Relaxed);
            let e = index_entry(key, c, body)?;
            progress.inc(1);
            Ok::<_, MaintError>(e)
        }
    }))
    .buffered(opts.concurrency.max(1))
    .try_collect()
    .await?;
    report.bytes_read = bytes_read.into_inner();
    report.chunks = entries.len() as u64;
    report.entries = entries.iter().map(|e| u64::from(e.meta.entries)).sum();

    if entries.is_empty() {
        tracing::warn!(table = %opts.table, tenant, "no chunk object touches this table: nothing to write");
        return Ok(report);
    }
    let version = period.version;
    let (raw, summary) = build(version, entries).map_err(|source| MaintError::Index {
        key: tenant_dir.clone(),
        source,
    })?;
    report.series = summary.series;
    report.from_ms = summary.from;
    report.through_ms = summary.through;
    let created = opts.created_ns.unwrap_or_else(now_ns);
    let key =
        IndexObjectKey::compacted(&period.path_prefix, &opts.table, tenant, created, &summary)
            .to_string();
    let gz = tokio::task::spawn_blocking(move || loki_tsdb::gzip(&raw))
        .await
        .map_err(|e| MaintError::Task(e.to_string()))?;
    report.index_bytes = gz.len() as u64;
    report.uploaded = Some(key.clone());
    if opts.dry_run {
        return Ok(report);
    }
    // A name is never reused (Loki would not re-download it): create, never overwrite.
    bucket.put_if_absent(&key, Bytes::from(gz)).await?;
    tracing::info!(key = %key, series = summary.series, chunks = summary.chunks, "uploaded rebuilt index");
    if opts.replace {
        for old in &report.existing {
            bucket.delete(old).await?;
            report.deleted.push(old.clone());
        }
    }
    Ok(report)
}

/// Builds the index file of `entries` (raw, not gzipped).
pub fn build(
    version: FormatVersion,
    entries: Vec<IndexedChunk>,
) -> loki_tsdb::Result<(Vec<u8>, loki_tsdb::WriteSummary)> {
    let mut b = IndexBuilder::new(version);
    for e in entries {
        b.add_series(e.labels, e.fingerprint, [e.meta]);
    }
    b.build()
}
