//! Processing of delete requests during the retention pass (spec §8.3–8.6): chunks wholly
//! covered by a request are dropped from the index and marked; chunks partly covered are
//! rewritten without the selected lines (or with them redacted) and indexed in place of the
//! original, which is marked. Requests are marked processed only once the whole pass is
//! durable; per-table progress makes an interrupted pass resume where it stopped.
//!
//! * [`matcher`]: which lines a request selects (shared with `loki-inspect`);
//! * [`batch`]: the requests a pass works on;
//! * [`process`]: one tenant index of one table;
//! * [`rewrite`], [`redact`]: one chunk;
//! * [`audit`]: the audit log in the bucket;
//! * [`progress`]: what an interrupted pass already finished.

pub mod audit;
pub mod batch;
pub mod matcher;
pub mod pass;
pub mod process;
pub mod progress;
pub mod redact;
pub mod rewrite;
pub mod source;

use futures::future::BoxFuture;

pub use batch::{Batch, Compiled};
pub use matcher::DeleteSelector;

/// What a request does with the lines it selects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Action {
    /// Loki's delete: the lines are removed.
    Delete,
    /// Our extension: matches of `pattern` in selected lines are replaced by `mask`.
    Redact {
        /// Regular expression.
        pattern: String,
        /// Replacement text (literal).
        mask: String,
    },
}

/// One delete request shard due for processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeRequest {
    /// Tenant.
    pub tenant: String,
    /// Request id (8 hex digits in Loki).
    pub request_id: String,
    /// Shard sequence number (0 for unsharded requests).
    pub sequence: u32,
    /// Start, unix ms (inclusive).
    pub start_ms: i64,
    /// End, unix ms (inclusive).
    pub end_ms: i64,
    /// LogQL selector with optional pipeline.
    pub query: String,
    /// Creation, unix ms.
    pub created_ms: i64,
    /// Delete or redact.
    pub action: Action,
}

impl PurgeRequest {
    /// Requests of Loki's delete-request DB that are not processed yet.
    pub fn from_delete_db(db: &crate::deletes::DeleteDb) -> Vec<PurgeRequest> {
        db.requests
            .iter()
            .flat_map(|(tenant, rs)| {
                rs.iter()
                    .filter(|r| r.status != "processed")
                    .map(move |r| PurgeRequest {
                        tenant: tenant.clone(),
                        request_id: r.request_id.clone(),
                        sequence: 0,
                        start_ms: r.start_ms,
                        end_ms: r.end_ms,
                        query: r.query.clone(),
                        created_ms: r.created_ms,
                        action: Action::Delete,
                    })
            })
            .collect()
    }
}

/// Where requests come from and where their completion is recorded.
pub trait PurgeSource: Send + Sync + std::fmt::Debug {
    /// Every unprocessed shard of every tenant (eligibility is decided by the batch).
    fn pending(&self) -> BoxFuture<'_, crate::Result<Vec<PurgeRequest>>>;
    /// Records these shards as processed, durably, before returning.
    fn mark_processed<'a>(&'a self, done: &'a [PurgeRequest]) -> BoxFuture<'a, crate::Result<()>>;
}

/// An in-memory source (tests, one-shot runs over a fixed request list).
#[derive(Debug, Default)]
pub struct MemorySource {
    state: std::sync::Mutex<(Vec<PurgeRequest>, Vec<PurgeRequest>)>,
}

impl MemorySource {
    /// A source holding `pending`.
    pub fn new(pending: Vec<PurgeRequest>) -> Self {
        MemorySource {
            state: std::sync::Mutex::new((pending, Vec::new())),
        }
    }

    /// Shards marked processed so far.
    pub fn processed(&self) -> Vec<PurgeRequest> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }
}

impl PurgeSource for MemorySource {
    fn pending(&self) -> BoxFuture<'_, crate::Result<Vec<PurgeRequest>>> {
        let v = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone();
        Box::pin(async move { Ok(v) })
    }

    fn mark_processed<'a>(&'a self, done: &'a [PurgeRequest]) -> BoxFuture<'a, crate::Result<()>> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0.retain(|p| {
            !done.iter().any(|d| {
                d.tenant == p.tenant && d.request_id == p.request_id && d.sequence == p.sequence
            })
        });
        s.1.extend(done.iter().cloned());
        Box::pin(async { Ok(()) })
    }
}
