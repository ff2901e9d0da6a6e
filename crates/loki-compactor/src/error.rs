//! Errors of the compactor library.

/// What can go wrong in a compaction, retention or sweep step.
#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    /// An object-store request failed (after the bucket's retries).
    #[error(transparent)]
    Bucket(#[from] loki_bucket::BucketError),
    /// An index file could not be read or written.
    #[error("table {table}: {source}")]
    Index {
        /// Table being processed.
        table: String,
        /// Underlying error.
        #[source]
        source: loki_tsdb::IndexError,
    },
    /// The Loki configuration cannot be served by this compactor.
    #[error("config: {0}")]
    Config(String),
    /// A marker object is not in a format we know.
    #[error("marker {key}: {reason}")]
    Marker {
        /// Marker object key or file path.
        key: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An object of delete processing (audit segment, chunk to rewrite) is unreadable.
    #[error("{key}: {reason}")]
    Object {
        /// Object key.
        key: String,
        /// What is wrong, with the offset where known.
        reason: String,
    },
    /// The single-writer lease is held by another instance.
    #[error("lease held by {holder} until {expires_ms} ms")]
    LeaseHeld {
        /// Holder id.
        holder: String,
        /// Expiry, unix ms.
        expires_ms: i64,
    },
    /// A lease request failed.
    #[error("lease: {0}")]
    Lease(String),
    /// A background task died.
    #[error("task failed: {0}")]
    Task(String),
    /// Local I/O (Loki's local marker directories).
    #[error("{path}: {source}")]
    Io {
        /// File involved.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias.
pub type Result<T, E = CompactorError> = std::result::Result<T, E>;
