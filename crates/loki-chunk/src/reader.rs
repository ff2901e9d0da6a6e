//! Parsing a MemChunk: header, trailer, checksums, block metas and the v4 symbol table.
//!
//! Parsing touches only the metadata; blocks are decompressed lazily when iterated.
use bytes::Bytes;

use crate::codec::Encoding;
use crate::error::{Error, Result, Section};
use crate::format::{be32, be64, FormatVersion, CRC_LEN, MAGIC, TRAILER_V1, TRAILER_V4};
use crate::varint::{read_uvarint, read_varint};

/// How strictly to treat damaged blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// Any checksum failure or out-of-range block is an error (the default).
    #[default]
    Strict,
    /// Behave like Loki's reader: a block whose offset is out of range or whose checksum fails
    /// is looked for right after the previous block; if its checksum still fails it is kept
    /// but marked (`crc_ok == false`) and skipped by iteration. Metas and symbols checksums
    /// stay fatal, as in Loki.
    Lenient,
}

/// Metadata of one block, as stored in the blocks-metadata section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMeta {
    /// Entries in the block (informational; not checked against the stream, as in Loki).
    pub num_entries: u64,
    /// Smallest timestamp (ns) as the writer recorded it (see the empty-line quirk).
    pub min_time_ns: i64,
    /// Largest timestamp (ns).
    pub max_time_ns: i64,
    /// Absolute offset of the compressed block in the MemChunk (after any relocation).
    pub offset: usize,
    /// Writer's size estimate (lines + 8 per metadata pair); 0 for v1/v2.
    pub uncompressed_size: u64,
    /// Compressed length, excluding the CRC that follows.
    pub len: usize,
    /// Whether the block's CRC-32C matched.
    pub crc_ok: bool,
}

/// A parsed MemChunk.
///
/// Cheap to clone: the bytes and symbol table are shared.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub(crate) data: Bytes,
    pub(crate) version: FormatVersion,
    pub(crate) encoding: Encoding,
    pub(crate) blocks: Vec<BlockMeta>,
    pub(crate) symbols: std::sync::Arc<[Bytes]>,
    pub(crate) symbols_section: Option<(usize, usize)>,
}

impl Chunk {
    /// Parses a MemChunk, verifying every checksum.
    pub fn parse(data: impl Into<Bytes>) -> Result<Chunk> {
        Chunk::parse_with(data.into(), Verify::Strict)
    }

    /// Parses a MemChunk with the given damage policy.
    pub fn parse_with(data: impl Into<Bytes>, verify: Verify) -> Result<Chunk> {
        let data = data.into();
        let b = &data[..];
        if b.len() < 5 {
            return Err(Error::malformed(
                Section::Header,
                0,
                format!("chunk is {} bytes, shorter than a header", b.len()),
            ));
        }
        let magic = be32(b, 0);
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let version = FormatVersion::from_u8(b[4]).ok_or(Error::UnsupportedVersion(b[4]))?;
        let encoding = if version == FormatVersion::V1 {
            Encoding::Gzip
        } else {
            let id = *b.get(5).ok_or_else(|| {
                Error::malformed(Section::Header, 5, "chunk ends before the codec byte")
            })?;
            Encoding::from_id(id).ok_or(Error::UnknownEncoding(id))?
        };
        let header_len = version.header_len();

        let (metas_off, metas_len, symbols_section) = read_trailer(b, version, header_len)?;

        let metas = &b[metas_off..metas_off + metas_len];
        check_crc(b, metas_off, metas_len, Section::BlockMetas)?;
        let first_block = match symbols_section {
            Some((off, len)) => off + len + CRC_LEN,
            None => header_len,
        };
        let blocks = parse_metas(metas, metas_off, version, b, first_block, verify)?;

        let symbols = match symbols_section {
            Some((off, len)) => {
                check_crc(b, off, len, Section::Symbols)?;
                parse_symbols(&data, off, len, encoding)?
            }
            None => Vec::new(),
        };

        Ok(Chunk {
            data,
            version,
            encoding,
            blocks,
            symbols: symbols.into(),
            symbols_section,
        })
    }

    /// The format version.
    pub fn version(&self) -> FormatVersion {
        self.version
    }

    /// The codec of every block.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Block metadata in stored order.
    pub fn blocks(&self) -> &[BlockMeta] {
        &self.blocks
    }

    /// The v4 structured-metadata symbol table (empty for v1-v3).
    pub fn symbols(&self) -> &[Bytes] {
        &self.symbols
    }

    /// Offset and length (without CRC) of the v4 symbols section.
    pub fn symbols_section(&self) -> Option<(usize, usize)> {
        self.symbols_section
    }

    /// The raw MemChunk bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }

