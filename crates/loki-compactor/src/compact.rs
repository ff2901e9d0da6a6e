//! Compaction of one table (spec §5.4), with retention applied when asked (§6.3):
//!
//! 1. list the table once; only what is listed here is ever deleted;
//! 2. per tenant, merge its slice of every multi-tenant upload with its per-tenant files
//!    (streaming merge from `loki-tsdb`), then apply retention to the result;
//! 3. per tenant: write the markers of expired chunks, upload the new file, then delete
//!    that tenant's listed files;
//! 4. once every tenant succeeded, delete the listed multi-tenant uploads.
//!
//! A crash anywhere leaves either the old files, or old and new files side by side (the
//! next pass merges them again, de-duplicating chunk refs), never less data.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use loki_tsdb::{
    filter_in, gzip, merge, merge_in, ChunkFilter, IndexObjectKey, IndexReader, IndexView,
    WriteSummary,
};

use crate::clock::Clock;
use crate::crash;
use crate::error::{CompactorError, Result};
use crate::expired::{ExpiredLog, ExpiredSummary};
use crate::markers::MarkerStore;
use crate::metrics::{names, Metrics};
use crate::output::{self, Output, OutputWriter};
use crate::periods::Period;
use crate::purge::{self, Batch};
use crate::retention::{Expiry, Outcome};

/// Everything one table's compaction needs.
#[derive(Debug, Clone, Copy)]
pub struct TableJob<'a> {
    /// The table's period.
    pub period: &'a Period,
    /// Table name.
    pub table: &'a str,
    /// Table day number.
    pub day: i64,
    /// Retention of this pass, if it is a retention pass.
    pub expiry: Option<&'a Expiry>,
    /// Where markers go (retention passes).
    pub markers: Option<&'a MarkerStore>,
    /// Tenants processed concurrently.
    pub upload_parallelism: usize,
    /// Report only: no upload, delete or marker.
    pub dry_run: bool,
    /// Cleared when this instance loses the lease: no write may start after that.
    pub allowed: &'a AtomicBool,
    /// Time source (file names).
    pub clock: &'a Clock,
    /// Metrics.
    pub metrics: &'a Metrics,
    /// Scratch directory for large inputs (decompressed to disk and memory-mapped instead of
    /// held on the heap), with the size above which an object is spilled.
    pub spill: Option<(&'a std::path::Path, usize)>,
    /// Size (raw) up to which a tenant's new index is built in memory; larger ones move to
    /// a scratch file (with `spill`), are gzipped file to file and uploaded in parts.
    pub output_in_memory_max: usize,
    /// Compressed size from which an input is downloaded as a stream into a scratch file
    /// (needs `spill`): memory stays flat however big uploads get.
    pub stream_downloads_above: u64,
    /// Most inputs merged at once; more are first merged in groups.
    pub merge_fan_in: usize,
    /// Keep every expired chunk id in the report (memory per chunk; tests and tools).
    pub report_expired_ids: bool,
    /// Delete requests of this retention pass.
    pub purge: Option<&'a Batch>,
}

/// What happened to one table.
#[derive(Debug, Default, Clone)]
pub struct TableReport {
    /// Per-tenant files uploaded (in a dry run: that would be).
    pub uploaded: Vec<String>,
    /// Objects deleted, tenant files and uploads (in a dry run: that would be).
    pub deleted: Vec<String>,
    /// Expired chunks per tenant (also filled in dry runs).
    pub expired: BTreeMap<String, ExpiredSummary>,
    /// Chunk refs dropped from this table without a mark (they live on in later tables).
    pub dropped_refs: u64,
    /// Delete processing per tenant.
    pub deletes: BTreeMap<String, purge::process::Summary>,
}

struct Listing {
    common: Vec<String>,
    tenants: BTreeMap<String, Vec<String>>,
    sizes: BTreeMap<String, u64>,
}

