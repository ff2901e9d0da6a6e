//! Index format versions and their mapping from Loki schema versions.

use crate::error::IndexError;

/// Magic number at offset 0 of every index file.
pub(crate) const MAGIC: u32 = 0xBAAA_D700;

/// The index format version (byte 4 of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FormatVersion {
    /// Schemas v9–v12: plain chunk lists.
    V2 = 2,
    /// Schema v13 (Loki's default): chunk lists with page markers.
    V3 = 3,
    /// Schema v14: V3 plus a day-precision IngestedAt per chunk.
    V4 = 4,
}

impl FormatVersion {
    /// The version Loki writes for a period with schema `vN`
    /// (`<= 12` → V2, `14` → V4, anything else → V3).
    pub fn for_schema(schema: u32) -> Self {
        match schema {
            0..=12 => FormatVersion::V2,
            14 => FormatVersion::V4,
            _ => FormatVersion::V3,
        }
    }

    /// The version byte.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for FormatVersion {
    type Error = IndexError;

    fn try_from(v: u8) -> Result<Self, IndexError> {
        match v {
            2 => Ok(FormatVersion::V2),
            3 => Ok(FormatVersion::V3),
            4 => Ok(FormatVersion::V4),
            other => Err(IndexError::UnsupportedVersion(other)),
        }
    }
}

impl std::fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_u8())
    }
}
