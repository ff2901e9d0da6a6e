//! The findings of `verify` and the summary counts, serialisable as the stable `--json`
//! report (one object) and printable for people.
use serde::Serialize;

/// What is wrong with one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// An index file that cannot be read, parsed, or whose checksums fail. Loki's readers
    /// fail every query touching its table.
    CorruptIndex {
        /// Object key.
        key: String,
        /// The error (section and offset).
        error: String,
    },
    /// A compactor-named index file whose name disagrees with its TOC (from, through,
    /// checksum), so caches keyed by name would be wrong.
    IndexNameMismatch {
        /// Object key.
        key: String,
        /// Which field.
        error: String,
    },
    /// A chunk ref whose object does not exist.
    MissingChunk {
        /// Chunk object key.
        key: String,
        /// The bucket holding it (as named in errors and metrics).
        store: String,
        /// First index file found referencing it.
        index: String,
    },
    /// A chunk ref whose object has zero bytes.
    EmptyChunk {
        /// Chunk object key.
        key: String,
        /// The bucket holding it (as named in errors and metrics).
        store: String,
        /// First index file found referencing it.
        index: String,
    },
    /// A chunk ref whose object fails its checksum, does not decode, or whose metadata
    /// (tenant, fingerprint, from, through, labels) disagrees with the index.
    CorruptChunk {
        /// Chunk object key.
        key: String,
        /// The bucket holding it (as named in errors and metrics).
        store: String,
        /// First index file found referencing it.
        index: String,
        /// Size of the object.
        size: u64,
        /// What is wrong.
        error: String,
    },
    /// A chunk object no index references and no marker lists.
    OrphanChunk {
        /// Chunk object key.
        key: String,
        /// The bucket holding it (as named in errors and metrics).
        store: String,
        /// Size.
        size: u64,
    },
    /// A marker that cannot be read.
    CorruptMarker {
        /// Marker location (object key or local path).
        marker: String,
        /// Why.
        error: String,
    },
    /// A marker listing chunks that an index still references: the sweeper would delete
    /// live data.
    MarkerForIndexedChunks {
        /// Marker location.
        marker: String,
        /// The indexed chunk ids (first 100).
        chunks: Vec<String>,
        /// How many there are.
        count: u64,
    },
    /// A marker older than `retention_delete_delay` plus the grace: the sweeper is not
    /// running (or keeps failing) for this store.
    OverdueMarker {
        /// Marker location.
        marker: String,
        /// Age in seconds.
        age_secs: i64,
    },
}

impl Finding {
    /// Short name of the kind (as in the JSON `kind` field).
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::CorruptIndex { .. } => "corrupt_index",
            Finding::IndexNameMismatch { .. } => "index_name_mismatch",
            Finding::MissingChunk { .. } => "missing_chunk",
            Finding::EmptyChunk { .. } => "empty_chunk",
            Finding::CorruptChunk { .. } => "corrupt_chunk",
            Finding::OrphanChunk { .. } => "orphan_chunk",
            Finding::CorruptMarker { .. } => "corrupt_marker",
            Finding::MarkerForIndexedChunks { .. } => "marker_for_indexed_chunks",
            Finding::OverdueMarker { .. } => "overdue_marker",
        }
    }

    /// The object (or marker) the finding is about.
    pub fn subject(&self) -> &str {
        match self {
            Finding::CorruptIndex { key, .. }
            | Finding::IndexNameMismatch { key, .. }
            | Finding::MissingChunk { key, .. }
            | Finding::EmptyChunk { key, .. }
            | Finding::CorruptChunk { key, .. }
            | Finding::OrphanChunk { key, .. } => key,
            Finding::CorruptMarker { marker, .. }
            | Finding::MarkerForIndexedChunks { marker, .. }
            | Finding::OverdueMarker { marker, .. } => marker,
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Finding::CorruptIndex { key, error } => format!("corrupt index {key}: {error}"),
            Finding::IndexNameMismatch { key, error } => {
                format!("index name disagrees with content {key}: {error}")
            }
            Finding::MissingChunk { key, index, .. } => {
                format!("missing chunk {key} (referenced by {index})")
            }
            Finding::EmptyChunk { key, index, .. } => {
                format!("zero-byte chunk {key} (referenced by {index})")
            }
            Finding::CorruptChunk {
                key, index, error, ..
            } => format!("corrupt chunk {key} (referenced by {index}): {error}"),
            Finding::OrphanChunk { key, size, .. } => {
                format!("orphan chunk {key} ({size} bytes, no index references it)")
            }
            Finding::CorruptMarker { marker, error } => {
                format!("unreadable marker {marker}: {error}")
            }
            Finding::MarkerForIndexedChunks { marker, count, .. } => format!(
                "stranded marker {marker}: {count} chunk(s) it lists are still indexed (the sweeper would delete live data)"
            ),
            Finding::OverdueMarker { marker, age_secs } => format!(
                "stranded marker {marker}: {age_secs}s old, past retention_delete_delay (is a sweeper running?)"
            ),
        }
    }
}

/// Counts and bytes of what was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Tables examined.
    pub tables: u64,
    /// Index files read.
    pub index_files: u64,
    /// Their bytes (as stored).
    pub index_bytes: u64,
    /// Series records read.
    pub series: u64,
    /// Chunk refs read (a chunk indexed by two files counts twice).
    pub chunk_refs: u64,
    /// Distinct chunks checked.
    pub chunks_checked: u64,
    /// Their bytes.
    pub chunk_bytes: u64,
    /// Chunk objects listed (orphan scan).
    pub chunks_listed: u64,
    /// Chunk objects that are only listed in markers (pending sweep; not orphans).
    pub chunks_marked: u64,
    /// Chunk objects newer than the orphan grace (maybe not indexed yet; not orphans).
    pub chunks_too_new: u64,
    /// Markers read.
    pub markers: u64,
    /// Findings by kind.
    pub findings: std::collections::BTreeMap<String, u64>,
    /// Bytes of objects with findings (missing chunks count 0).
    pub bad_bytes: u64,
}

/// Result of `verify`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Totals.
    pub summary: Summary,
    /// Everything found wrong, in discovery order.
    pub findings: Vec<Finding>,
    /// What was not checked and why (e.g. orphans with `--table`).
    pub skipped: Vec<String>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    pub(crate) fn push(&mut self, f: Finding) {
        tracing::warn!(kind = f.kind(), subject = f.subject(), "{}", f.describe());
        let bytes = match &f {
            Finding::EmptyChunk { .. } | Finding::MissingChunk { .. } => 0,
            Finding::CorruptChunk { size, .. } | Finding::OrphanChunk { size, .. } => *size,
            _ => 0,
        };
        self.summary.bad_bytes += bytes;
        *self
            .summary
            .findings
            .entry(f.kind().to_owned())
            .or_default() += 1;
        self.findings.push(f);
    }
}
