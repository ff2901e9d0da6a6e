//! The delete-request store as the source of a pass's requests: every unprocessed shard is
//! one [`PurgeRequest`], and marking one processed marks that shard in the store.

use futures::future::BoxFuture;

use crate::deletes::model::TimeRange;
use crate::deletes::store::DeleteStore;
use crate::error::{CompactorError, Result};
use crate::purge::{Action, PurgeRequest, PurgeSource};

fn store_err(store: &DeleteStore, e: impl std::fmt::Display) -> CompactorError {
    CompactorError::Object {
        key: store.object_key().to_owned(),
        reason: e.to_string(),
    }
}

impl PurgeSource for DeleteStore {
    fn pending(&self) -> BoxFuture<'_, Result<Vec<PurgeRequest>>> {
        Box::pin(async move {
            // Eligibility (cancel period, deletion mode) is the batch's decision.
            let due = self
                .due_requests(None, i64::MAX, 0)
                .await
                .map_err(|e| store_err(self, e))?;
            let mut out = Vec::new();
            for r in due {
                let action = match &r.redaction {
                    None => Action::Delete,
                    Some(x) => Action::Redact {
                        pattern: x.pattern.clone(),
                        mask: x.mask.clone(),
                    },
                };
                for (i, s) in r.shards.iter().enumerate() {
                    out.push(PurgeRequest {
                        tenant: r.tenant.clone(),
                        request_id: r.id.clone(),
                        sequence: u32::try_from(i).unwrap_or(u32::MAX),
                        start_ms: s.start_ms,
                        end_ms: s.end_ms,
                        query: r.query.clone(),
                        created_ms: r.created_ms,
                        action: action.clone(),
                    });
                }
            }
            Ok(out)
        })
    }

    fn mark_processed<'a>(&'a self, done: &'a [PurgeRequest]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for r in done {
                let range = TimeRange {
                    start_ms: r.start_ms,
                    end_ms: r.end_ms,
                };
                self.mark_shard_processed(&r.tenant, &r.request_id, range)
                    .await
                    .map_err(|e| store_err(self, e))?;
            }
            Ok(())
        })
    }
}
