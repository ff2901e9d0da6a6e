//! Errors: every variant names the part of the chunk (or object) and the byte offset involved.
use std::fmt;

/// The part of a chunk or chunk object an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Section {
    /// Magic, version and codec bytes at the start of a MemChunk.
    Header,
    /// The fixed-size trailer at the end of a MemChunk.
    Trailer,
    /// The v4 structured-metadata symbol table.
    Symbols,
    /// The blocks-metadata section.
    BlockMetas,
    /// Block number `n` (0-based, in metas order).
    Block(usize),
    /// The object wrapper's length words and metadata.
    ObjectMeta,
    /// The MemChunk inside an object wrapper.
    ObjectData,
    /// The whole object (its checksum).
    Object,
    /// An object key.
    Key,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Section::Header => f.write_str("header"),
            Section::Trailer => f.write_str("trailer"),
            Section::Symbols => f.write_str("symbols section"),
            Section::BlockMetas => f.write_str("blocks metadata"),
            Section::Block(n) => write!(f, "block {n}"),
            Section::ObjectMeta => f.write_str("object metadata"),
            Section::ObjectData => f.write_str("object data"),
            Section::Object => f.write_str("object"),
            Section::Key => f.write_str("object key"),
        }
    }
}

/// Everything that can go wrong reading or writing a chunk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The first four bytes are not the MemChunk magic `0x012EE56A`.
    #[error("invalid magic number {found:#010x} at offset 0")]
    BadMagic {
        /// What was found instead.
        found: u32,
    },
    /// A format version this crate does not know.
    #[error("unsupported chunk format version {0} at offset 4")]
    UnsupportedVersion(u8),
    /// A codec id that is not one of Loki's (2, "dumb", is refused too).
    #[error("unknown or unsupported encoding id {0} at offset 5")]
    UnknownEncoding(u8),
    /// A CRC-32C did not match.
    #[error("{section} checksum mismatch at offset {offset}: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// Which checksum failed.
        section: Section,
        /// Offset of the stored checksum (for sections) or 0 (whole object).
        offset: usize,
        /// The checksum stored in the data (or the key).
        stored: u32,
        /// The checksum of the bytes as read.
        computed: u32,
    },
    /// Structure that cannot be parsed: truncation, out-of-range lengths, bad varints.
    #[error("malformed {section} at offset {offset}: {reason}")]
    Malformed {
        /// Where.
        section: Section,
        /// Byte offset in the MemChunk (or object).
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// The codec could not decompress a block or the symbols payload.
    #[error("{section} at offset {offset}: {encoding} decompression failed: {reason}")]
    Decompress {
        /// Where.
        section: Section,
        /// Offset of the compressed stream.
        offset: usize,
        /// The codec's name.
        encoding: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// Compression failed (only I/O-style failures of the encoder libraries).
    #[error("{encoding} compression failed: {reason}")]
    Compress {
        /// The codec's name.
        encoding: &'static str,
        /// The encoder's message.
        reason: String,
    },
    /// The object metadata disagrees with the key it was fetched under.
    #[error("wrong chunk metadata: {field} is {found} in the object but {expected} in the key")]
    KeyMismatch {
        /// Which field differs.
        field: &'static str,
        /// Value in the key.
        expected: String,
        /// Value in the object.
        found: String,
    },
    /// A writer was used in a way the format cannot represent.
    #[error("invalid writer input: {0}")]
    InvalidInput(String),
}

impl Error {
    pub(crate) fn malformed(section: Section, offset: usize, reason: impl Into<String>) -> Self {
        Error::Malformed {
            section,
            offset,
            reason: reason.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