async fn list(job: &TableJob<'_>) -> Result<Listing> {
    let prefix = format!("{}{}/", job.period.path_prefix, job.table);
    let mut l = Listing {
        common: Vec::new(),
        tenants: BTreeMap::new(),
        sizes: BTreeMap::new(),
    };
    for o in job.period.bucket.list(&prefix).await? {
        l.sizes.insert(o.key.clone(), o.size);
        match IndexObjectKey::parse(&job.period.path_prefix, &o.key) {
            Ok(k) if k.table == job.table => match k.tenant {
                None => l.common.push(o.key),
                Some(t) => l.tenants.entry(t).or_default().push(o.key),
            },
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(key = %o.key, err = %e, "ignoring object that is no index file")
            }
        }
    }
    l.common.sort();
    for v in l.tenants.values_mut() {
        v.sort();
    }
    Ok(l)
}

fn index_err(table: &str) -> impl Fn(loki_tsdb::IndexError) -> CompactorError + '_ {
    move |source| CompactorError::Index {
        table: table.to_owned(),
        source,
    }
}

/// Compressed bytes downloaded but not yet decompressed, at most (one larger object is
/// still fetched alone).
const DOWNLOAD_BUDGET: u64 = 64 << 20;

async fn fetch_readers(
    job: &TableJob<'_>,
    keys: &[String],
    sizes: &BTreeMap<String, u64>,
) -> Result<Vec<IndexReader>> {
    // Up to 8 downloads in flight, within a budget of compressed bytes (the listing gives the
    // sizes): each is decoded (or spilled) as soon as it arrives, so a table of large uploads
    // never holds all of them at once.
    let permits = (DOWNLOAD_BUDGET >> 20) as u32;
    let budget = tokio::sync::Semaphore::new(permits as usize);
    let budget = &budget;
    futures::stream::iter(keys.iter().map(|k| async move {
        let mib = sizes
            .get(k)
            .map_or(1, |s| (s >> 20) as u32 + 1)
            .min(permits);
        let _held = budget
            .acquire_many(mib)
            .await
            .map_err(|e| CompactorError::Task(e.to_string()))?;
        fetch_one(job, k, sizes.get(k).copied().unwrap_or(0)).await
    }))
    .buffered(8)
    .try_collect()
    .await
}

async fn fetch_one(job: &TableJob<'_>, k: &str, listed_size: u64) -> Result<IndexReader> {
    if let Some((dir, _)) = job
        .spill
        .filter(|_| listed_size >= job.stream_downloads_above)
    {
        return fetch_streamed(job, k, dir.join(job.table)).await;
    }
    let bytes = job.period.bucket.get(k).await?;
    let spill = job
        .spill
        .filter(|(_, min)| bytes.len() >= *min)
        .map(|(dir, _)| dir.join(job.table));
    let table = job.table.to_owned();
    let key = k.to_owned();
    tokio::task::spawn_blocking(move || -> Result<IndexReader> {
        let idx = |source| CompactorError::Index {
            table: format!("{table} ({key})"),
            source,
        };
        match spill {
            // The object is gunzipped straight into an unlinked scratch file that is mapped:
            // the raw index never sits on the heap, and the merge releases its pages as it
            // goes, so a table's inputs need not fit in memory. Only the compressed download
            // is held, until this returns.
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(|source| CompactorError::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
                IndexReader::from_gzip_in(&bytes, &dir).map_err(idx)
            }
            None => IndexReader::from_bytes(bytes).map_err(idx),
        }
    })
    .await
    .map_err(|e| CompactorError::Task(e.to_string()))?
}

/// Downloads `k` chunk by chunk into an unlinked scratch file, then gunzips that file into
/// the mapped scratch file the reader uses.
async fn fetch_streamed(
    job: &TableJob<'_>,
    k: &str,
    dir: std::path::PathBuf,
) -> Result<IndexReader> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let shown = dir.display().to_string();
    let io = move |source| CompactorError::Io {
        path: shown.clone(),
        source,
    };
    tokio::fs::create_dir_all(&dir).await.map_err(io.clone())?;
    let mut out = tokio::fs::File::from_std(tempfile::tempfile_in(&dir).map_err(io.clone())?);
    let mut body = std::pin::pin!(job.period.bucket.get_stream(k).await?);
    while let Some(piece) = body.next().await {
        out.write_all(&piece?).await.map_err(io.clone())?;
    }
    out.flush().await.map_err(io.clone())?;
    let mut file = out.into_std().await;
    let (table, key) = (job.table.to_owned(), k.to_owned());
    tokio::task::spawn_blocking(move || -> Result<IndexReader> {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
        let reader = std::io::BufReader::with_capacity(1 << 16, file);
        IndexReader::from_gzip_reader_in(reader, &dir).map_err(|source| CompactorError::Index {
            table: format!("{table} ({key})"),
            source,
        })
    })
    .await
    .map_err(|e| CompactorError::Task(e.to_string()))?
}

