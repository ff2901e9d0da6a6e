//! Appending the primitive encodings (spec section 1) to a byte buffer.

#[derive(Debug, Default, Clone)]
pub(crate) struct Encoder {
    pub(crate) buf: Vec<u8>,
}

impl Encoder {
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn be32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn be64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub(crate) fn varint(&mut self, v: i64) {
        self.uvarint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// A `ustr` (uvarint length, then the bytes) from bytes known to be UTF-8.
    pub(crate) fn ubytes(&mut self, s: &[u8]) {
        self.uvarint(s.len() as u64);
        self.buf.extend_from_slice(s);
    }

    /// Overwrites 4 bytes at `at` (used to patch lengths written ahead).
    pub(crate) fn patch_be32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
}
