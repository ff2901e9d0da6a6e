//! Bounds-checked reading of the primitive encodings (spec section 1).
//!
//! A `Decoder` walks a slice of the file; it knows the absolute offset of
//! the slice and the section it belongs to, so every error carries both.

use crate::error::{CorruptKind, IndexError, Result, Section};

#[derive(Debug, Clone)]
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute file offset of `buf[0]`.
    base: usize,
    section: Section,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize, section: Section) -> Self {
        Decoder {
            buf,
            pos: 0,
            base,
            section,
        }
    }

    /// Absolute file offset of the next byte.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn truncated(&self, what: &'static str) -> IndexError {
        IndexError::corrupt(self.section, self.offset(), CorruptKind::Truncated { what })
    }

    pub(crate) fn invalid(&self, what: &'static str, detail: impl Into<String>) -> IndexError {
        IndexError::invalid(self.section, self.offset(), what, detail)
    }

    #[inline(always)]
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.truncated(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn skip(&mut self, n: usize, what: &'static str) -> Result<()> {
        self.take(n, what).map(|_| ())
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn be32(&mut self, what: &'static str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn be64(&mut self, what: &'static str) -> Result<u64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Go `binary.Uvarint`: at most 10 bytes, the 10th may only hold one bit.
    #[inline(always)]
    pub(crate) fn uvarint(&mut self, what: &'static str) -> Result<u64> {
        // Most varints in an index (symbol indices, lengths) are one or two
        // bytes: settle those before the general loop.
        if let Some(&[b0, b1]) = self.buf.get(self.pos..self.pos + 2) {
            if b0 < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b0));
            }
            if b1 < 0x80 {
                self.pos += 2;
                return Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7));
            }
        }
        // With 10 bytes available no per-byte bounds check is needed.
        if let Some(w) = self.buf.get(self.pos..self.pos + 10) {
            let mut x: u64 = 0;
            for (i, &b) in w.iter().enumerate() {
                if b < 0x80 {
                    if i == 9 && b > 1 {
                        return Err(self.invalid(what, "uvarint overflows 64 bits"));
                    }
                    self.pos += i + 1;
                    return Ok(x | (u64::from(b) << (7 * i)));
                }
                x |= u64::from(b & 0x7f) << (7 * i);
            }
            return Err(self.invalid(what, "uvarint longer than 10 bytes"));
        }
        self.uvarint_tail(what)
    }

    /// Near the end of the buffer: check every byte.
    #[inline(never)]
    fn uvarint_tail(&mut self, what: &'static str) -> Result<u64> {
        let mut x: u64 = 0;
        let mut shift = 0u32;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos + i) else {
                return Err(self.truncated(what));
            };
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(self.invalid(what, "uvarint overflows 64 bits"));
                }
                self.pos += i + 1;
                return Ok(x | (u64::from(b) << shift));
            }
            x |= u64::from(b & 0x7f) << shift;
            shift += 7;
        }
        Err(self.invalid(what, "uvarint longer than 10 bytes"))
    }

    pub(crate) fn uvarint_u32(&mut self, what: &'static str) -> Result<u32> {
        let at = self.offset();
        let v = self.uvarint(what)?;
        u32::try_from(v)
            .map_err(|_| IndexError::invalid(self.section, at, what, format!("{v} exceeds u32")))
    }

    pub(crate) fn varint(&mut self, what: &'static str) -> Result<i64> {
        let z = self.uvarint(what)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// `ustr` without the UTF-8 check (callers validate in bulk or later).
    #[inline(always)]
    pub(crate) fn ustr_bytes(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let len = self.uvarint(what)?;
        let len = usize::try_from(len).map_err(|_| self.truncated(what))?;
        self.take(len, what)
    }

    /// `ustr`: uvarint length then UTF-8 bytes.
    pub(crate) fn ustr(&mut self, what: &'static str) -> Result<&'a str> {
        let len = self.uvarint(what)?;
        let len = usize::try_from(len).map_err(|_| self.truncated(what))?;
        let at = self.offset();
        let b = self.take(len, what)?;
        std::str::from_utf8(b)
            .map_err(|e| IndexError::invalid(self.section, at, what, format!("not UTF-8: {e}")))
    }
}

/// Reads a framed section (`BE32 len | content | BE32 crc`) at `off` in
/// `file`, verifies its CRC-32C and returns a decoder over `content`.
pub(crate) fn framed(file: &[u8], off: usize, section: Section) -> Result<Decoder<'_>> {
    let mut d = Decoder::new(file, 0, section);
    if off > file.len() {
        return Err(IndexError::corrupt(
            section,
            off,
            CorruptKind::Truncated {
                what: "section start",
            },
        ));
    }
    d.pos = off;
    let len = d.be32("section length")? as usize;
    let start = d.pos;
    let content = d.take(len, "section content")?;
    let stored = d.be32("section checksum")?;
    let computed = crc32c::crc32c(content);
    if stored != computed {
        return Err(IndexError::corrupt(
            section,
            off,
            CorruptKind::BadChecksum { stored, computed },
        ));
    }
    Ok(Decoder::new(content, start, section))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_matches_go_encoding() {
        // 300 = 0xac 0x02 in Go's PutUvarint.
        let mut d = Decoder::new(&[0xac, 0x02], 0, Section::Series);
        assert_eq!(d.uvarint("x").unwrap(), 300);
        // -600000 as zig-zag varint (from the spec's hex walk).
        let mut d = Decoder::new(&[0xff, 0x9e, 0x49], 0, Section::Series);
        assert_eq!(d.varint("x").unwrap(), -600_000);
    }

    #[test]
    fn overlong_uvarint_is_an_error() {
        let mut d = Decoder::new(&[0xff; 11], 0, Section::Series);
        assert!(d.uvarint("x").is_err());
        let mut d = Decoder::new(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            0,
            Section::Series,
        );
        assert!(d.uvarint("x").is_err());
        let mut d = Decoder::new(&[0x80], 7, Section::Series);
        let e = d.uvarint("x").unwrap_err().to_string();
        assert!(e.contains("series record at offset 0x7"), "{e}");
    }
}
