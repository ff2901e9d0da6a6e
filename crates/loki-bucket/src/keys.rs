//! Chunk keys: the external key Loki derives from a chunk reference per schema version, and
//! the filesystem store's re-encoding of it. This module is the only place that knows the
//! base64 quirk; everything else works with the logical key.
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use loki_config::SchemaVersion;
use std::fmt;

/// The identity of a chunk as Loki names it in object storage.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ChunkRef {
    /// Tenant (org) id.
    pub tenant: String,
    /// Stream fingerprint.
    pub fingerprint: u64,
    /// First entry, unix ms.
    pub from_ms: i64,
    /// Last entry, unix ms.
    pub through_ms: i64,
    /// CRC-32C of the chunk object.
    pub checksum: u32,
}

impl From<&ChunkRef> for loki_chunk::ChunkKey {
    fn from(c: &ChunkRef) -> Self {
        loki_chunk::ChunkKey {
            tenant: c.tenant.clone(),
            fingerprint: c.fingerprint,
            from_ms: c.from_ms,
            through_ms: c.through_ms,
            checksum: c.checksum,
        }
    }
}

impl From<loki_chunk::ChunkKey> for ChunkRef {
    fn from(k: loki_chunk::ChunkKey) -> Self {
        ChunkRef {
            tenant: k.tenant,
            fingerprint: k.fingerprint,
            from_ms: k.from_ms,
            through_ms: k.through_ms,
            checksum: k.checksum,
        }
    }
}

// Key syntax (unpadded hex, the schema's separator) lives in `loki_chunk::ChunkKey`.
impl ChunkRef {
    /// The logical (un-encoded) key for `schema`:
    /// v12+ `<tenant>/<fp>/<from>:<through>:<crc>`, older `<tenant>/<fp>:<from>:<through>:<crc>`.
    pub fn key(&self, schema: SchemaVersion) -> String {
        loki_chunk::ChunkKey::from(self).to_key(u32::from(schema.number()))
    }

    /// Parses a logical key of either form (exactly two `/` means the v12+ form).
    pub fn parse(key: &str) -> Result<ChunkRef, String> {
        loki_chunk::ChunkKey::parse(key)
            .map(ChunkRef::from)
            .map_err(|e| format!("unparseable chunk key: {e}"))
    }
}

impl fmt::Display for ChunkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key(SchemaVersion::V13))
    }
}

/// How logical keys map to stored object names on a given backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCodec {
    /// S3, GCS, Azure, memory: keys are stored as they are.
    Verbatim,
    /// Loki's filesystem store: the last segment of a v12+ chunk key, or the whole key of an
    /// older schema, is standard base64 (with padding).
    Filesystem,
}

impl KeyCodec {
    /// Stored object name of a chunk's logical key.
    pub fn encode_chunk_key(self, logical: &str, schema: SchemaVersion) -> String {
        match self {
            Self::Verbatim => logical.to_string(),
            Self::Filesystem if schema.fingerprint_directory() => match logical.rsplit_once('/') {
                Some((dir, last)) => format!("{dir}/{}", STANDARD.encode(last)),
                None => STANDARD.encode(logical),
            },
            Self::Filesystem => STANDARD.encode(logical),
        }
    }

    /// Logical chunk key of a stored object name (inverse of [`KeyCodec::encode_chunk_key`],
    /// for either schema form).
    pub fn decode_chunk_key(self, stored: &str) -> Result<String, String> {
        match self {
            Self::Verbatim => Ok(stored.to_string()),
            Self::Filesystem => {
                let (dir, last) = match stored.rsplit_once('/') {
                    Some((d, l)) => (Some(d), l),
                    None => (None, stored),
                };
                let raw = STANDARD
                    .decode(last)
                    .map_err(|e| format!("`{stored}`: last segment is not base64: {e}"))?;
                let s = String::from_utf8(raw)
                    .map_err(|_| format!("`{stored}`: decoded name is not UTF-8"))?;
                Ok(match dir {
                    Some(d) => format!("{d}/{s}"),
                    None => s,
                })
            }
        }
    }

    /// Stored name of a chunk.
    pub fn chunk_object(self, chunk: &ChunkRef, schema: SchemaVersion) -> String {
        self.encode_chunk_key(&chunk.key(schema), schema)
    }

    /// Parses a stored chunk object name back to its reference.
    pub fn parse_chunk_object(self, stored: &str) -> Result<ChunkRef, String> {
        ChunkRef::parse(&self.decode_chunk_key(stored)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector() -> ChunkRef {
        // chunk-format spec §11.1 example (vector v4_none.object).
        ChunkRef {
            tenant: "fake".into(),
            fingerprint: 0x10530763924b4da6,
            from_ms: 0x18bcfe56800,
            through_ms: 0x18bcfe569f5,
            checksum: 0x16dff7d1,
        }
    }

    #[test]
    fn spec_examples() {
        let c = vector();
        assert_eq!(
            c.key(SchemaVersion::V13),
            "fake/10530763924b4da6/18bcfe56800:18bcfe569f5:16dff7d1"
        );
        assert_eq!(
            c.key(SchemaVersion::V11),
            "fake/10530763924b4da6:18bcfe56800:18bcfe569f5:16dff7d1"
        );
        assert_eq!(
            KeyCodec::Filesystem.chunk_object(&c, SchemaVersion::V13),
            "fake/10530763924b4da6/MThiY2ZlNTY4MDA6MThiY2ZlNTY5ZjU6MTZkZmY3ZDE="
        );
        assert_eq!(
            KeyCodec::Verbatim.chunk_object(&c, SchemaVersion::V13),
            c.key(SchemaVersion::V13)
        );
        for s in [SchemaVersion::V11, SchemaVersion::V13] {
            for codec in [KeyCodec::Filesystem, KeyCodec::Verbatim] {
                assert_eq!(
                    codec
                        .parse_chunk_object(&codec.chunk_object(&c, s))
                        .unwrap(),
                    c
                );
            }
        }
    }

    #[test]
    fn unpadded_checksum_and_negative_times() {
        let c = ChunkRef {
            checksum: 0x01813c78,
            from_ms: -5,
            ..vector()
        };
        let k = c.key(SchemaVersion::V13);
        assert!(k.ends_with(":1813c78") && k.contains("/-5:"), "{k}");
        assert_eq!(ChunkRef::parse(&k).unwrap(), c);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "",
            "fake",
            "/x/y",
            "fake/zz/1:2:3",
            "fake/1/2:3",
            "fake/1/2:3:4:5",
            "fake/1/2:3:1ffffffff",
        ] {
            assert!(ChunkRef::parse(bad).is_err(), "{bad}");
        }
        assert!(KeyCodec::Filesystem
            .parse_chunk_object("fake/1/not*base64")
            .is_err());
    }
}
