//! Errors of the maintenance operations. Problems found *in the store* are not errors:
//! they are findings in the report; these are failures to do the work at all.
use thiserror::Error;

/// Why a maintenance operation could not run (or stopped).
#[derive(Debug, Error)]
pub enum MaintError {
    /// A bucket request failed (after retries).
    #[error(transparent)]
    Bucket(#[from] loki_bucket::BucketError),
    /// The store description is unusable.
    #[error("config: {0}")]
    Config(String),
    /// An index we must rewrite could not be built or read.
    #[error("index {key}: {source}")]
    Index {
        /// Object key of the index file.
        key: String,
        /// What went wrong.
        source: loki_tsdb::IndexError,
    },
    /// A local file (markers in the working directory, scratch files).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Marker handling of the compactor crate.
    #[error(transparent)]
    Compactor(#[from] loki_compactor::CompactorError),
    /// A chunk object could not be decoded or does not match its key.
    #[error("chunk object {key}: {source}")]
    Chunk {
        /// Object key.
        key: String,
        /// What went wrong (names the section and offset).
        source: loki_chunk::Error,
    },
    /// A background task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(String),
    /// A safety check refused to go on.
    #[error("refusing to continue: {0}")]
    Unsafe(String),
}

/// Result of this crate.
pub type Result<T, E = MaintError> = std::result::Result<T, E>;
