//! The object Loki stores per chunk: `be32 metaLen | snappy-framed JSON | be32 dataLen | MemChunk`.
use std::io::{Read, Write};

use bytes::Bytes;
use serde::Deserialize;

use crate::error::{Error, Result, Section};
use crate::key::ChunkKey;
use crate::labels::{Labels, METRIC_NAME_LABEL};
use crate::reader::{Chunk, Verify};

/// The `encoding` Loki writes in the metadata (`LogChunk`).
pub const LOG_CHUNK_ENCODING: u8 = 129;
/// Metadata beyond this is not a chunk header but garbage or an attack.
const MAX_METADATA_LEN: usize = 16 << 20;

/// The JSON metadata of a chunk object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Tenant (`userID`).
    pub tenant: String,
    /// Stream fingerprint.
    pub fingerprint: u64,
    /// First entry, ms.
    pub from_ms: i64,
    /// Last entry, ms (rounded up).
    pub through_ms: i64,
    /// Labels as stored (`metric`), normally including `__name__="logs"`.
    pub metric: Labels,
    /// 129 (`LogChunk`); 128 is a deprecated alias Loki still reads.
    pub encoding: u8,
    /// `ingestedAt` in ms: written by current Loki main (usually 0), absent before.
    pub ingested_at_ms: Option<i64>,
}

impl ObjectMeta {
    /// Metadata for a new chunk of a stream, as Loki's ingester fills it on flush:
    /// `metric` gets `__name__="logs"`, the fingerprint is computed from the labels, and
    /// the ns bounds become ms (from truncated, through rounded up).
    pub fn for_stream(tenant: &str, stream: &Labels, from_ns: i64, through_ns: i64) -> ObjectMeta {
        ObjectMeta {
            tenant: tenant.to_string(),
            fingerprint: stream.fingerprint(),
            from_ms: ns_to_ms_floor(from_ns),
            through_ms: ns_to_ms_ceil(through_ns),
            metric: stream.with(METRIC_NAME_LABEL, "logs"),
            encoding: LOG_CHUNK_ENCODING,
            ingested_at_ms: Some(0),
        }
    }

    /// The stream labels: `metric` without `__name__`.
    pub fn stream_labels(&self) -> Labels {
        self.metric.without(METRIC_NAME_LABEL)
    }

    /// The key of an object with this metadata and checksum.
    pub fn key(&self, checksum: u32) -> ChunkKey {
        ChunkKey {
            tenant: self.tenant.clone(),
            fingerprint: self.fingerprint,
            from_ms: self.from_ms,
            through_ms: self.through_ms,
            checksum,
        }
    }

    /// The exact JSON Loki writes (field order, time encoding, escaping, trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(256);
        o.extend_from_slice(b"{\"fingerprint\":");
        o.extend_from_slice(self.fingerprint.to_string().as_bytes());
        o.extend_from_slice(b",\"userID\":");
        json_string(&mut o, &self.tenant);
        o.extend_from_slice(b",\"from\":");
        json_time(&mut o, self.from_ms);
        o.extend_from_slice(b",\"through\":");
        json_time(&mut o, self.through_ms);
        o.extend_from_slice(b",\"metric\":{");
        for (i, (n, v)) in self.metric.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            json_string(&mut o, n);
            o.push(b':');
            json_string(&mut o, v);
        }
        o.push(b'}');
        if let Some(t) = self.ingested_at_ms {
            o.extend_from_slice(b",\"ingestedAt\":");
            json_time(&mut o, t);
        }
        o.extend_from_slice(b",\"encoding\":");
        o.extend_from_slice(self.encoding.to_string().as_bytes());
        o.extend_from_slice(b"}\n");
        o
    }

    fn from_json(json: &[u8]) -> Result<ObjectMeta> {
        #[derive(Deserialize)]
        struct Raw<'a> {
            fingerprint: u64,
            #[serde(rename = "userID")]
            user_id: String,
            #[serde(borrow)]
            from: &'a serde_json::value::RawValue,
            #[serde(borrow)]
            through: &'a serde_json::value::RawValue,
            #[serde(default)]
            metric: std::collections::BTreeMap<String, String>,
            #[serde(rename = "ingestedAt", borrow, default)]
            ingested_at: Option<&'a serde_json::value::RawValue>,
            #[serde(default)]
            encoding: u8,
        }
        let bad = |why: String| Error::malformed(Section::ObjectMeta, 4, why);
        // Loki copies label bytes raw, so metadata may hold invalid UTF-8: retry lossily.
        let lossy;
        let text: &[u8] = match std::str::from_utf8(json) {
            Ok(_) => json,
            Err(_) => {
                lossy = String::from_utf8_lossy(json).into_owned();
                lossy.as_bytes()
            }
        };
        let raw: Raw =
            serde_json::from_slice(text).map_err(|e| bad(format!("metadata JSON: {e}")))?;
        let time = |field: &str, v: &serde_json::value::RawValue| {
            parse_json_time(v.get())
                .ok_or_else(|| bad(format!("{field} is not a time: {}", v.get())))
        };
        Ok(ObjectMeta {
            tenant: raw.user_id,
            fingerprint: raw.fingerprint,
            from_ms: time("from", raw.from)?,
            through_ms: time("through", raw.through)?,
            metric: Labels::new(raw.metric),
            encoding: raw.encoding,
            ingested_at_ms: raw.ingested_at.map(|v| time("ingestedAt", v)).transpose()?,
        })
    }
}