/// Result of the CPU part for one tenant.
struct Built {
    upload: Option<(Output, WriteSummary)>,
    delete_sources: bool,
    expired: ExpiredLog,
    dropped: u64,
    action: &'static str,
    purge: Option<Purged>,
}

/// The streaming merge, with its scratch files in the compactor's working directory when
/// there is one.
fn merge_to<W: std::io::Write>(
    views: &[IndexView<'_>],
    version: loki_tsdb::FormatVersion,
    out: W,
    scratch: Option<&std::path::Path>,
) -> loki_tsdb::Result<(W, WriteSummary)> {
    match scratch {
        Some(dir) => merge_in(views, version, out, dir),
        None => merge(views, version, out),
    }
}

/// Where a tenant's new index goes: memory up to `cap` bytes, then a scratch file in `dir`.
#[derive(Clone)]
struct OutputSpec {
    cap: usize,
    dir: Option<std::path::PathBuf>,
    stem: String,
}

impl OutputSpec {
    fn writer(&self) -> OutputWriter {
        OutputWriter::new(self.cap, self.dir.clone(), &self.stem)
    }
}

fn finish_output(table: &str, w: OutputWriter) -> Result<Output> {
    w.finish().map_err(|source| CompactorError::Io {
        path: format!("{table}: scratch output"),
        source,
    })
}

/// With more than `fan_in` views, merges them in at most `fan_in` groups into scratch
/// files and returns those (kept alive by the caller while it merges them); otherwise
/// nothing. The merge is a union with de-duplication, so merging partial merges gives the
/// same index.
fn merge_groups(
    table: &str,
    views: &[IndexView<'_>],
    version: loki_tsdb::FormatVersion,
    out: &OutputSpec,
    scratch: Option<&std::path::Path>,
    fan_in: usize,
) -> Result<Vec<(Output, IndexReader)>> {
    let fan_in = fan_in.max(2);
    if views.len() <= fan_in {
        return Ok(Vec::new());
    }
    let group = views.len().div_ceil(fan_in);
    let spec = OutputSpec {
        cap: 0,
        ..out.clone()
    };
    views
        .chunks(group)
        .map(|g| {
            let (w, _) = merge_to(g, version, spec.writer(), scratch).map_err(index_err(table))?;
            let partial = finish_output(table, w)?;
            let reader = partial.reader().map_err(index_err(table))?;
            Ok((partial, reader))
        })
        .collect()
}

/// Writes `view` without what `filter` takes out, streamed like the merge (the kept
/// series are never collected): retention's and delete processing's rewrite.
fn rewrite(
    table: &str,
    view: IndexView<'_>,
    version: loki_tsdb::FormatVersion,
    out: &OutputSpec,
    scratch: Option<&std::path::Path>,
    filter: &dyn ChunkFilter,
) -> Result<(Output, WriteSummary)> {
    let tmp = std::env::temp_dir();
    let dir = scratch.unwrap_or(&tmp);
    let (w, summary) =
        filter_in(view, version, out.writer(), dir, filter).map_err(index_err(table))?;
    Ok((finish_output(table, w)?, summary))
}

/// Error of a tenant's expired-chunk log (a scratch file).
fn expired_log_err(table: &str, tenant: &str) -> impl Fn(std::io::Error) -> CompactorError {
    let path = format!("{table}: expired chunk log of {tenant}");
    move |source| CompactorError::Io {
        path: path.clone(),
        source,
    }
}

impl TableJob<'_> {
    /// The table's scratch directory in the working directory, if there is one.
    fn scratch(&self) -> Option<std::path::PathBuf> {
        self.spill.map(|(dir, _)| dir.join(self.table))
    }

    /// Where `tenant`'s new index goes.
    fn output(&self, tenant: &str) -> OutputSpec {
        OutputSpec {
            cap: self.output_in_memory_max,
            dir: self.scratch().map(|d| d.join("out")),
            stem: tenant.to_owned(),
        }
    }
}

/// Merges and applies retention for one tenant (runs on a blocking thread).
#[allow(clippy::too_many_arguments)]
fn build_tenant(
    table: &str,
    tenant: &str,
    common: &[IndexReader],
    own: &[IndexReader],
    merge_needed: bool,
    version: loki_tsdb::FormatVersion,
    expiry: Option<(&Expiry, i64)>,
    out: &OutputSpec,
    scratch: Option<&std::path::Path>,
    expired: ExpiredLog,
    fan_in: usize,
) -> Result<Built> {
    let ie = index_err(table);
    let mut b = Built {
        upload: None,
        delete_sources: false,
        expired,
        dropped: 0,
        action: "none",
        purge: None,
    };
    if merge_needed {
        if let Some(d) = scratch {
            std::fs::create_dir_all(d).map_err(|source| CompactorError::Io {
                path: d.display().to_string(),
                source,
            })?;
        }
        let mut views: Vec<IndexView<'_>> = common.iter().map(|r| r.tenant_view(tenant)).collect();
        views.extend(own.iter().map(IndexReader::view));
        // Setting up the views read each input's postings: let those pages go before
        // the merges walk the inputs a group at a time.
        common
            .iter()
            .chain(own)
            .for_each(IndexReader::release_memory);
        // Each input the merge walks keeps some pages resident (the kernel maps ~64 KiB
        // around every fault), so thousands of uploads in one table (a compactor that was
        // down for a day) are first merged in groups into scratch files.
        let partials = merge_groups(table, &views, version, out, scratch, fan_in)?;
        if !partials.is_empty() {
            views = partials.iter().map(|(_, r)| r.view()).collect();
        }
        let (w, summary) = merge_to(&views, version, out.writer(), scratch).map_err(&ie)?;
        b.upload = Some((finish_output(table, w)?, summary));
        b.delete_sources = true;
    }
    let Some((exp, day)) = expiry else {
        return Ok(b);
    };
    let merged_reader;
    let reader = match &b.upload {
        Some((o, _)) => {
            merged_reader = o.reader().map_err(&ie)?;
            &merged_reader
        }
        None => match own.first() {
            Some(r) => r,
            None => return Ok(b),
        },
    };
    let applied = exp
        .apply(tenant, day, reader, &mut b.expired)
        .map_err(&ie)?;
    b.dropped = applied.dropped;
    match applied.outcome {
        Outcome::Unchanged => {}
        Outcome::Modified(filter) => {
            let rewritten = rewrite(table, reader.view(), version, out, scratch, &filter)?;
            b.upload = Some(rewritten);
            b.delete_sources = true;
            b.action = "modified";
        }
        Outcome::Empty => {
            b.upload = None;
            b.delete_sources = true;
            b.action = "deleted";
        }
    }
    Ok(b)
}

fn check_allowed(job: &TableJob<'_>) -> Result<()> {
    if job.allowed.load(Ordering::SeqCst) {
        Ok(())
    } else {
        Err(CompactorError::Task(
            "writes stopped (lease lost or shutting down): abandoning the table before the next write"
                .into(),
        ))
    }
}

/// Compacts (and, in retention passes, applies retention to) one table.
pub async fn compact_table(job: TableJob<'_>) -> Result<TableReport> {
    let started = Instant::now();
    let table = job.table;
    let listing = list(&job).await?;
    tracing::info!(
        "table-name" = table,
        count = listing.sizes.len(),
        "listed files"
    );
    let mut report = TableReport::default();
    if listing.common.is_empty() && listing.tenants.is_empty() {
        tracing::debug!(
            "table-name" = table,
            "no common index files and user index found"
        );
        return Ok(report);
    }
    tracing::info!(
        "table-name" = table,
        common = listing.common.len(),
        tenants = listing.tenants.len(),
        "compacting table"
    );
    let common = Arc::new(fetch_readers(&job, &listing.common, &listing.sizes).await?);
    let mut tenants: BTreeSet<String> = listing.tenants.keys().cloned().collect();
    let mut in_common: BTreeSet<String> = BTreeSet::new();
    for r in common.iter() {
        for t in r.tenants() {
            in_common.insert(t.to_owned());
            tenants.insert(t.to_owned());
        }
        // Finding the tenants touched the upload's tables: with thousands of uploads
        // those pages add up, and nothing needs them until the merge.
        r.release_memory();
    }
    let has_deletes = job.purge.is_some_and(|b| !b.is_empty());
    let retention_table = job.expiry.filter(|e| e.table_gate(job.day) || has_deletes);
    let sizes = &listing.sizes;
    let from = job.period.name.as_str();

    let results: Vec<(String, TenantDone)> = futures::stream::iter(tenants.into_iter().map(|t| {
        let common = Arc::clone(&common);
        let own_keys = listing.tenants.get(&t).cloned().unwrap_or_default();
        let merge_needed = in_common.contains(&t) || own_keys.len() > 1;
        let deletes = match (retention_table, job.purge) {
            (Some(_), Some(b)) => b.for_table(&t, table),
            _ => Vec::new(),
        };
        let expiry = retention_table.filter(|e| e.tenant_gate(&t, job.day) || !deletes.is_empty());
        async move {
            if !merge_needed && expiry.is_none() {
                return Ok((t, TenantDone::default()));
            }
            let t0 = Instant::now();
            let own = Arc::new(fetch_readers(&job, &own_keys, sizes).await?);
            let version = job.period.version;
            let day = job.day;
            let exp = expiry.cloned();
            let (tt, own2) = (t.clone(), Arc::clone(&own));
            let out = job.output(&t);
            let tname = table.to_owned();
            let scratch = job.scratch();
            let expired = ExpiredLog::new(day, scratch.clone(), job.report_expired_ids);
            let fan_in = job.merge_fan_in;
            let built = tokio::task::spawn_blocking(move || {
                build_tenant(
                    &tname,
                    &tt,
                    &common,
                    &own2,
                    merge_needed,
                    version,
                    exp.as_ref().map(|e| (e, day)),
                    &out,
                    scratch.as_deref(),
                    expired,
                    fan_in,
                )
            })
            .await
            .map_err(|e| CompactorError::Task(e.to_string()))?;
            let built = match built {
                Ok(b) if !deletes.is_empty() => apply_deletes(&job, &t, deletes, &own, b).await,
                other => other,
            };
            let built = match built {
                Ok(b) => b,
                Err(e) => {
                    if expiry.is_some() {
                        job.metrics.observe(
                            names::MARKER_TABLE_DURATION,
                            &[("from", from), ("table", table), ("status", "failure")],
                            t0.elapsed().as_secs_f64(),
                        );
                    }
                    return Err(e);
                }
            };
            crash::point("after-merge");
            let done = finish_tenant(&job, &t, &own_keys, built).await?;
            if expiry.is_some() {
                job.metrics.observe(
                    names::MARKER_TABLE_DURATION,
                    &[("from", from), ("table", table), ("status", "success")],
                    t0.elapsed().as_secs_f64(),
                );
            }
            Ok::<_, CompactorError>((t, done))
        }
    }))
    .buffer_unordered(job.upload_parallelism.max(1))
    .try_collect()
    .await?;

    let mut applied: Vec<(String, Vec<Arc<purge::Compiled>>)> = Vec::new();
    for (t, d) in results {
        if !d.purge_requests.is_empty() {
            applied.push((t.clone(), d.purge_requests));
        }
        if let Some(k) = d.uploaded {
            report.uploaded.push(k);
        }
        report.deleted.extend(d.deleted);
        report.dropped_refs += d.dropped;
        if let Some(p) = d.purge {
            report.deletes.insert(t.clone(), p);
        }
        if d.expired.chunk_refs > 0 {
            report.expired.insert(t, d.expired);
        }
    }
    // Multi-tenant uploads go last: every tenant's data is in its own file by now.
    if !listing.common.is_empty() && !job.dry_run {
        crash::point("before-common-delete");
        check_allowed(&job)?;
        tracing::info!(
            "table-name" = table,
            count = listing.common.len(),
            "removing source db files from storage"
        );
        for k in &listing.common {
            job.period.bucket.delete(k).await?;
            report.deleted.push(k.clone());
        }
        crash::point("after-common-delete");
    } else if job.dry_run {
        report.deleted.extend(listing.common.iter().cloned());
    }
    // Only now is the table's part of the batch durable: until the multi-tenant uploads
    // are gone, a rerun merges their unprocessed chunk refs back in.
    if let (Some(b), false) = (job.purge, job.dry_run) {
        for (t, reqs) in &applied {
            b.progress.record(reqs.iter().map(|c| &c.req), table, t)?;
        }
    }
    tracing::info!("table-name" = table, duration = ?started.elapsed(), uploaded = report.uploaded.len(), deleted = report.deleted.len(), "finished compacting table");
    Ok(report)
}

#[derive(Default)]
struct TenantDone {
    uploaded: Option<String>,
    deleted: Vec<String>,
    expired: ExpiredSummary,
    dropped: u64,
    purge: Option<purge::process::Summary>,
    purge_requests: Vec<Arc<purge::Compiled>>,
}

async fn finish_tenant(
    job: &TableJob<'_>,
    tenant: &str,
    own_keys: &[String],
    built: Built,
) -> Result<TenantDone> {
    let from = job.period.name.as_str();
    let by_ingestion = built.expired.by_ingestion();
    let log_err = expired_log_err(job.table, tenant);
    let (expired, mut ids) = built
        .expired
        .finish(crate::markers::MAX_PER_FILE)
        .map_err(&log_err)?;
    let mut done = TenantDone {
        expired,
        dropped: built.dropped,
        purge: built.purge.as_ref().map(|p| p.summary.clone()),
        ..Default::default()
    };
    if job.expiry.is_some() {
        job.metrics.inc(
            names::MARKER_TABLE_PROCESSED,
            &[
                ("from", from),
                ("table", job.table),
                ("user_id", tenant),
                ("action", built.action),
            ],
        );
        job.metrics
            .add(names::EXPIRED_BY_INGESTION, &[], by_ingestion as f64);
    }
    if job.dry_run {
        // Report the plan: what would be uploaded and deleted.
        if built.upload.is_some() {
            done.uploaded = Some(format!(
                "{}{}/{tenant}/<new compacted file>",
                job.period.path_prefix, job.table
            ));
        }
        if built.delete_sources {
            done.deleted = own_keys.to_vec();
        }
        return Ok(done);
    }
    // The audit log is written ahead of the changes it describes.
    if let Some(p) = &built.purge {
        check_allowed(job)?;
        purge::audit::write_segment(
            &job.period.bucket,
            tenant,
            job.table,
            job.clock.unique_ns(),
            &p.audit,
        )
        .await?;
        crash::point("after-delete-audit");
    }
    // Markers first: once the new index is visible the chunks are unreferenced, and only a
    // durable marker lets a sweeper (ours or Loki's) ever delete them.
    if done.expired.chunk_refs > 0 {
        check_allowed(job)?;
        let store = job.markers.ok_or_else(|| {
            CompactorError::Config("retention pass without a marker store".into())
        })?;
        // A marker file at a time, read back from the log: never the whole list at once.
        while let Some(batch) = ids.next_batch().map_err(&log_err)? {
            check_allowed(job)?;
            store.write(&batch, job.clock).await?;
            job.metrics.add(
                names::MARKER_COUNT,
                &[("from", from), ("table", job.table)],
                batch.len() as f64,
            );
        }
        crash::point("after-marker-write");
    }
    if let Some((bytes, summary)) = built.upload {
        check_allowed(job)?;
        let key = IndexObjectKey::compacted(
            &job.period.path_prefix,
            job.table,
            tenant,
            job.clock.unique_ns(),
            &summary,
        )
        .to_string();
        match bytes {
            Output::Mem(raw) => {
                let gz = tokio::task::spawn_blocking(move || gzip(&raw))
                    .await
                    .map_err(|e| CompactorError::Task(e.to_string()))?;
                job.period.bucket.put(&key, Bytes::from(gz)).await?;
            }
            Output::File(raw) => {
                // Gzipped file to file and uploaded in parts: never whole on the heap.
                let gz = tokio::task::spawn_blocking(move || {
                    output::gzip_file(&raw).map_err(|source| CompactorError::Io {
                        path: raw.path().display().to_string(),
                        source,
                    })
                })
                .await
                .map_err(|e| CompactorError::Task(e.to_string()))??;
                job.period.bucket.put_file(&key, gz.path()).await?;
            }
        }
        tracing::info!("table-name" = job.table, tenant, key = %key, series = summary.series, chunks = summary.chunks, "uploaded compacted index");
        done.uploaded = Some(key);
        crash::point("after-tenant-upload");
    }
    if built.delete_sources {
        check_allowed(job)?;
        for k in own_keys {
            job.period.bucket.delete(k).await?;
            done.deleted.push(k.clone());
        }
        crash::point("after-tenant-delete");
    }
    done.purge_requests = built.purge.map(|p| p.requests).unwrap_or_default();
    Ok(done)
}

/// A tenant's index as it stands before delete processing: the merged/retained output, or
/// else its single file.
struct TenantIndex {
    merged: Option<IndexReader>,
    own: Arc<Vec<IndexReader>>,
}

impl TenantIndex {
    fn get(&self) -> Option<&IndexReader> {
        self.merged.as_ref().or_else(|| self.own.first())
    }
}

/// Delete processing applied to a tenant's built index.
struct Purged {
    audit: Vec<purge::audit::AuditRecord>,
    requests: Vec<Arc<purge::Compiled>>,
    summary: purge::process::Summary,
}

/// Applies the tenant's delete requests to `b` (its index after merge and retention):
/// new chunks are uploaded here, the index and markers follow in [`finish_tenant`].
async fn apply_deletes(
    job: &TableJob<'_>,
    tenant: &str,
    requests: Vec<Arc<purge::Compiled>>,
    own: &Arc<Vec<IndexReader>>,
    mut b: Built,
) -> Result<Built> {
    let emptied = b.upload.is_none() && b.delete_sources;
    if emptied {
        return Ok(b);
    }
    // The index as it stands: the merged/retained output, or the tenant's single file.
    let merged = match &b.upload {
        Some((o, _)) => Some(o.reader().map_err(index_err(job.table))?),
        None => None,
    };
    let reader = Arc::new(TenantIndex {
        merged,
        own: Arc::clone(own),
    });
    let (scan_reader, reqs, table) = (Arc::clone(&reader), requests.clone(), job.table.to_owned());
    let selection = tokio::task::spawn_blocking(move || match scan_reader.get() {
        Some(r) => purge::process::Selection::scan(r, &reqs).map_err(index_err(&table)),
        None => Ok(purge::process::Selection::default()),
    })
    .await
    .map_err(|e| CompactorError::Task(e.to_string()))??;
    let now_ms = job
        .expiry
        .map(|e| e.now_ms)
        .unwrap_or_else(|| job.clock.now_ms());
    let pj = purge::process::TenantJob {
        bucket: &job.period.bucket,
        schema: job.period.schema,
        tenant,
        table: job.table,
        day: job.day,
        requests: &requests,
        now_ms,
        dry_run: job.dry_run,
        concurrency: 8,
        metrics: job.metrics,
    };
    let mut r = purge::process::process_tenant(&pj, selection).await?;
    if let Some(edits) = r.edits.take() {
        let version = job.period.version;
        let table = job.table.to_owned();
        let (out, scratch) = (job.output(tenant), job.scratch());
        let (rewritten, summary) = tokio::task::spawn_blocking(move || {
            let view = reader
                .get()
                .ok_or_else(|| CompactorError::Task(format!("{table}: no index to rewrite")))?
                .view();
            rewrite(&table, view, version, &out, scratch.as_deref(), &edits)
        })
        .await
        .map_err(|e| CompactorError::Task(e.to_string()))??;
        b.delete_sources = true;
        if summary.series == 0 {
            b.upload = None;
            b.action = "deleted";
        } else {
            b.upload = Some((rewritten, summary));
            b.action = "modified";
        }
    }
    b.expired
        .extend(&r.marked)
        .map_err(expired_log_err(job.table, tenant))?;
    let summary = r.summary();
    b.purge = Some(Purged {
        audit: std::mem::take(&mut r.audit),
        requests,
        summary,
    });
    Ok(b)
}
