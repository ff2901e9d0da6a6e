//! The symbol table (spec section 5): every label name and value, sorted.

use crate::decode::{framed, Decoder};
use crate::error::{IndexError, Result, Section};

/// Decoded view of a file's symbol table: the start offset and length of
/// every symbol, so lookups by index are O(1) and by string O(log n).
#[derive(Debug, Clone, Default)]
pub(crate) struct Symbols {
    /// (absolute offset of the UTF-8 bytes, byte length) per symbol.
    spans: Vec<(u32, u32)>,
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
        let mut spans = Vec::with_capacity(count);
        for _ in 0..count {
            let b = d.ustr_bytes("symbol")?;
            spans.push(((d.offset() - b.len()) as u32, b.len() as u32));
        }
        if !d.is_empty() {
            return Err(d.invalid("symbol table", "trailing bytes after the last symbol"));
        }
        // UTF-8: an all-ASCII table (the usual case) needs no per-symbol check.
        let content = &file[content_start..d.offset()];
        if !content.is_ascii() {
            for &(start, len) in &spans {
                let b = &file[start as usize..(start + len) as usize];
                if let Err(e) = std::str::from_utf8(b) {
                    return Err(IndexError::invalid(
                        Section::Symbols,
                        start as usize,
                        "symbol",
                        format!("not UTF-8: {e}"),
                    ));
                }
            }
        }
        Ok(Symbols { spans })
    }

    /// Checks that symbols are strictly increasing (lookups rely on it).
    /// Done by `verify`, not on open: Loki does not check it either.
    pub(crate) fn check_order(&self, file: &[u8]) -> Result<()> {
        for w in self.spans.windows(2) {
            let a = &file[w[0].0 as usize..(w[0].0 + w[0].1) as usize];
            let b = &file[w[1].0 as usize..(w[1].0 + w[1].1) as usize];
            if a >= b {
                return Err(IndexError::invalid(
                    Section::Symbols,
                    w[1].0 as usize,
                    "symbol order",
                    format!(
                        "{:?} followed by {:?}",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// The symbol with index `i`. The bytes were validated as UTF-8 at open.
    pub(crate) fn get<'a>(&self, file: &'a [u8], i: u32) -> Option<&'a str> {
        let &(start, len) = self.spans.get(i as usize)?;
        let b = file.get(start as usize..(start + len) as usize)?;
        std::str::from_utf8(b).ok()
    }

    pub(crate) fn get_bytes<'a>(&self, file: &'a [u8], i: u32) -> &'a [u8] {
        self.spans
            .get(i as usize)
            .and_then(|&(start, len)| file.get(start as usize..(start + len) as usize))
            .unwrap_or(&[])
    }

    pub(crate) fn lookup(&self, file: &[u8], s: &str) -> Option<u32> {
        self.spans
            .binary_search_by(|&(start, len)| {
                file[start as usize..(start + len) as usize].cmp(s.as_bytes())
            })
            .ok()
            .map(|i| i as u32)
    }

    pub(crate) fn check(&self, d: &Decoder<'_>, i: u64) -> Result<u32> {
        if i < self.spans.len() as u64 {
            Ok(i as u32)
        } else {
            Err(IndexError::invalid(
                Section::Series,
                d.offset(),
                "label symbol index",
                format!("{i} out of range ({} symbols)", self.spans.len()),
            ))
        }
    }
}
