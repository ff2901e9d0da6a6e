//! Chunk references ("chunk metas") and their per-version encodings
//! (spec sections 6.3–6.5).

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::{IndexError, Result};
use crate::version::FormatVersion;

/// One chunk reference of a series.
///
/// Times are Unix milliseconds, both inclusive. `kb` and `entries` are the
/// ingester's size estimates; they are copied, never recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ChunkMeta {
    /// Timestamp of the first entry (ms).
    pub min_time: i64,
    /// Timestamp of the last entry (ms, inclusive).
    pub max_time: i64,
    /// The chunk's checksum (part of its object key).
    pub checksum: u32,
    /// Uncompressed size in KiB, rounded.
    pub kb: u32,
    /// Number of log entries.
    pub entries: u32,
    /// Ingestion time in ms, day-rounded (V4 files only; 0 = unknown).
    pub ingested_at: i64,
}

impl ChunkMeta {
    /// The identity Loki de-duplicates on: (MinTime, MaxTime, Checksum).
    pub fn key(&self) -> (i64, i64, u32) {
        (self.min_time, self.max_time, self.checksum)
    }

    /// Loki's overlap rule for a query `[from, through)`.
    pub fn overlaps(&self, from: i64, through: i64) -> bool {
        from <= self.max_time && through > self.min_time
    }
}

/// Number of chunks per page in V3/V4 page markers.
const PAGE_SIZE: usize = 16;
const DAY_MS: i64 = 86_400_000;

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// V4 IngestedAt code: signed day distance to MaxTime's day, zig-zagged,
/// plus one so that 0 can mean "absent".
pub(crate) fn ingested_at_code(ingested_at: i64, max_time: i64) -> u64 {
    if ingested_at == 0 {
        return 0;
    }
    let floor = |t: i64| t.div_euclid(DAY_MS);
    let ceil = |t: i64| floor(t) + i64::from(t.rem_euclid(DAY_MS) != 0);
    let d = ceil(ingested_at).wrapping_sub(floor(max_time));
    zigzag(d).wrapping_add(1)
}

fn ingested_at_from_code(code: u64, max_time: i64) -> Option<i64> {
    if code == 0 {
        return Some(0);
    }
    let d = unzigzag(code - 1);
    max_time
        .div_euclid(DAY_MS)
        .checked_add(d)?
        .checked_mul(DAY_MS)
}

/// Running From/Through of the TOC (spec 6.7, including the "0 means unset" quirk).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub(crate) from: i64,
    pub(crate) through: i64,
}

impl Bounds {
    pub(crate) fn add(&mut self, c: &ChunkMeta) {
        if self.from == 0 || c.min_time < self.from {
            self.from = c.min_time;
        }
        if self.through == 0 || c.max_time > self.through {
            self.through = c.max_time;
        }
    }
}

fn check_order(chunks: &[ChunkMeta]) -> Result<()> {
    for c in chunks {
        if c.max_time < c.min_time {
            return Err(IndexError::InvalidInput(format!(
                "chunk {:08x} has max_time {} before min_time {}",
                c.checksum, c.max_time, c.min_time
            )));
        }
    }
    for w in chunks.windows(2) {
        if w[0].key() >= w[1].key() {
            return Err(IndexError::InvalidInput(format!(
                "chunks not strictly ordered by (min_time, max_time, checksum): {:?} then {:?}",
                w[0].key(),
                w[1].key()
            )));
        }
    }
    Ok(())
}

fn put_meta(e: &mut Encoder, v: FormatVersion, c: &ChunkMeta, prev: i64) {
    e.varint(c.min_time.wrapping_sub(prev));
    e.uvarint(c.max_time.wrapping_sub(c.min_time) as u64);
    e.uvarint(u64::from(c.kb));
    e.uvarint(u64::from(c.entries));
    e.be32(c.checksum);
    if v == FormatVersion::V4 {
        e.uvarint(ingested_at_code(c.ingested_at, c.max_time));
    }
}