    /// Smallest block `min_time_ns` (Loki's chunk `from`), or `None` without blocks.
    pub fn min_time_ns(&self) -> Option<i64> {
        self.blocks.iter().map(|b| b.min_time_ns).min()
    }

    /// Largest block `max_time_ns` (Loki's chunk `through`).
    pub fn max_time_ns(&self) -> Option<i64> {
        self.blocks.iter().map(|b| b.max_time_ns).max()
    }

    /// Sum of the blocks' entry counts as recorded in the metas.
    pub fn num_entries(&self) -> u64 {
        self.blocks.iter().map(|b| b.num_entries).sum()
    }

    /// Sum of the blocks' `uncompressed_size` estimates (Loki's `UncompressedSize`).
    pub fn uncompressed_size(&self) -> u64 {
        self.blocks.iter().map(|b| b.uncompressed_size).sum()
    }

    /// Whether every block checksum matched (always true after a strict parse).
    pub fn checksums_ok(&self) -> bool {
        self.blocks.iter().all(|b| b.crc_ok)
    }

    /// Decompresses block `i` into its raw entry stream.
    pub fn block_bytes(&self, i: usize) -> Result<Bytes> {
        let meta = self
            .blocks
            .get(i)
            .ok_or_else(|| Error::malformed(Section::Block(i), 0, "no such block in this chunk"))?;
        let raw = self.data.slice(meta.offset..meta.offset + meta.len);
        if self.encoding == Encoding::None {
            return Ok(raw);
        }
        // The estimate undercounts varints; a little headroom avoids one regrowth.
        let hint = meta.uncompressed_size as usize + meta.uncompressed_size as usize / 8 + 64;
        crate::fast_decode::decompress(self.encoding, &raw, hint)
            .map(Bytes::from)
            .map_err(|e| Error::Decompress {
                section: Section::Block(i),
                offset: meta.offset,
                encoding: self.encoding.name(),
                reason: e.0,
            })
    }
}

/// Metas offset and length, and the v4 symbols section (offset, length).
type Sections = (usize, usize, Option<(usize, usize)>);

fn read_trailer(b: &[u8], version: FormatVersion, header_len: usize) -> Result<Sections> {
    let n = b.len();
    let trailer = if version == FormatVersion::V4 {
        TRAILER_V4
    } else {
        TRAILER_V1
    };
    if n < header_len + trailer + CRC_LEN {
        return Err(Error::malformed(
            Section::Trailer,
            n,
            format!(
                "chunk is {n} bytes, too short for a v{} trailer",
                version.as_u8()
            ),
        ));
    }
    let body_end = n - trailer;
    // A section must lie between the header and the trailer, followed by its CRC.
    let section = |off: u64, len: u64, what: Section, at: usize| -> Result<(usize, usize)> {
        let end = off
            .checked_add(len)
            .and_then(|e| e.checked_add(CRC_LEN as u64));
        match end {
            Some(end) if off >= header_len as u64 && end <= body_end as u64 => {
                Ok((off as usize, len as usize))
            }
            _ => Err(Error::malformed(
                what,
                at,
                format!("section at offset {off} with length {len} does not fit in {n} bytes"),
            )),
        }
    };
    if version == FormatVersion::V4 {
        let t = n - TRAILER_V4;
        let sym = section(be64(b, t + 8), be64(b, t), Section::Symbols, t)?;
        let metas = section(
            be64(b, t + 24),
            be64(b, t + 16),
            Section::BlockMetas,
            t + 16,
        )?;
        Ok((metas.0, metas.1, Some(sym)))
    } else {
        let t = n - TRAILER_V1;
        let off = be64(b, t);
        let len = (t as u64 - CRC_LEN as u64)
            .checked_sub(off)
            .ok_or_else(|| {
                Error::malformed(
                    Section::Trailer,
                    t,
                    format!("metas offset {off} past the end"),
                )
            })?;
        let metas = section(off, len, Section::BlockMetas, t)?;
        Ok((metas.0, metas.1, None))
    }
}

fn check_crc(b: &[u8], off: usize, len: usize, section: Section) -> Result<()> {
    let stored = be32(b, off + len);
    let computed = crc32c::crc32c(&b[off..off + len]);
    if stored != computed {
        return Err(Error::Checksum {
            section,
            offset: off + len,
            stored,
            computed,
        });
    }
    Ok(())
}

fn crc_matches(b: &[u8], off: usize, len: usize) -> bool {
    be32(b, off + len) == crc32c::crc32c(&b[off..off + len])
}