/// A decoded chunk object: metadata plus the (unparsed) MemChunk.
#[derive(Debug, Clone)]
pub struct ChunkObject {
    /// The JSON metadata.
    pub meta: ObjectMeta,
    /// CRC-32C of the whole object (the key's checksum).
    pub checksum: u32,
    data: Bytes,
    data_offset: usize,
}

impl ChunkObject {
    /// Decodes the wrapper. Does not check the checksum against a key (see
    /// [`decode_with_key`](Self::decode_with_key)) and does not parse the MemChunk yet.
    pub fn decode(object: impl Into<Bytes>) -> Result<ChunkObject> {
        let object = object.into();
        let b = &object[..];
        let n = b.len();
        if n < 8 {
            return Err(Error::malformed(
                Section::ObjectMeta,
                0,
                format!("object is {n} bytes, too short for a chunk object"),
            ));
        }
        let meta_len = crate::format::be32(b, 0) as usize;
        // Loki's length includes its own 4 bytes; old Cortex writers left them out.
        let data_at = [meta_len, meta_len + 4].into_iter().find(|&m| {
            m >= 4
                && m.checked_add(4).is_some_and(|e| e <= n)
                && m + 4 + crate::format::be32(b, m) as usize == n
        });
        let Some(m) = data_at else {
            return Err(Error::malformed(
                Section::ObjectMeta,
                0,
                format!("metadata length {meta_len} does not lead to a data length that ends the {n}-byte object"),
            ));
        };
        let mut json = Vec::with_capacity((m - 4) * 2);
        snap::read::FrameDecoder::new(&b[4..m])
            .take(MAX_METADATA_LEN as u64)
            .read_to_end(&mut json)
            .map_err(|e| Error::Decompress {
                section: Section::ObjectMeta,
                offset: 4,
                encoding: "snappy",
                reason: e.to_string(),
            })?;
        let meta = ObjectMeta::from_json(&json)?;
        Ok(ChunkObject {
            meta,
            checksum: crc32c::crc32c(b),
            data_offset: m + 4,
            data: object,
        })
    }

    /// Decodes the wrapper and checks it against the key it was fetched under, as Loki does:
    /// the object checksum, then tenant, fingerprint, from and through.
    pub fn decode_with_key(object: impl Into<Bytes>, key: &ChunkKey) -> Result<ChunkObject> {
        let object = object.into();
        let computed = crc32c::crc32c(&object);
        if computed != key.checksum {
            return Err(Error::Checksum {
                section: Section::Object,
                offset: 0,
                stored: key.checksum,
                computed,
            });
        }
        let o = ChunkObject::decode(object)?;
        let m = &o.meta;
        let check = |field: &'static str, expected: String, found: String| {
            if expected == found {
                Ok(())
            } else {
                Err(Error::KeyMismatch {
                    field,
                    expected,
                    found,
                })
            }
        };
        check("tenant", key.tenant.clone(), m.tenant.clone())?;
        check(
            "fingerprint",
            format!("{:x}", key.fingerprint),
            format!("{:x}", m.fingerprint),
        )?;
        check("from", key.from_ms.to_string(), m.from_ms.to_string())?;
        check(
            "through",
            key.through_ms.to_string(),
            m.through_ms.to_string(),
        )?;
        Ok(o)
    }

    /// The MemChunk bytes.
    pub fn chunk_bytes(&self) -> Bytes {
        self.data.slice(self.data_offset..)
    }

    /// Offset of the MemChunk inside the object.
    pub fn chunk_offset(&self) -> usize {
        self.data_offset
    }

    /// The whole object.
    pub fn object_bytes(&self) -> &Bytes {
        &self.data
    }

    /// Parses the MemChunk, verifying its checksums.
    pub fn chunk(&self) -> Result<Chunk> {
        Chunk::parse(self.chunk_bytes())
    }

    /// Parses the MemChunk with a damage policy.
    pub fn chunk_with(&self, verify: Verify) -> Result<Chunk> {
        Chunk::parse_with(self.chunk_bytes(), verify)
    }

    /// The object key for a schema version.
    pub fn key(&self) -> ChunkKey {
        self.meta.key(self.checksum)
    }

    /// Wraps a MemChunk for object storage, byte-identically to Loki.
    pub fn encode(meta: &ObjectMeta, memchunk: &[u8]) -> Result<ChunkObject> {
        let json = meta.to_json();
        let mut out = Vec::with_capacity(json.len() + memchunk.len() + 32);
        out.extend_from_slice(&[0; 4]);
        {
            let mut enc = snap::write::FrameEncoder::new(&mut out);
            enc.write_all(&json)
                .and_then(|_| enc.flush())
                .map_err(|e| Error::Compress {
                    encoding: "snappy",
                    reason: e.to_string(),
                })?;
        }
        let meta_len = u32::try_from(out.len())
            .map_err(|_| Error::InvalidInput("metadata over 4 GiB".into()))?;
        out[..4].copy_from_slice(&meta_len.to_be_bytes());
        let data_len = u32::try_from(memchunk.len())
            .map_err(|_| Error::InvalidInput("chunk over 4 GiB".into()))?;
        out.extend_from_slice(&data_len.to_be_bytes());
        let data_offset = out.len();
        out.extend_from_slice(memchunk);
        Ok(ChunkObject {
            meta: meta.clone(),
            checksum: crc32c::crc32c(&out),
            data: Bytes::from(out),
            data_offset,
        })
    }
}

