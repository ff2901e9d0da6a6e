//! Constants of the MemChunk layout shared by the reader and the writer.

/// First four bytes of every MemChunk.
pub(crate) const MAGIC: u32 = 0x012E_E56A;
/// Bytes of the v4 trailer: symbols (len, offset) and metas (len, offset), all be64.
pub(crate) const TRAILER_V4: usize = 32;
/// Bytes of the v1-v3 trailer: metas offset, be64.
pub(crate) const TRAILER_V1: usize = 8;
/// Each section and block is followed by a be32 CRC-32C.
pub(crate) const CRC_LEN: usize = 4;
/// Loki's reader refuses lines of this length or more.
pub(crate) const MAX_LINE_LEN: u64 = 1 << 30;

/// A MemChunk format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FormatVersion {
    /// Implicit gzip, no codec byte.
    V1,
    /// Codec byte.
    V2,
    /// Block metas carry `uncompressedSize`; written by schemas v9-v12.
    V3,
    /// Structured metadata; written by schemas v13 and v14.
    V4,
}

impl FormatVersion {
    /// The version byte.
    pub fn as_u8(self) -> u8 {
        match self {
            FormatVersion::V1 => 1,
            FormatVersion::V2 => 2,
            FormatVersion::V3 => 3,
            FormatVersion::V4 => 4,
        }
    }

    /// The version for a version byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(FormatVersion::V1),
            2 => Some(FormatVersion::V2),
            3 => Some(FormatVersion::V3),
            4 => Some(FormatVersion::V4),
            _ => None,
        }
    }

    /// The version Loki writes for a schema version (`v9`..`v14` given as 9..14).
    pub fn for_schema(schema: u32) -> Self {
        if schema >= 13 {
            FormatVersion::V4
        } else {
            FormatVersion::V3
        }
    }

    pub(crate) fn header_len(self) -> usize {
        if self == FormatVersion::V1 {
            5
        } else {
            6
        }
    }

    pub(crate) fn has_uncompressed_size(self) -> bool {
        self >= FormatVersion::V3
    }

    pub(crate) fn has_structured_metadata(self) -> bool {
        self >= FormatVersion::V4
    }
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}
