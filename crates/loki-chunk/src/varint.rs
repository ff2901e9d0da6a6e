//! LEB128 varints as Go's `encoding/binary` writes them (unsigned, and zigzag for signed).

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The input ended inside the varint.
    Truncated,
    /// More than 10 bytes, or a value that does not fit 64 bits.
    Overflow,
}

impl VarintError {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            VarintError::Truncated => "truncated varint",
            VarintError::Overflow => "varint overflows 64 bits",
        }
    }
}

/// Reads an unsigned varint at `*pos`, advancing `*pos` past it.
#[inline]
pub(crate) fn read_uvarint(buf: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    // Fast path: one byte, by far the most common for lengths and counts.
    if let Some(&b) = buf.get(*pos) {
        if b < 0x80 {
            *pos += 1;
            return Ok(u64::from(b));
        }
    }
    let mut value: u64 = 0;
    let mut shift = 0u32;
    let mut i = *pos;
    loop {
        let Some(&b) = buf.get(i) else {
            return Err(VarintError::Truncated);
        };
        i += 1;
        if shift == 63 && b > 1 {
            return Err(VarintError::Overflow);
        }
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            *pos = i;
            return Ok(value);
        }
        shift += 7;
        if shift > 63 {
            return Err(VarintError::Overflow);
        }
    }
}

/// Reads a zigzag-encoded signed varint.
#[inline]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i64, VarintError> {
    let u = read_uvarint(buf, pos)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

#[inline]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Encoded length of an unsigned varint.
#[inline]
pub(crate) fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let mut out = Vec::new();
        put_varint(&mut out, 1_700_000_000_000_000_000);
        assert_eq!(out, [0x80, 0x80, 0xd0, 0xe2, 0xc6, 0xbf, 0xce, 0x97, 0x2f]);
        let mut pos = 0;
        assert_eq!(read_varint(&out, &mut pos), Ok(1_700_000_000_000_000_000));
        assert_eq!(pos, out.len());
    }

    #[test]
    fn rejects_overlong_and_truncated() {
        let mut pos = 0;
        assert_eq!(
            read_uvarint(&[0x80, 0x80], &mut pos),
            Err(VarintError::Truncated)
        );
        let eleven = [0xffu8; 11];
        assert_eq!(read_uvarint(&eleven, &mut pos), Err(VarintError::Overflow));
        let mut ten = [0xffu8; 10];
        ten[9] = 0x02;
        assert_eq!(read_uvarint(&ten, &mut pos), Err(VarintError::Overflow));
        ten[9] = 0x01;
        assert_eq!(read_uvarint(&ten, &mut pos), Ok(u64::MAX));
    }

    proptest! {
        #[test]
        fn roundtrip(u: u64, s: i64) {
            let mut out = Vec::new();
            put_uvarint(&mut out, u);
            prop_assert_eq!(out.len(), uvarint_len(u));
            put_varint(&mut out, s);
            let mut pos = 0;
            prop_assert_eq!(read_uvarint(&out, &mut pos), Ok(u));
            prop_assert_eq!(read_varint(&out, &mut pos), Ok(s));
            prop_assert_eq!(pos, out.len());
        }
    }
}
