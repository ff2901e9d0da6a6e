//! The records of the delete-request store, independent of the file format holding them.

/// How far a request has got, as Loki reports it (`received`, `processed`, `N% Complete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Shards marked processed.
    pub processed: u32,
    /// Shards in total (at least 1).
    pub total: u32,
}

impl Progress {
    /// Loki's status string.
    pub fn status(&self) -> String {
        if self.processed >= self.total {
            "processed".to_owned()
        } else if self.processed == 0 {
            "received".to_owned()
        } else {
            format!(
                "{}% Complete",
                u64::from(self.processed) * 100 / u64::from(self.total.max(1))
            )
        }
    }

    /// All shards processed.
    pub fn is_done(&self) -> bool {
        self.processed >= self.total
    }
}

/// A time range in unix milliseconds, both ends inclusive (as Loki stores them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeRange {
    /// Start, unix ms.
    pub start_ms: i64,
    /// End, unix ms.
    pub end_ms: i64,
}

/// Parameters of a redaction request (our extension): matched text is replaced, the line
/// stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// Regular expression (RE2 syntax as accepted by the `regex` crate) of the text to mask.
    pub pattern: String,
    /// Replacement for every match.
    pub mask: String,
}

/// Which kind of request a record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// Loki's delete request: matching lines are dropped.
    Delete,
    /// Our redaction request: matching text inside matching lines is masked.
    Redact(Redaction),
}

/// One stored request, shards merged (what the list APIs return).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    /// 8 lowercase hex digits, unique in the store.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Creation, unix ms.
    pub created_ms: i64,
    /// Merged range (min shard start, max shard end).
    pub range: TimeRange,
    /// LogQL log selector.
    pub query: String,
    /// Shards processed / total.
    pub progress: Progress,
    /// When the last shard was processed, unix ms.
    pub completed_ms: Option<i64>,
    /// Delete or redaction.
    pub kind: RequestKind,
}

impl StoredRequest {
    /// Loki's status string.
    pub fn status(&self) -> String {
        self.progress.status()
    }
}

/// A request waiting for the compactor's processing pass, with its unprocessed shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRequest {
    /// Request id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Creation, unix ms.
    pub created_ms: i64,
    /// LogQL log selector (stream matchers plus filters).
    pub query: String,
    /// Merged range of the whole request.
    pub range: TimeRange,
    /// Shards not yet processed, by start time. Mark each with
    /// [`DeleteStore::mark_shard_processed`](super::store::DeleteStore::mark_shard_processed).
    pub shards: Vec<TimeRange>,
    /// Shards of the request in total (processed ones included).
    pub total_shards: u32,
    /// `Some` for a redaction request (mask instead of drop).
    pub redaction: Option<Redaction>,
}

/// A new request as validated by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    /// Tenant.
    pub tenant: String,
    /// LogQL log selector.
    pub query: String,
    /// Shards (consecutive, covering the request's range); at least one.
    pub shards: Vec<TimeRange>,
    /// Delete or redaction.
    pub kind: RequestKind,
}
