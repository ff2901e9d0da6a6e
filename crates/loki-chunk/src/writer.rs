//! Building MemChunks the way Loki's ingester does: an unordered head cut into blocks at the
//! block size, a chunk-full test against the target size, reordering on close.
use std::collections::HashMap;

use bytes::Bytes;

use crate::codec::Encoding;
use crate::error::{Error, Result};
use crate::format::{FormatVersion, CRC_LEN, MAGIC};
use crate::varint::{put_uvarint, put_varint, uvarint_len};

/// Loki's default `chunk_block_size`.
pub const DEFAULT_BLOCK_SIZE: usize = 262_144;
/// Loki's default `chunk_target_size`.
pub const DEFAULT_TARGET_SIZE: usize = 1_572_864;
/// Bytes the head counts per structured-metadata pair (Loki's estimate).
const METADATA_PAIR_SIZE: usize = 8;
/// With target size 0, Loki caps a chunk at this many blocks.
const MAX_BLOCKS_WITHOUT_TARGET: usize = 10;

/// Writer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// V3 (schemas v9-v12) or V4 (v13, v14).
    pub version: FormatVersion,
    /// Codec for every block and the symbols payload.
    pub encoding: Encoding,
    /// `chunk_block_size`: cut the head when its size estimate reaches this.
    pub block_size: usize,
    /// `chunk_target_size`: compressed size a chunk should not exceed (0: 10 blocks).
    pub target_size: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            version: FormatVersion::V4,
            encoding: Encoding::Gzip,
            block_size: DEFAULT_BLOCK_SIZE,
            target_size: DEFAULT_TARGET_SIZE,
        }
    }
}

/// Whether an append was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The entry is in the chunk.
    Stored,
    /// Same timestamp, line and metadata as an entry still in the head: dropped, as Loki does.
    Duplicate,
}

/// One entry of the head: where its encoded record lives in the head buffer.
#[derive(Debug, Clone, Copy)]
struct HeadEntry {
    ts: i64,
    /// The whole record: ts, length, line, (v4) metadata section.
    rec_start: u32,
    rec_len: u32,
    /// The line within the buffer.
    line_start: u32,
    line_len: u32,
}

/// The head keeps entries already encoded as they will appear in a block, so cutting an
/// in-order head (the normal case) compresses the buffer as is, without another copy.
#[derive(Debug, Default)]
struct Head {
    /// Sorted by timestamp; arrival order within one timestamp.
    entries: Vec<HeadEntry>,
    buf: Vec<u8>,
    /// Whether `buf` holds the records in `entries` order (no out-of-order append yet).
    in_order: bool,
    size: usize,
    mint: i64,
    maxt: i64,
}

impl Head {
    fn line(&self, e: &HeadEntry) -> &[u8] {
        &self.buf[e.line_start as usize..(e.line_start + e.line_len) as usize]
    }

    /// The metadata section of a record (empty for v3).
    fn metadata(&self, e: &HeadEntry) -> &[u8] {
        &self.buf[(e.line_start + e.line_len) as usize..(e.rec_start + e.rec_len) as usize]
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.buf.clear();
        self.in_order = true;
        self.size = 0;
    }
}

#[derive(Debug)]
struct CutBlock {
    /// Range in the writer's `block_data`.
    start: usize,
    len: usize,
    num_entries: usize,
    mint: i64,
    maxt: i64,
    uncompressed_size: usize,
}

#[derive(Debug, Default)]
struct SymbolTable {
    index: HashMap<Bytes, u32>,
    strings: Vec<Bytes>,
    /// Sum of the string lengths: what Loki counts in its chunk-full test.
    raw_bytes: usize,
}

impl SymbolTable {
    fn intern(&mut self, s: &[u8]) -> Result<u32> {
        if let Some(&i) = self.index.get(s) {
            return Ok(i);
        }
        let i = u32::try_from(self.strings.len())
            .map_err(|_| Error::InvalidInput("more than 2^32 metadata symbols".into()))?;
        let b = Bytes::copy_from_slice(s);
        self.index.insert(b.clone(), i);
        self.strings.push(b);
        self.raw_bytes += s.len();
        Ok(i)
    }
}

