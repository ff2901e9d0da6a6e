//! The one error type of this crate.
//!
//! Every decoding failure names the section it happened in and the absolute
//! byte offset, because "bad checksum" alone is useless on a 100 MB file.

use std::fmt;

/// A part of an index file, used to say where a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Section {
    /// Magic and version byte.
    Header,
    /// The symbol table.
    Symbols,
    /// A series record.
    Series,
    /// A label index (one per label name).
    LabelIndex,
    /// A postings list.
    Postings,
    /// The label indices table.
    LabelIndicesTable,
    /// The postings offset table.
    PostingsTable,
    /// The fingerprint offsets table.
    FingerprintOffsets,
    /// The table of contents at the end of the file.
    Toc,
    /// The gzip wrapper of an uploaded object.
    Gzip,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Section::Header => "header",
            Section::Symbols => "symbol table",
            Section::Series => "series record",
            Section::LabelIndex => "label index",
            Section::Postings => "postings list",
            Section::LabelIndicesTable => "label indices table",
            Section::PostingsTable => "postings offset table",
            Section::FingerprintOffsets => "fingerprint offsets table",
            Section::Toc => "TOC",
            Section::Gzip => "gzip stream",
        };
        f.write_str(s)
    }
}

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptKind {
    /// The data ends before `what` could be read.
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// A CRC-32C did not match.
    BadChecksum {
        /// Checksum stored in the file.
        stored: u32,
        /// Checksum computed over the covered bytes.
        computed: u32,
    },
    /// A field holds a value that the format does not allow.
    Invalid {
        /// The field.
        what: &'static str,
        /// Why it is invalid.
        detail: String,
    },
}

impl fmt::Display for CorruptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptKind::Truncated { what } => write!(f, "truncated while reading {what}"),
            CorruptKind::BadChecksum { stored, computed } => {
                write!(
                    f,
                    "bad checksum: stored {stored:08x}, computed {computed:08x}"
                )
            }
            CorruptKind::Invalid { what, detail } => write!(f, "invalid {what}: {detail}"),
        }
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The bytes are not a valid index file.
    #[error("{section} at offset {offset:#x}: {kind}")]
    Corrupt {
        /// Section being decoded.
        section: Section,
        /// Absolute byte offset in the (decompressed) file.
        offset: u64,
        /// What is wrong.
        kind: CorruptKind,
    },
    /// The magic number is right but the version is not 2, 3 or 4.
    #[error("unsupported index format version {0} (supported: 2, 3, 4)")]
    UnsupportedVersion(u8),
    /// The writer was given input that violates the format's ordering rules.
    #[error("invalid writer input: {0}")]
    InvalidInput(String),
    /// A file name or object key does not follow Loki's naming rules.
    #[error("invalid index file name {name:?}: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A label matcher selector could not be parsed.
    #[error("invalid selector at byte {pos}: {reason}")]
    BadSelector {
        /// Byte position in the selector text.
        pos: usize,
        /// Why it was rejected.
        reason: String,
    },
    /// A regular expression in a matcher does not compile.
    #[error("invalid regex {pattern:?}: {source}")]
    BadRegex {
        /// The pattern as written in the matcher.
        pattern: String,
        /// The compiler's complaint.
        #[source]
        source: Box<regex::Error>,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File involved (may be empty for streams).
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl IndexError {
    pub(crate) fn corrupt(section: Section, offset: usize, kind: CorruptKind) -> Self {
        IndexError::Corrupt {
            section,
            offset: offset as u64,
            kind,
        }
    }

    pub(crate) fn invalid(
        section: Section,
        offset: usize,
        what: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self::corrupt(
            section,
            offset,
            CorruptKind::Invalid {
                what,
                detail: detail.into(),
            },
        )
    }

    pub(crate) fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        IndexError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
