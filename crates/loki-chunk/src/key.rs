//! Chunk object keys per schema version, and the filesystem store's base64 re-encoding.
use std::fmt::Write as _;

use base64::Engine as _;

use crate::error::{Error, Result, Section};

/// The identity of a chunk object in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkKey {
    /// Tenant (org id).
    pub tenant: String,
    /// Stream fingerprint, as the index records it.
    pub fingerprint: u64,
    /// First entry, ms (truncated).
    pub from_ms: i64,
    /// Last entry, ms (rounded up).
    pub through_ms: i64,
    /// CRC-32C of the whole object.
    pub checksum: u32,
}

/// Go's `%x` of a signed value: lowercase, unpadded, `-` before the magnitude.
fn hex_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    let _ = write!(out, "{:x}", v.unsigned_abs());
}

fn parse_hex_i64(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mag = u64::from_str_radix(digits, 16).ok()?;
    if neg {
        0i64.checked_sub_unsigned(mag)
    } else {
        i64::try_from(mag).ok()
    }
}

fn parse_hex_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

impl ChunkKey {
    /// `<from>:<through>:<checksum>` in hex: the last key segment from schema v12 on.
    pub fn range_segment(&self) -> String {
        let mut s = String::with_capacity(32);
        hex_i64(&mut s, self.from_ms);
        s.push(':');
        hex_i64(&mut s, self.through_ms);
        let _ = write!(s, ":{:x}", self.checksum);
        s
    }

    /// The object key for a schema version (9..=14): `<tenant>/<fp>/<range>` from v12,
    /// `<tenant>/<fp>:<range>` before.
    pub fn to_key(&self, schema: u32) -> String {
        let sep = if schema >= 12 { '/' } else { ':' };
        format!(
            "{}/{:x}{sep}{}",
            self.tenant,
            self.fingerprint,
            self.range_segment()
        )
    }

    /// The path a filesystem store uses: v12+ keeps `<tenant>/<fp>/` and base64-encodes the
    /// last segment; older schemas base64-encode the whole key.
    pub fn to_filesystem_path(&self, schema: u32) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        if schema >= 12 {
            format!(
                "{}/{:x}/{}",
                self.tenant,
                self.fingerprint,
                b64.encode(self.range_segment())
            )
        } else {
            b64.encode(self.to_key(schema))
        }
    }

    /// Parses an object key of any schema: exactly two `/` is the v12+ form.
    pub fn parse(key: &str) -> Result<ChunkKey> {
        let bad = |why: &str| Error::malformed(Section::Key, 0, format!("{key:?}: {why}"));
        let (tenant, rest) = key.split_once('/').ok_or_else(|| bad("no tenant"))?;
        let fields: Vec<&str> = if key.matches('/').count() == 2 {
            let (fp, range) = rest.split_once('/').ok_or_else(|| bad("no fingerprint"))?;
            std::iter::once(fp).chain(range.split(':')).collect()
        } else {
            rest.split(':').collect()
        };
        let [fp, from, through, crc] = fields[..] else {
            return Err(bad("expected <fp>, <from>, <through> and <checksum>"));
        };
        if tenant.is_empty() {
            return Err(bad("empty tenant"));
        }
        Ok(ChunkKey {
            tenant: tenant.to_string(),
            fingerprint: parse_hex_u64(fp).ok_or_else(|| bad("fingerprint is not hex"))?,
            from_ms: parse_hex_i64(from).ok_or_else(|| bad("from is not hex"))?,
            through_ms: parse_hex_i64(through).ok_or_else(|| bad("through is not hex"))?,
            checksum: parse_hex_u64(crc)
                .and_then(|c| u32::try_from(c).ok())
                .ok_or_else(|| bad("checksum is not a 32-bit hex value"))?,
        })
    }

    /// Parses a path relative to a filesystem store root (either encoding), or a plain key.
    pub fn parse_filesystem_path(path: &str) -> Result<ChunkKey> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let decode = |s: &str| b64.decode(s).ok().and_then(|b| String::from_utf8(b).ok());
        match path.rsplit_once('/') {
            Some((dir, last)) => {
                let last = decode(last)
                    .filter(|d| d.contains(':'))
                    .unwrap_or_else(|| last.to_string());
                ChunkKey::parse(&format!("{dir}/{last}"))
            }
            None => match decode(path) {
                Some(k) => ChunkKey::parse(&k),
                None => ChunkKey::parse(path),
            },
        }
    }

    /// Best effort for a file on disk: tries the last three, then the last path components
    /// as a filesystem-store path. `None` when the name is not a chunk key.
    pub fn from_file_path(path: &std::path::Path) -> Option<ChunkKey> {
        let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
        let n = parts.len();
        if n >= 3 {
            if let Ok(k) = ChunkKey::parse_filesystem_path(&parts[n - 3..].join("/")) {
                return Some(k);
            }
        }
        ChunkKey::parse_filesystem_path(parts.last()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ChunkKey {
        ChunkKey {
            tenant: "fake".into(),
            fingerprint: 0x1053_0763_924b_4da6,
            from_ms: 0x18b_cfe5_6800,
            through_ms: 0x18b_cfe5_69f5,
            checksum: 0x16df_f7d1,
        }
    }

    #[test]
    fn spec_examples() {
        let k = key();
        assert_eq!(
            k.to_key(13),
            "fake/10530763924b4da6/18bcfe56800:18bcfe569f5:16dff7d1"
        );
        assert_eq!(
            k.to_key(11),
            "fake/10530763924b4da6:18bcfe56800:18bcfe569f5:16dff7d1"
        );
        assert_eq!(
            k.to_filesystem_path(13),
            "fake/10530763924b4da6/MThiY2ZlNTY4MDA6MThiY2ZlNTY5ZjU6MTZkZmY3ZDE="
        );
        for schema in [9, 11, 12, 13, 14] {
            assert_eq!(ChunkKey::parse(&k.to_key(schema)).unwrap(), k);
            assert_eq!(
                ChunkKey::parse_filesystem_path(&k.to_filesystem_path(schema)).unwrap(),
                k
            );
        }
    }

    #[test]
    fn unpadded_and_negative_hex() {
        let mut k = key();
        k.checksum = 0x0181_3c78;
        k.fingerprint = 0xab;
        k.from_ms = -5000;
        assert_eq!(k.to_key(13), "fake/ab/-1388:18bcfe569f5:1813c78");
        assert_eq!(ChunkKey::parse(&k.to_key(13)).unwrap(), k);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "fake",
            "fake/xyz/1:2:3",
            "fake/1/2:3",
            "/1/2:3:4",
            "fake/1/2:3:100000000",
        ] {
            assert!(ChunkKey::parse(bad).is_err(), "{bad}");
        }
    }
}
