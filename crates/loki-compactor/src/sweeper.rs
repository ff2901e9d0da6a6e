//! The sweeper: deletes the chunks listed in markers older than `retention_delete_delay`,
//! with `retention_delete_worker_count` deletions in flight; a marker is removed only after
//! every one of its chunks is gone, so a crash or error just means the next sweep repeats
//! it (a chunk already deleted counts as done).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use loki_config::SchemaVersion;

use crate::clock::Clock;
use crate::crash;
use crate::error::{CompactorError, Result};
use crate::markers::MarkerStore;
use crate::metrics::{names, Metrics};

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepStats {
    /// Markers old enough to sweep.
    pub eligible: u64,
    /// Markers fully processed and removed.
    pub markers_removed: u64,
    /// Chunk deletions that succeeded (including already-missing chunks).
    pub chunks_deleted: u64,
    /// Chunk deletions that failed (retried by a later sweep).
    pub chunk_failures: u64,
}

/// Sweeps `store` once. `allowed` is checked before each marker: once it is cleared
/// (lease lost, shutdown) the sweep stops between markers, never inside one.
pub async fn sweep(
    store: &MarkerStore,
    delay: Duration,
    workers: usize,
    clock: &Clock,
    metrics: &Metrics,
    dry_run: bool,
    allowed: &AtomicBool,
) -> Result<SweepStats> {
    let from = store.from.as_str();
    let now = clock.now_ns();
    let delay_ns = i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX);
    let due: Vec<_> = store
        .list()
        .await?
        .into_iter()
        .filter(|m| now.saturating_sub(m.created_ns) > delay_ns)
        .collect();
    let mut stats = SweepStats {
        eligible: due.len() as u64,
        ..Default::default()
    };
    metrics.set(
        names::SWEEP_FILES_CURRENT,
        &[("from", from)],
        due.len() as f64,
    );
    if due.is_empty() {
        metrics.set(names::SWEEP_PROCESSING_TIME, &[("from", from)], 0.0);
        tracing::debug!(from, "no marks file found");
        return Ok(stats);
    }
    for m in due {
        if !allowed.load(Ordering::SeqCst) {
            metrics.set(names::SWEEP_PROCESSING_TIME, &[("from", from)], 0.0);
            return Err(CompactorError::Task(
                "writes stopped (lease lost or shutting down); sweep abandoned between markers"
                    .into(),
            ));
        }
        metrics.set(
            names::SWEEP_PROCESSING_TIME,
            &[("from", from)],
            m.created_ns as f64 / 1e9,
        );
        let ids = store.read(&m).await?;
        if dry_run {
            tracing::info!(marker = ?m.source, chunks = ids.len(), "dry run: would sweep marker");
            continue;
        }
        let bucket = &store.bucket;
        let results: Vec<bool> = futures::stream::iter(ids.iter().map(|id| async move {
            let started = Instant::now();
            // v12+ ids have the fingerprint as its own segment; older ones do not.
            let schema = if id.matches('/').count() == 2 {
                SchemaVersion::V13
            } else {
                SchemaVersion::V11
            };
            let tenant_ok = id.split_once('/').is_some_and(|(t, _)| !t.is_empty());
            let res = if tenant_ok {
                let key = bucket.codec().encode_chunk_key(id, schema);
                bucket.delete(&key).await.map_err(|e| e.to_string())
            } else {
                Err("chunk id has no tenant".to_owned())
            };
            let status = if res.is_ok() { "success" } else { "failure" };
            metrics.observe(
                names::SWEEP_CHUNK_DURATION,
                &[("from", from), ("status", status)],
                started.elapsed().as_secs_f64(),
            );
            if let Err(e) = &res {
                tracing::error!(chunkID = %id, err = %e, "error deleting chunk");
            }
            crash::point("sweep-after-chunk-delete");
            res.is_ok()
        }))
        .buffer_unordered(workers.max(1))
        .collect()
        .await;
        let ok = results.iter().filter(|r| **r).count() as u64;
        stats.chunks_deleted += ok;
        stats.chunk_failures += results.len() as u64 - ok;
        if ok as usize == results.len() {
            crash::point("sweep-before-marker-delete");
            store.remove(&m).await?;
            stats.markers_removed += 1;
            metrics.inc(names::SWEEP_FILES_DELETED, &[("from", from)]);
        }
    }
    metrics.set(names::SWEEP_PROCESSING_TIME, &[("from", from)], 0.0);
    Ok(stats)
}