fn parse_metas(
    metas: &[u8],
    metas_off: usize,
    version: FormatVersion,
    b: &[u8],
    first_block: usize,
    verify: Verify,
) -> Result<Vec<BlockMeta>> {
    let mut pos = 0usize;
    let bad =
        |pos: usize, reason: &str| Error::malformed(Section::BlockMetas, metas_off + pos, reason);
    let count = read_uvarint(metas, &mut pos).map_err(|e| bad(pos, e.reason()))?;
    // Each meta takes at least 5 (v1/v2) or 6 bytes: a larger count cannot be real.
    let min_meta = if version.has_uncompressed_size() {
        6
    } else {
        5
    };
    if count > (metas.len() / min_meta) as u64 {
        return Err(bad(
            0,
            &format!(
                "block count {count} exceeds what {} bytes can hold",
                metas.len()
            ),
        ));
    }
    let mut blocks = Vec::with_capacity(count as usize);
    // Blocks must end before the metas section.
    let data_end = metas_off;
    let mut expected = first_block;
    for i in 0..count as usize {
        let start = pos;
        let num_entries = read_uvarint(metas, &mut pos).map_err(|e| bad(start, e.reason()))?;
        let mint = read_varint(metas, &mut pos).map_err(|e| bad(pos, e.reason()))?;
        let maxt = read_varint(metas, &mut pos).map_err(|e| bad(pos, e.reason()))?;
        let offset = read_uvarint(metas, &mut pos).map_err(|e| bad(pos, e.reason()))?;
        let uncompressed_size = if version.has_uncompressed_size() {
            read_uvarint(metas, &mut pos).map_err(|e| bad(pos, e.reason()))?
        } else {
            0
        };
        let len = read_uvarint(metas, &mut pos).map_err(|e| bad(pos, e.reason()))?;
        let fits = |off: u64| {
            off.checked_add(len)
                .and_then(|e| e.checked_add(CRC_LEN as u64))
                .is_some_and(|end| end <= data_end as u64)
        };
        let section = Section::Block(i);
        let (offset, crc_ok) = if fits(offset) && crc_matches(b, offset as usize, len as usize) {
            (offset as usize, true)
        } else if verify == Verify::Strict {
            if !fits(offset) {
                return Err(Error::malformed(
                    section,
                    offset.min(usize::MAX as u64) as usize,
                    format!("block of length {len} at offset {offset} runs past the blocks area (ends at {data_end})"),
                ));
            }
            let (o, l) = (offset as usize, len as usize);
            return Err(Error::Checksum {
                section,
                offset: o + l,
                stored: be32(b, o + l),
                computed: crc32c::crc32c(&b[o..o + l]),
            });
        } else if fits(expected as u64) {
            // Loki's recovery for chunks written with bad offsets: try right after the last block.
            (expected, crc_matches(b, expected, len as usize))
        } else {
            return Err(Error::malformed(
                section,
                expected,
                format!("block of length {len} runs past the blocks area (ends at {data_end})"),
            ));
        };
        let len = len as usize;
        expected = offset + len + CRC_LEN;
        blocks.push(BlockMeta {
            num_entries,
            min_time_ns: mint,
            max_time_ns: maxt,
            offset,
            uncompressed_size,
            len,
            crc_ok,
        });
    }
    Ok(blocks)
}

fn parse_symbols(data: &Bytes, off: usize, len: usize, encoding: Encoding) -> Result<Vec<Bytes>> {
    let section = &data[off..off + len];
    let mut pos = 0;
    let bad = |at: usize, reason: String| Error::malformed(Section::Symbols, off + at, reason);
    let n = read_uvarint(section, &mut pos).map_err(|e| bad(0, e.reason().into()))?;
    if n == 0 {
        // Loki never reads the (codec-specific) empty payload; neither do we.
        return Ok(Vec::new());
    }
    let payload_off = off + pos;
    let payload = data.slice(payload_off..off + len);
    let plain = if encoding == Encoding::None {
        payload
    } else {
        crate::fast_decode::decompress(encoding, &payload, payload.len() * 4)
            .map(Bytes::from)
            .map_err(|e| Error::Decompress {
                section: Section::Symbols,
                offset: payload_off,
                encoding: encoding.name(),
                reason: e.0,
            })?
    };
    // Every symbol takes at least its one-byte length prefix.
    if n > plain.len() as u64 {
        return Err(bad(
            0,
            format!(
                "symbol count {n} exceeds the {} bytes of the table",
                plain.len()
            ),
        ));
    }
    let mut symbols = Vec::with_capacity(n as usize);
    let mut p = 0usize;
    for i in 0..n {
        let l = read_uvarint(&plain, &mut p)
            .map_err(|e| bad(pos, format!("symbol {i}: {}", e.reason())))?;
        let end = (p as u64)
            .checked_add(l)
            .filter(|&e| e <= plain.len() as u64);
        let Some(end) = end else {
            return Err(bad(
                pos,
                format!("symbol {i} of length {l} runs past the table"),
            ));
        };
        symbols.push(plain.slice(p..end as usize));
        p = end as usize;
    }
    Ok(symbols)
}