/// Appends the chunk list of one series. `scratch` is reused between calls
/// so that writing a series does not allocate.
pub(crate) fn encode_chunks(
    e: &mut Encoder,
    scratch: &mut Encoder,
    v: FormatVersion,
    chunks: &[ChunkMeta],
    bounds: &mut Bounds,
) -> Result<()> {
    check_order(chunks)?;
    for c in chunks {
        bounds.add(c);
    }
    e.uvarint(chunks.len() as u64);
    if v == FormatVersion::V2 {
        let mut prev = 0;
        for c in chunks {
            put_meta(e, v, c, prev);
            prev = c.max_time;
        }
        return Ok(());
    }
    if chunks.is_empty() {
        // Loki writes a zero markers length but still a zero page count.
        e.be32(0);
        e.uvarint(0);
        return Ok(());
    }
    // Chunk data first (into scratch) so that page offsets are known.
    scratch.clear();
    let mut page_offsets = Vec::with_capacity(chunks.len().div_ceil(PAGE_SIZE));
    let mut prev = 0;
    for (i, c) in chunks.iter().enumerate() {
        if i % PAGE_SIZE == 0 {
            page_offsets.push(scratch.len());
        }
        put_meta(scratch, v, c, prev);
        prev = c.max_time;
    }
    let len_at = e.len();
    e.be32(0);
    let markers_start = e.len();
    e.uvarint(page_offsets.len() as u64);
    for (page, off) in chunks.chunks(PAGE_SIZE).zip(&page_offsets) {
        let kb = page.iter().fold(0u32, |a, c| a.wrapping_add(c.kb));
        let entries = page.iter().fold(0u32, |a, c| a.wrapping_add(c.entries));
        let min = page.iter().map(|c| c.min_time).min().unwrap_or(0);
        // The running maximum starts at 0, as in Loki.
        let max = page.iter().fold(0i64, |a, c| a.max(c.max_time));
        e.uvarint(page.len() as u64);
        e.be32(kb);
        e.be32(entries);
        e.uvarint(*off as u64);
        e.varint(min);
        e.varint(max.wrapping_sub(min));
    }
    let markers_len = e.len() - markers_start;
    e.patch_be32(len_at, markers_len as u32);
    e.buf.extend_from_slice(&scratch.buf);
    Ok(())
}

fn get_meta(d: &mut Decoder<'_>, v: FormatVersion, prev: i64) -> Result<ChunkMeta> {
    let delta = d.varint("chunk min_time delta")?;
    let at = d.offset();
    let dur = d.uvarint("chunk duration")?;
    let min_time = prev
        .checked_add(delta)
        .ok_or_else(|| d.invalid("chunk min_time", "overflows i64"))?;
    let max_time = i64::try_from(dur)
        .ok()
        .and_then(|dur| min_time.checked_add(dur))
        .ok_or_else(|| {
            IndexError::invalid(
                crate::Section::Series,
                at,
                "chunk duration",
                "overflows i64",
            )
        })?;
    let kb = d.uvarint_u32("chunk kb")?;
    let entries = d.uvarint_u32("chunk entries")?;
    let checksum = d.be32("chunk checksum")?;
    let ingested_at = if v == FormatVersion::V4 {
        let code = d.uvarint("chunk ingested_at")?;
        ingested_at_from_code(code, max_time)
            .ok_or_else(|| d.invalid("chunk ingested_at", "overflows i64"))?
    } else {
        0
    };
    Ok(ChunkMeta {
        min_time,
        max_time,
        checksum,
        kb,
        entries,
        ingested_at,
    })
}

/// Decodes a chunk list, appending to `out`. Page markers are skipped:
/// the chunk data alone is authoritative and sorted.
pub(crate) fn decode_chunks(
    d: &mut Decoder<'_>,
    v: FormatVersion,
    out: &mut Vec<ChunkMeta>,
) -> Result<()> {
    let at = d.offset();
    let n = d.uvarint("chunk count")?;
    // Each chunk takes at least 8 bytes; reject absurd counts before allocating.
    if n > (d.remaining() / 8 + 1) as u64 {
        return Err(IndexError::invalid(
            crate::Section::Series,
            at,
            "chunk count",
            format!("{n} chunks cannot fit in {} bytes", d.remaining()),
        ));
    }
    if v != FormatVersion::V2 {
        let markers_len = d.be32("page markers length")? as usize;
        d.skip(markers_len, "page markers")?;
    }
    out.reserve(n as usize);
    let mut prev = 0;
    for _ in 0..n {
        let c = get_meta(d, v, prev)?;
        prev = c.max_time;
        out.push(c);
    }
    Ok(())
}

