//! Log entries and their decoding from a decompressed block stream.
use bytes::Bytes;

use crate::error::{Error, Result, Section};
use crate::format::MAX_LINE_LEN;
use crate::varint::{read_uvarint, read_varint};

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// The line, raw bytes (Loki does not guarantee UTF-8).
    pub line: Bytes,
    /// Structured metadata as stored (names not normalised), in stored order.
    pub structured_metadata: Vec<(Bytes, Bytes)>,
}

/// Decodes the entries of one decompressed block, in stored order.
pub(crate) struct BlockDecoder {
    buf: Bytes,
    pos: usize,
    with_metadata: bool,
    block: usize,
    /// Offset of the block in the chunk, for error messages.
    block_offset: usize,
    symbols: std::sync::Arc<[Bytes]>,
    failed: bool,
}

impl BlockDecoder {
    pub(crate) fn new(
        buf: Bytes,
        with_metadata: bool,
        block: usize,
        block_offset: usize,
        symbols: std::sync::Arc<[Bytes]>,
    ) -> Self {
        BlockDecoder {
            buf,
            pos: 0,
            with_metadata,
            block,
            block_offset,
            symbols,
            failed: false,
        }
    }

    fn err(&self, at: usize, reason: String) -> Error {
        Error::malformed(
            Section::Block(self.block),
            self.block_offset,
            format!("entry at decompressed offset {at}: {reason}"),
        )
    }

    /// Decodes the next entry; `skip_line` lets callers reject a line before metadata is
    /// resolved (line-filter pushdown). Returns `Ok(None)` at the end of the stream.
    pub(crate) fn next_filtered(
        &mut self,
        keep: &mut dyn FnMut(i64, &[u8]) -> bool,
    ) -> Result<Option<Entry>> {
        loop {
            if self.failed || self.pos >= self.buf.len() {
                return Ok(None);
            }
            match self.decode_one(keep) {
                Ok(Some(e)) => return Ok(Some(e)),
                Ok(None) => continue,
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
    }

    fn decode_one(&mut self, keep: &mut dyn FnMut(i64, &[u8]) -> bool) -> Result<Option<Entry>> {
        let b = &self.buf[..];
        let start = self.pos;
        let mut pos = self.pos;
        let ts = read_varint(b, &mut pos).map_err(|e| self.err(start, e.reason().into()))?;
        let len = read_uvarint(b, &mut pos).map_err(|e| self.err(start, e.reason().into()))?;
        if len >= MAX_LINE_LEN {
            return Err(self.err(start, format!("line too long ({len} bytes)")));
        }
        let line_start = pos;
        let line_end = line_start as u64 + len;
        if line_end > b.len() as u64 {
            return Err(self.err(start, format!("line of {len} bytes runs past the block")));
        }
        pos = line_end as usize;
        let mut sm_range = (0, 0);
        if self.with_metadata {
            let sec = read_uvarint(b, &mut pos).map_err(|e| self.err(start, e.reason().into()))?;
            let sec_end = pos as u64 + sec;
            if sec_end > b.len() as u64 {
                return Err(self.err(
                    start,
                    format!("metadata of {sec} bytes runs past the block"),
                ));
            }
            sm_range = (pos, sec_end as usize);
            pos = sec_end as usize;
        }
        self.pos = pos;
        if !keep(ts, &b[line_start..line_end as usize]) {
            return Ok(None);
        }
        let structured_metadata = if sm_range.1 > sm_range.0 {
            self.decode_metadata(start, sm_range.0, sm_range.1)?
        } else {
            Vec::new()
        };
        Ok(Some(Entry {
            timestamp_ns: ts,
            line: self.buf.slice(line_start..line_end as usize),
            structured_metadata,
        }))
    }

    fn decode_metadata(&self, at: usize, from: usize, to: usize) -> Result<Vec<(Bytes, Bytes)>> {
        let sec = &self.buf[from..to];
        let mut p = 0;
        let count = read_uvarint(sec, &mut p).map_err(|e| self.err(at, e.reason().into()))?;
        // Each pair takes at least two bytes: a larger count is corrupt, not an allocation.
        if count > (sec.len() / 2) as u64 {
            return Err(self.err(
                at,
                format!("{count} metadata pairs cannot fit in {} bytes", sec.len()),
            ));
        }
        let mut pairs = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let n = read_uvarint(sec, &mut p).map_err(|e| self.err(at, e.reason().into()))?;
            let v = read_uvarint(sec, &mut p).map_err(|e| self.err(at, e.reason().into()))?;
            pairs.push((self.symbol(n), self.symbol(v)));
        }
        Ok(pairs)
    }

    /// Loki resolves an index outside the table to the empty string rather than failing;
    /// chunks rewritten by Loki >= 3.6 can hold such references, so we must read them too.
    fn symbol(&self, i: u64) -> Bytes {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.symbols.get(i))
            .cloned()
            .unwrap_or_default()
    }
}
