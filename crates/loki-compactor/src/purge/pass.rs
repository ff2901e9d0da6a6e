//! A retention pass's side of delete processing: load the batch at the start, and at the
//! end mark its requests processed (only when every table succeeded) and reset progress.

use std::path::PathBuf;

use crate::metrics::{names, Metrics};
use crate::purge::batch::{Batch, Selection};
use crate::purge::progress::Progress;
use crate::purge::{PurgeRequest, PurgeSource};

/// Loads this pass's batch. A failure to load is logged and counted, and the pass goes on
/// without deletes (`None`), as Loki does.
pub async fn load(
    source: &dyn PurgeSource,
    sel: Selection<'_>,
    progress_path: Option<PathBuf>,
    metrics: &Metrics,
    dry_run: bool,
) -> Option<Batch> {
    let pending = match source.pending().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(err = %e, "failed to load delete requests");
            metrics.inc(names::LOAD_PENDING_ATTEMPTS, &[("status", "fail")]);
            return None;
        }
    };
    let progress = match Progress::load(progress_path) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(err = %e, "delete progress unreadable; starting the batch over");
            Progress::default()
        }
    };
    metrics.inc(names::LOAD_PENDING_ATTEMPTS, &[("status", "success")]);
    let b = Batch::select(pending, sel, progress);
    if !b.beyond_retention.is_empty() && !dry_run {
        if let Err(e) = mark(source, &b.beyond_retention, metrics).await {
            tracing::error!(err = %e, "failed to mark delete requests beyond retention as processed");
        }
    }
    Some(b)
}

async fn mark(
    source: &dyn PurgeSource,
    done: &[PurgeRequest],
    metrics: &Metrics,
) -> crate::Result<()> {
    source.mark_processed(done).await?;
    for r in done {
        metrics.inc(names::DELETE_REQUESTS_PROCESSED, &[("user", &r.tenant)]);
        tracing::info!(
            delete_request_id = %r.request_id,
            sequence_num = r.sequence,
            user = %r.tenant,
            "delete request for user marked as processed"
        );
    }
    Ok(())
}

/// Ends the batch: on success every request and duplicate is marked processed and the
/// progress is reset; on failure the progress is kept for the next pass.
pub async fn finish(
    source: &dyn PurgeSource,
    batch: &Batch,
    pass_ok: bool,
    metrics: &Metrics,
    dry_run: bool,
) -> crate::Result<()> {
    if dry_run || (batch.is_empty() && batch.duplicates.is_empty()) {
        return Ok(());
    }
    if !pass_ok {
        metrics.inc(names::DELETE_PROCESSING_FAILS, &[("cause", "error")]);
        return Ok(());
    }
    let done: Vec<PurgeRequest> = batch
        .requests()
        .cloned()
        .chain(batch.duplicates.iter().cloned())
        .collect();
    if let Err(e) = mark(source, &done, metrics).await {
        metrics.inc(names::DELETE_PROCESSING_FAILS, &[("cause", "error")]);
        return Err(e);
    }
    batch.progress.reset()
}