/// Checks a V3/V4 chunk list's page markers against its chunks: Loki's
/// reader trusts the markers for series with many chunks (range seeks and
/// stats), so they must agree exactly with what the writer would produce.
pub(crate) fn check_markers(
    d: &mut Decoder<'_>,
    v: FormatVersion,
    chunks: &[ChunkMeta],
) -> Result<()> {
    let n = d.uvarint("chunk count")?;
    let markers_len = d.be32("page markers length")? as usize;
    let at = d.offset();
    let block = d.take(markers_len, "page markers")?;
    if n == 0 {
        return Ok(());
    }
    let mut m = Decoder::new(block, at, crate::Section::Series);
    let pages = m.uvarint("page count")?;
    let want = chunks.len().div_ceil(PAGE_SIZE) as u64;
    if pages != want {
        return Err(m.invalid("page count", format!("{pages}, expected {want}")));
    }
    // Byte offsets of each page's first chunk, re-derived by encoding the
    // chunks the way the writer does (minimal varints, as Loki writes).
    let mut scratch = Encoder::default();
    let mut prev = 0;
    let mut offsets = Vec::with_capacity(chunks.len().div_ceil(PAGE_SIZE));
    for (i, c) in chunks.iter().enumerate() {
        if i % PAGE_SIZE == 0 {
            offsets.push(scratch.len() as u64);
        }
        put_meta(&mut scratch, v, c, prev);
        prev = c.max_time;
    }
    for (page, &woff) in chunks.chunks(PAGE_SIZE).zip(&offsets) {
        let count = m.uvarint("page chunk count")?;
        let kb = m.be32("page kb")?;
        let entries = m.be32("page entries")?;
        let offset = m.uvarint("page offset")?;
        let min = m.varint("page min_time")?;
        let span = m.varint("page span")?;
        let wkb = page.iter().fold(0u32, |a, c| a.wrapping_add(c.kb));
        let wentries = page.iter().fold(0u32, |a, c| a.wrapping_add(c.entries));
        let wmin = page.iter().map(|c| c.min_time).min().unwrap_or(0);
        let wmax = page.iter().fold(0i64, |a, c| a.max(c.max_time));
        if (count, kb, entries, offset, min, span)
            != (
                page.len() as u64,
                wkb,
                wentries,
                woff,
                wmin,
                wmax.wrapping_sub(wmin),
            )
        {
            return Err(m.invalid(
                "page marker",
                format!(
                    "marker (chunks {count}, kb {kb}, entries {entries}, offset {offset}, \
                     min {min}, span {span}) disagrees with its chunks"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingested_at_codes_match_the_spec_examples() {
        let base = 1_705_276_800_000; // 2024-01-15T00:00Z
        let max = base + 3_600_000;
        assert_eq!(ingested_at_code(base + 2 * DAY_MS + 8 * 3_600_000, max), 7);
        assert_eq!(ingested_at_from_code(7, max), Some(base + 3 * DAY_MS));
        assert_eq!(ingested_at_code(base - 2 * DAY_MS + 5 * 3_600_000, max), 2);
        assert_eq!(ingested_at_from_code(2, max), Some(base - DAY_MS));
        assert_eq!(ingested_at_code(0, max), 0);
        assert_eq!(ingested_at_code(base + DAY_MS, base + DAY_MS - 1), 3);
    }

    #[test]
    fn empty_v3_chunk_list_has_the_zero_length_quirk() {
        let mut e = Encoder::default();
        let mut s = Encoder::default();
        let mut b = Bounds::default();
        encode_chunks(&mut e, &mut s, FormatVersion::V3, &[], &mut b).unwrap();
        assert_eq!(e.buf, [0, 0, 0, 0, 0, 0]);
    }
}
