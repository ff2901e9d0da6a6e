//! The symbol table (spec section 5): every label name and value, sorted.
//!
//! Small tables keep the span of every symbol (O(1) lookups by index, what
//! queries want). Tables of more than [`FULL_INDEX_MAX`] symbols keep only
//! the offset of every [`SAMPLE_EVERY`]th entry, as Loki does, so a reader
//! of a file with millions of distinct values (a large merge input) costs
//! kilobytes instead of 8 bytes per symbol; a lookup then decodes at most
//! `SAMPLE_EVERY - 1` entries.

use crate::decode::{framed, Decoder};
use crate::error::{IndexError, Result, Section};

/// Above this many symbols only every [`SAMPLE_EVERY`]th offset is kept.
pub(crate) const FULL_INDEX_MAX: usize = 1 << 16;
/// Sampling interval of large tables.
pub(crate) const SAMPLE_EVERY: usize = 32;

#[derive(Debug, Clone)]
enum Index {
    /// (absolute offset of the UTF-8 bytes, byte length) per symbol.
    Full(Vec<(u32, u32)>),
    /// Absolute offset of the entry (its length prefix) of every
    /// `SAMPLE_EVERY`th symbol.
    Sampled(Vec<u32>),
}

/// Decoded view of a file's symbol table.
#[derive(Debug, Clone)]
pub(crate) struct Symbols {
    count: usize,
    /// Absolute offset of the first entry.
    first: usize,
    index: Index,
}

impl Default for Symbols {
    fn default() -> Self {
        Symbols {
            count: 0,
            first: 0,
            index: Index::Full(Vec::new()),
        }
    }
}

/// Decodes the entry at `at` (validated at parse): (bytes start, length).
#[inline]
pub(crate) fn entry_at(file: &[u8], mut at: usize) -> (usize, usize) {
    let mut len = 0usize;
    let mut shift = 0;
    while let Some(&b) = file.get(at) {
        at += 1;
        len |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    (at, len)
}

impl Symbols {
    pub(crate) fn parse(file: &[u8], off: usize) -> Result<Symbols> {
        let mut d = framed(file, off, Section::Symbols)?;
        let count = d.be32("symbol count")? as usize;
        // Each symbol takes at least one byte; guard the allocation.
        if count > d.remaining() {
            return Err(d.invalid(
                "symbol count",
                format!("{count} symbols in {} bytes", d.remaining()),
            ));
        }
        let content_start = d.offset();
        let full = count <= FULL_INDEX_MAX;
        let mut spans = Vec::with_capacity(if full { count } else { 0 });
        let mut samples = Vec::with_capacity(if full { 0 } else { count / SAMPLE_EVERY + 1 });
        for i in 0..count {
            let at = d.offset();
            let b = d.ustr_bytes("symbol")?;
            if full {
                spans.push(((d.offset() - b.len()) as u32, b.len() as u32));
            } else if i % SAMPLE_EVERY == 0 {
                samples.push(at as u32);
            }
        }
        if !d.is_empty() {
            return Err(d.invalid("symbol table", "trailing bytes after the last symbol"));
        }
        let syms = Symbols {
            count,
            first: content_start,
            index: if full {
                Index::Full(spans)
            } else {
                Index::Sampled(samples)
            },
        };
        // UTF-8: an all-ASCII table (the usual case) needs no per-symbol check.
        let content = &file[content_start..d.offset()];
        if !content.is_ascii() {
            for (start, b) in syms.iter_spans(file) {
                if let Err(e) = std::str::from_utf8(b) {
                    return Err(IndexError::invalid(
                        Section::Symbols,
                        start,
                        "symbol",
                        format!("not UTF-8: {e}"),
                    ));
                }
            }
        }
        Ok(syms)
    }

    /// Every symbol in order with the absolute offset of its bytes: a
    /// sequential scan, whatever the index kind.
    fn iter_spans<'a>(&self, file: &'a [u8]) -> impl Iterator<Item = (usize, &'a [u8])> + 'a {
        let mut at = self.first;
        (0..self.count).map(move |_| {
            let (start, len) = entry_at(file, at);
            at = start + len;
            (start, &file[start..start + len])
        })
    }

    /// Every symbol in order (a sequential scan of the table).
    pub(crate) fn iter<'a>(&self, file: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter_spans(file).map(|(_, b)| b)
    }

    /// Checks that symbols are strictly increasing (lookups rely on it).
    /// Done by `verify`, not on open: Loki does not check it either.
    pub(crate) fn check_order(&self, file: &[u8]) -> Result<()> {
        let mut prev: Option<&[u8]> = None;
        for (start, b) in self.iter_spans(file) {
            if let Some(a) = prev {
                if a >= b {
                    return Err(IndexError::invalid(
                        Section::Symbols,
                        start,
                        "symbol order",
                        format!(
                            "{:?} followed by {:?}",
                            String::from_utf8_lossy(a),
                            String::from_utf8_lossy(b)
                        ),
                    ));
                }
            }
            prev = Some(b);
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// (absolute offset of the first entry, number of entries): where a
    /// sequential scan starts.
    pub(crate) fn entries_start(&self) -> (usize, usize) {
        (self.first, self.count)
    }

    /// The symbol with index `i`. The bytes were validated as UTF-8 at open.
    pub(crate) fn get<'a>(&self, file: &'a [u8], i: u32) -> Option<&'a str> {
        if i as usize >= self.count {
            return None;
        }
        std::str::from_utf8(self.get_bytes(file, i)).ok()
    }

    pub(crate) fn get_bytes<'a>(&self, file: &'a [u8], i: u32) -> &'a [u8] {
        let i = i as usize;
        if i >= self.count {
            return &[];
        }
        match &self.index {
            Index::Full(spans) => {
                let (start, len) = spans[i];
                file.get(start as usize..(start + len) as usize)
                    .unwrap_or(&[])
            }
            Index::Sampled(samples) => {
                let mut at = samples[i / SAMPLE_EVERY] as usize;
                for _ in 0..i % SAMPLE_EVERY {
                    let (start, len) = entry_at(file, at);
                    at = start + len;
                }
                let (start, len) = entry_at(file, at);
                file.get(start..start + len).unwrap_or(&[])
            }
        }
    }

    pub(crate) fn lookup(&self, file: &[u8], s: &str) -> Option<u32> {
        let s = s.as_bytes();
        match &self.index {
            Index::Full(spans) => spans
                .binary_search_by(|&(start, len)| {
                    file[start as usize..(start + len) as usize].cmp(s)
                })
                .ok()
                .map(|i| i as u32),
            Index::Sampled(samples) => {
                let first_of = |at: u32| {
                    let (start, len) = entry_at(file, at as usize);
                    &file[start..start + len]
                };
                let block = samples.partition_point(|&at| first_of(at) <= s);
                let block = block.checked_sub(1)?;
                let mut at = samples[block] as usize;
                let base = block * SAMPLE_EVERY;
                for i in base..(base + SAMPLE_EVERY).min(self.count) {
                    let (start, len) = entry_at(file, at);
                    if &file[start..start + len] == s {
                        return Some(i as u32);
                    }
                    at = start + len;
                }
                None
            }
        }
    }

    pub(crate) fn check(&self, d: &Decoder<'_>, i: u64) -> Result<u32> {
        if i < self.count as u64 {
            Ok(i as u32)
        } else {
            Err(IndexError::invalid(
                Section::Series,
                d.offset(),
                "label symbol index",
                format!("{i} out of range ({} symbols)", self.count),
            ))
        }
    }
}
