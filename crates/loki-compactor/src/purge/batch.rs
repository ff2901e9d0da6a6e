//! The requests one retention pass works on (spec §8.4): eligible shards of
//! `filter-and-delete` tenants, oldest start first, at most `delete_batch_size`, duplicates
//! folded into their original, requests entirely beyond retention completed at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use loki_config::{CompactorConfig, DeletionMode, Limits, TenantLimits};

use crate::purge::progress::Progress;
use crate::purge::redact::Redaction;
use crate::purge::{Action, DeleteSelector, PurgeRequest};

/// Loki's margin after the cancel period before a request is picked.
const PICK_MARGIN_MS: i64 = 60_000;

/// A request ready to apply.
#[derive(Debug)]
pub struct Compiled {
    /// The request.
    pub req: PurgeRequest,
    /// Its query and range.
    pub selector: DeleteSelector,
    /// Its redaction (redact requests only).
    pub redaction: Option<Redaction>,
}

/// The batch of a pass.
#[derive(Debug, Default)]
pub struct Batch {
    tenants: BTreeMap<String, Vec<Arc<Compiled>>>,
    /// Shards equal to one in the batch (marked processed with it).
    pub duplicates: Vec<PurgeRequest>,
    /// Shards entirely older than the tenant's retention: processed without work.
    pub beyond_retention: Vec<PurgeRequest>,
    /// Eligible shards left for later passes (batch size reached).
    pub deferred: usize,
    /// Shards that cannot be applied (bad query or pattern, redaction disabled), with why.
    pub rejected: Vec<(PurgeRequest, String)>,
    /// What this batch already finished in an earlier, interrupted pass.
    pub progress: Arc<Progress>,
}

fn max_retention_ms(l: &Limits) -> i64 {
    let ms = |d: loki_config::Duration| i64::try_from(d.as_std().as_millis()).unwrap_or(i64::MAX);
    let mut all = std::iter::once(ms(l.retention_period))
        .chain(l.retention_stream.iter().map(|r| ms(r.period)));
    // Any infinite period makes the maximum infinite.
    let mut max = 0;
    for p in all.by_ref() {
        if p == 0 {
            return 0;
        }
        max = max.max(p);
    }
    max
}

fn normalized(q: &str) -> String {
    q.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Inputs of [`Batch::select`].
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// Pass time, unix ms.
    pub now_ms: i64,
    /// `compactor:` settings (cancel period, batch size).
    pub config: &'a CompactorConfig,
    /// Limits (deletion mode, retention) per tenant.
    pub limits: &'a TenantLimits,
    /// Whether redact requests may be applied.
    pub allow_redaction: bool,
}

impl Batch {
    /// Picks this pass's batch out of every unprocessed shard.
    pub fn select(pending: Vec<PurgeRequest>, s: Selection<'_>, progress: Progress) -> Batch {
        let cancel_ms =
            i64::try_from(s.config.delete_request_cancel_period.as_std().as_millis()).unwrap_or(0);
        let mut eligible: Vec<PurgeRequest> = pending
            .into_iter()
            .filter(|r| {
                s.now_ms
                    > r.created_ms
                        .saturating_add(cancel_ms)
                        .saturating_add(PICK_MARGIN_MS)
                    && s.limits.for_tenant(&r.tenant).deletion_mode == DeletionMode::FilterAndDelete
            })
            .collect();
        eligible.sort_by(|a, b| {
            (a.start_ms, a.created_ms, &a.request_id, a.sequence).cmp(&(
                b.start_ms,
                b.created_ms,
                &b.request_id,
                b.sequence,
            ))
        });
        let limit = s.config.delete_batch_size.max(1) as usize;
        let mut b = Batch {
            progress: Arc::new(progress),
            ..Batch::default()
        };
        let mut taken = 0usize;
        for r in eligible {
            let max = max_retention_ms(s.limits.for_tenant(&r.tenant));
            if max > 0 && r.start_ms < s.now_ms - max && r.end_ms < s.now_ms - max {
                tracing::info!(
                    delete_request_id = %r.request_id,
                    user = %r.tenant,
                    "Marking delete request with interval beyond retention period as processed"
                );
                b.beyond_retention.push(r);
                continue;
            }
            let dup = b.tenants.get(&r.tenant).is_some_and(|v| {
                v.iter().any(|c| {
                    c.req.start_ms == r.start_ms
                        && c.req.end_ms == r.end_ms
                        && c.req.action == r.action
                        && c.req.request_id != r.request_id
                        && normalized(&c.req.query) == normalized(&r.query)
                })
            });
            if dup {
                b.duplicates.push(r);
                continue;
            }
            if taken >= limit {
                b.deferred += 1;
                continue;
            }
            let selector = match DeleteSelector::new(&r.query, r.start_ms, r.end_ms) {
                Ok(sel) => sel,
                Err(e) => {
                    b.rejected.push((r, format!("query: {e}")));
                    continue;
                }
            };
            let redaction = match &r.action {
                Action::Delete => None,
                Action::Redact { .. } if !s.allow_redaction => {
                    b.rejected.push((
                        r,
                        "redaction is not enabled in this compactor's config".into(),
                    ));
                    continue;
                }
                Action::Redact { pattern, mask } => match Redaction::new(pattern, mask) {
                    Ok(x) => Some(x),
                    Err(e) => {
                        b.rejected.push((r, format!("redaction pattern: {e}")));
                        continue;
                    }
                },
            };
            tracing::info!(delete_request_id = %r.request_id, user = %r.tenant, "Started processing delete request for user");
            taken += 1;
            b.tenants
                .entry(r.tenant.clone())
                .or_default()
                .push(Arc::new(Compiled {
                    req: r,
                    selector,
                    redaction,
                }));
        }
        if b.deferred > 0 {
            tracing::info!(
                "Processing {taken} of {} delete requests. More requests will be processed in subsequent compactions",
                taken + b.deferred
            );
        }
        for (r, why) in &b.rejected {
            tracing::error!(delete_request_id = %r.request_id, user = %r.tenant, reason = %why, "delete request cannot be processed; left pending");
        }
        b
    }

    /// Whether the batch holds no request.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }

    /// Tenants with requests.
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.tenants.keys().map(String::as_str)
    }

    /// Every request of the batch.
    pub fn requests(&self) -> impl Iterator<Item = &PurgeRequest> {
        self.tenants.values().flatten().map(|c| &c.req)
    }

    /// `tenant`'s requests not yet applied to `table`. Not narrowed by the table's day: a
    /// chunk indexed in a table may reach beyond it, and the range test per chunk is exact.
    pub fn for_table(&self, tenant: &str, table: &str) -> Vec<Arc<Compiled>> {
        self.tenants
            .get(tenant)
            .map(|v| {
                v.iter()
                    .filter(|c| !self.progress.is_done(&c.req, table, tenant))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `tenant` has work in table `day`.
    pub fn touches(&self, tenant: &str, table: &str) -> bool {
        !self.for_table(tenant, table).is_empty()
    }
}