/// Builds one MemChunk.
///
/// ```
/// use loki_chunk::{ChunkWriter, WriterOptions, Chunk};
/// let mut w = ChunkWriter::new(WriterOptions::default());
/// w.append(1_700_000_000_000_000_000, b"hello", &[("trace_id", "abc")]).unwrap();
/// let bytes = w.finish().unwrap();
/// let chunk = Chunk::parse(bytes).unwrap();
/// assert_eq!(chunk.entries().count(), 1);
/// ```
#[derive(Debug)]
pub struct ChunkWriter {
    opts: WriterOptions,
    symbols: SymbolTable,
    blocks: Vec<CutBlock>,
    /// Compressed blocks back to back.
    block_data: Vec<u8>,
    head: Head,
    scratch: Vec<u8>,
    refs: Vec<u32>,
    sm_section: Vec<u8>,
}

impl ChunkWriter {
    /// A new, empty chunk.
    pub fn new(opts: WriterOptions) -> ChunkWriter {
        ChunkWriter {
            opts,
            symbols: SymbolTable::default(),
            blocks: Vec::new(),
            block_data: Vec::new(),
            head: Head {
                in_order: true,
                ..Head::default()
            },
            scratch: Vec::new(),
            refs: Vec::new(),
            sm_section: Vec::new(),
        }
    }

    /// The settings.
    pub fn options(&self) -> &WriterOptions {
        &self.opts
    }