/// Go integer division: truncates toward zero.
pub fn ns_to_ms_floor(ns: i64) -> i64 {
    ns / 1_000_000
}

/// Loki's `through`: ms, plus one when there is a sub-millisecond remainder.
pub fn ns_to_ms_ceil(ns: i64) -> i64 {
    ns / 1_000_000 + i64::from(ns % 1_000_000 != 0)
}

/// Seconds with exactly three fractional digits when there is a remainder.
fn json_time(o: &mut Vec<u8>, ms: i64) {
    if ms < 0 {
        o.push(b'-');
    }
    let abs = ms.unsigned_abs();
    o.extend_from_slice((abs / 1000).to_string().as_bytes());
    if abs % 1000 != 0 {
        o.extend_from_slice(format!(".{:03}", abs % 1000).as_bytes());
    }
}

/// Parses a JSON time exactly (no float rounding); exponent forms fall back to a float.
fn parse_json_time(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t),
    };
    if digits.contains(['e', 'E']) {
        let v: f64 = t.parse().ok()?;
        let ms = v * 1000.0;
        return ms.is_finite().then_some(ms as i64);
    }
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    // Loki truncates sub-millisecond digits.
    let mut ms_part = 0i64;
    for (i, d) in frac.bytes().take(3).enumerate() {
        ms_part += i64::from(d - b'0') * [100, 10, 1][i];
    }
    let v = secs.checked_mul(1000)?.checked_add(ms_part)?;
    Some(if neg { -v } else { v })
}

/// jsoniter's escaping without HTML escaping.
fn json_string(o: &mut Vec<u8>, s: &str) {
    o.push(b'"');
    for &c in s.as_bytes() {
        match c {
            b'"' => o.extend_from_slice(b"\\\""),
            b'\\' => o.extend_from_slice(b"\\\\"),
            b'\n' => o.extend_from_slice(b"\\n"),
            b'\r' => o.extend_from_slice(b"\\r"),
            b'\t' => o.extend_from_slice(b"\\t"),
            c if c < 0x20 => o.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => o.push(c),
        }
    }
    o.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_encoding() {
        let enc = |ms| {
            let mut o = Vec::new();
            json_time(&mut o, ms);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(enc(1_700_000_000_000), "1700000000");
        assert_eq!(enc(1_700_000_000_501), "1700000000.501");
        assert_eq!(enc(1_010), "1.010");
        assert_eq!(enc(-1_500), "-1.500");
        for ms in [0, 1, -1, 999, 1_700_000_000_501, -1_500, i64::MAX / 2] {
            assert_eq!(parse_json_time(&enc(ms)), Some(ms));
        }
        assert_eq!(parse_json_time("1.0019"), Some(1001));
        assert_eq!(parse_json_time("1.7e3"), Some(1_700_000));
        assert_eq!(parse_json_time("\"x\""), None);
    }

    #[test]
    fn ms_rounding() {
        assert_eq!(ns_to_ms_floor(1_700_000_000_500_000_123), 1_700_000_000_500);
        assert_eq!(ns_to_ms_ceil(1_700_000_000_500_000_123), 1_700_000_000_501);
        assert_eq!(ns_to_ms_ceil(1_700_000_000_500_000_000), 1_700_000_000_500);
    }

    #[test]
    fn escaping() {
        let mut o = Vec::new();
        json_string(&mut o, "a\"b\\c\nd\u{1}</>&\u{2028}");
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001</>&\u{2028}\""
        );
    }
}