    /// Whether nothing was appended yet (or everything was dropped).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.head.entries.is_empty()
    }

    /// Number of cut blocks so far.
    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Loki's chunk-full test (`SpaceFor`): whether the entry still fits under the target
    /// size, counting cut blocks compressed and the head and symbols uncompressed.
    pub fn has_space_for<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        line: &[u8],
        metadata: &[(N, V)],
    ) -> bool {
        if self.opts.target_size == 0 {
            return self.blocks.len() < MAX_BLOCKS_WITHOUT_TARGET;
        }
        let sm: usize = metadata
            .iter()
            .map(|(n, v)| n.as_ref().len() + v.as_ref().len())
            .sum();
        let projected =
            self.symbols.raw_bytes + self.block_data.len() + self.head.size + line.len() + sm;
        projected < self.opts.target_size
    }

    /// Appends an entry. Structured metadata is sorted by name (as Loki does) and ignored by
    /// V3 chunks. Returns whether the entry was kept or dropped as a duplicate of one in the head.
    pub fn append<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        ts: i64,
        line: &[u8],
        metadata: &[(N, V)],
    ) -> Result<Appended> {
        let line_len = u32::try_from(line.len())
            .ok()
            .filter(|&l| u64::from(l) < crate::format::MAX_LINE_LEN)
            .ok_or_else(|| {
                Error::InvalidInput(format!("line of {} bytes is too long", line.len()))
            })?;
        let with_sm = self.opts.version.has_structured_metadata();
        self.refs.clear();
        if with_sm && !metadata.is_empty() {
            let mut sorted: Vec<(&[u8], &[u8])> = metadata
                .iter()
                .map(|(n, v)| (n.as_ref(), v.as_ref()))
                .collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            for (n, v) in sorted {
                let n = self.symbols.intern(n)?;
                let v = self.symbols.intern(v)?;
                self.refs.extend_from_slice(&[n, v]);
            }
        }
        let pairs = self.refs.len() / 2;
        // The entry's metadata section as stored: size, pair count, references.
        self.sm_section.clear();
        if with_sm {
            let count = pairs as u64;
            let len = uvarint_len(count)
                + self
                    .refs
                    .iter()
                    .map(|&r| uvarint_len(u64::from(r)))
                    .sum::<usize>();
            put_uvarint(&mut self.sm_section, len as u64);
            put_uvarint(&mut self.sm_section, count);
            for &r in &self.refs {
                put_uvarint(&mut self.sm_section, u64::from(r));
            }
        }
        // Entries keep timestamp order; equal timestamps keep arrival order.
        let pos = match self.head.entries.last() {
            Some(last) if last.ts > ts => self.head.entries.partition_point(|e| e.ts <= ts),
            _ => self.head.entries.len(),
        };
        let head = &self.head;
        let dup = head.entries[..pos]
            .iter()
            .rev()
            .take_while(|e| e.ts == ts)
            .any(|e| head.line(e) == line && head.metadata(e) == &self.sm_section[..]);
        if dup {
            return Ok(Appended::Duplicate);
        }
        let too_big = || Error::InvalidInput("head block over 4 GiB".into());
        let rec_start = self.head.buf.len();
        put_varint(&mut self.head.buf, ts);
        put_uvarint(&mut self.head.buf, u64::from(line_len));
        let line_start = self.head.buf.len();
        self.head.buf.extend_from_slice(line);
        self.head.buf.extend_from_slice(&self.sm_section);
        let entry = HeadEntry {
            ts,
            rec_start: u32::try_from(rec_start).map_err(|_| too_big())?,
            rec_len: u32::try_from(self.head.buf.len() - rec_start).map_err(|_| too_big())?,
            line_start: u32::try_from(line_start).map_err(|_| too_big())?,
            line_len,
        };
        if self.head.entries.is_empty() {
            self.head.mint = ts;
            self.head.maxt = ts;
        } else {
            self.head.mint = self.head.mint.min(ts);
            self.head.maxt = self.head.maxt.max(ts);
        }
        if pos != self.head.entries.len() {
            self.head.in_order = false;
        }
        self.head.entries.insert(pos, entry);
        self.head.size += line.len() + METADATA_PAIR_SIZE * pairs;
        if self.head.size >= self.opts.block_size {
            self.cut()?;
        }
        Ok(Appended::Stored)
    }

    /// Serialises the head into a compressed block.
    fn cut(&mut self) -> Result<()> {
        // Loki skips heads whose size estimate is 0 (only empty lines) and so loses them;
        // we cut any head that holds entries.
        if self.head.entries.is_empty() {
            return Ok(());
        }
        let raw: &[u8] = if self.head.in_order {
            &self.head.buf
        } else {
            self.scratch.clear();
            for e in &self.head.entries {
                let r = e.rec_start as usize..(e.rec_start + e.rec_len) as usize;
                self.scratch.extend_from_slice(&self.head.buf[r]);
            }
            &self.scratch
        };
        if self.block_data.capacity() == 0 {
            // Most chunks fill to the target: one allocation instead of repeated growth.
            self.block_data.reserve(self.opts.target_size.min(16 << 20));
        }
        let start = self.block_data.len();
        self.opts
            .encoding
            .compress_into(raw, &mut self.block_data)
            .map_err(|e| Error::Compress {
                encoding: self.opts.encoding.name(),
                reason: e.0,
            })?;
        self.blocks.push(CutBlock {
            start,
            len: self.block_data.len() - start,
            num_entries: self.head.entries.len(),
            mint: self.head.mint,
            maxt: self.head.maxt,
            uncompressed_size: self.head.size,
        });
        self.head.clear();
        Ok(())
    }

    /// Cuts the head and, if blocks overlap in time, rebuilds the chunk in timestamp order
    /// (Loki's `Close`). Idempotent.
    pub fn close(&mut self) -> Result<()> {
        self.cut()?;
        let overlapping = self.blocks.windows(2).any(|w| w[1].mint < w[0].maxt);
        if overlapping {
            self.reorder()?;
        }
        Ok(())
    }

    fn reorder(&mut self) -> Result<()> {
        let old = std::mem::take(&mut self.blocks);
        let old_data = std::mem::take(&mut self.block_data);
        let old_symbols = std::mem::take(&mut self.symbols);
        let mut entries: Vec<crate::Entry> = Vec::new();
        for (i, b) in old.iter().enumerate() {
            let raw = self
                .opts
                .encoding
                .decompress(&old_data[b.start..b.start + b.len], b.uncompressed_size)
                .map_err(|e| {
                    Error::InvalidInput(format!("re-reading block {i} during reorder: {}", e.0))
                })?;
            let mut dec = crate::entry::BlockDecoder::new(
                Bytes::from(raw),
                self.opts.version.has_structured_metadata(),
                i,
                0,
                old_symbols.strings.clone().into(),
            );
            while let Some(e) = dec.next_filtered(&mut |_, _| true)? {
                entries.push(e);
            }
        }
        // Equal timestamps from different blocks come out ordered by line, as Loki's merge
        // iterator orders them (seen in Loki's own multi-block output).
        entries.sort_by(|a, b| {
            a.timestamp_ns
                .cmp(&b.timestamp_ns)
                .then_with(|| a.line.cmp(&b.line))
        });
        for e in entries {
            self.append(e.timestamp_ns, &e.line, &e.structured_metadata)?;
        }
        self.cut()
    }

    /// Closes the chunk and serialises it. The writer is consumed.
    pub fn finish(mut self) -> Result<Bytes> {
        self.close()?;
        self.to_bytes()
    }

    /// Smallest and largest timestamp of the cut blocks (ns), Loki's chunk bounds.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        let min = self.blocks.iter().map(|b| b.mint).min()?;
        let max = self.blocks.iter().map(|b| b.maxt).max()?;
        Some((min, max))
    }

    /// Serialises the cut blocks (not the head: call [`close`](Self::close) first, as Loki's
    /// ingester does before every flush).
    pub fn to_bytes(&self) -> Result<Bytes> {
        let v = self.opts.version;
        let total: usize = self.blocks.iter().map(|b| b.len + CRC_LEN + 24).sum();
        let mut out = Vec::with_capacity(total + 64 + self.symbols.raw_bytes);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.push(v.as_u8());
        if v != FormatVersion::V1 {
            out.push(self.opts.encoding.id());
        }
        let mut symbols_section = None;
        if v.has_structured_metadata() {
            let off = out.len();
            put_uvarint(&mut out, self.symbols.strings.len() as u64);
            let mut plain = Vec::with_capacity(self.symbols.raw_bytes + self.symbols.strings.len());
            for s in &self.symbols.strings {
                put_uvarint(&mut plain, s.len() as u64);
                plain.extend_from_slice(s);
            }
            self.opts
                .encoding
                .compress_into(&plain, &mut out)
                .map_err(|e| Error::Compress {
                    encoding: self.opts.encoding.name(),
                    reason: e.0,
                })?;
            let len = out.len() - off;
            let crc = crc32c::crc32c(&out[off..]);
            out.extend_from_slice(&crc.to_be_bytes());
            symbols_section = Some((off, len));
        }
        let mut metas = Vec::new();
        put_uvarint(&mut metas, self.blocks.len() as u64);
        for b in &self.blocks {
            let offset = out.len();
            let data = &self.block_data[b.start..b.start + b.len];
            out.extend_from_slice(data);
            out.extend_from_slice(&crc32c::crc32c(data).to_be_bytes());
            put_uvarint(&mut metas, b.num_entries as u64);
            put_varint(&mut metas, b.mint);
            put_varint(&mut metas, b.maxt);
            put_uvarint(&mut metas, offset as u64);
            if v.has_uncompressed_size() {
                put_uvarint(&mut metas, b.uncompressed_size as u64);
            }
            put_uvarint(&mut metas, b.len as u64);
        }
        let metas_off = out.len();
        out.extend_from_slice(&metas);
        out.extend_from_slice(&crc32c::crc32c(&metas).to_be_bytes());
        if let Some((off, len)) = symbols_section {
            out.extend_from_slice(&(len as u64).to_be_bytes());
            out.extend_from_slice(&(off as u64).to_be_bytes());
            out.extend_from_slice(&(metas.len() as u64).to_be_bytes());
        }
        out.extend_from_slice(&(metas_off as u64).to_be_bytes());
        Ok(Bytes::from(out))
    }
}
