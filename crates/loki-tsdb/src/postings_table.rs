//! The postings offset table (spec section 10): one entry per
//! (label name, label value) pair pointing at its postings list.

use crate::decode::framed;
use crate::error::{IndexError, Result, Section};

/// One entry, with name and value kept as spans into the file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) name: (u32, u32),
    pub(crate) value: (u32, u32),
    pub(crate) offset: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PostingsTable {
    pub(crate) entries: Vec<Entry>,
    /// Start index in `entries` of each distinct name, plus a final end marker.
    name_starts: Vec<u32>,
}

pub(crate) fn span_str(file: &[u8], (start, len): (u32, u32)) -> &str {
    // Spans are only created from validated UTF-8 at open time.
    std::str::from_utf8(&file[start as usize..(start + len) as usize]).unwrap_or("")
}

fn span_bytes(file: &[u8], (start, len): (u32, u32)) -> &[u8] {
    &file[start as usize..(start + len) as usize]
}

impl PostingsTable {
    pub(crate) fn parse(file: &[u8], off: usize) -> Result<PostingsTable> {
        let mut d = framed(file, off, Section::PostingsTable)?;
        let count = d.be32("entry count")? as usize;
        if count > d.remaining() / 4 {
            return Err(d.invalid(
                "entry count",
                format!("{count} entries in {} bytes", d.remaining()),
            ));
        }
        let mut entries = Vec::with_capacity(count);
        let mut name_starts = Vec::new();
        let mut prev: Option<(&str, &str)> = None;
        for i in 0..count {
            let keys = d.uvarint("key count")?;
            if keys != 2 {
                return Err(d.invalid("key count", format!("{keys}, expected 2")));
            }
            let name = d.ustr("label name")?;
            let name_span = ((d.offset() - name.len()) as u32, name.len() as u32);
            let value = d.ustr("label value")?;
            let value_span = ((d.offset() - value.len()) as u32, value.len() as u32);
            let offset = d.uvarint("postings offset")?;
            if let Some(p) = prev {
                if p >= (name, value) {
                    return Err(d.invalid(
                        "entry order",
                        format!("{p:?} followed by {:?}", (name, value)),
                    ));
                }
                if p.0 != name {
                    name_starts.push(i as u32);
                }
            } else {
                name_starts.push(0);
            }
            prev = Some((name, value));
            entries.push(Entry {
                name: name_span,
                value: value_span,
                offset,
            });
        }
        name_starts.push(count as u32);
        Ok(PostingsTable {
            entries,
            name_starts,
        })
    }

    /// Entries index range of every distinct name, in order (including "").
    pub(crate) fn names(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.name_starts
            .windows(2)
            .map(|w| (w[0] as usize, w[1] as usize))
    }

    /// Entry range holding `name`'s values.
    pub(crate) fn values_of(&self, file: &[u8], name: &str) -> Option<(usize, usize)> {
        let n = self.name_starts.len().saturating_sub(1);
        let starts = &self.name_starts[..n];
        let name_at = |k: usize| span_bytes(file, self.entries[starts[k] as usize].name);
        let i = starts.partition_point(|&s| {
            span_bytes(file, self.entries[s as usize].name) < name.as_bytes()
        });
        if i < n && name_at(i) == name.as_bytes() {
            Some((
                self.name_starts[i] as usize,
                self.name_starts[i + 1] as usize,
            ))
        } else {
            None
        }
    }

    pub(crate) fn find(&self, file: &[u8], name: &str, value: &str) -> Option<&Entry> {
        let (lo, hi) = self.values_of(file, name)?;
        let slice = &self.entries[lo..hi];
        slice
            .binary_search_by(|e| span_bytes(file, e.value).cmp(value.as_bytes()))
            .ok()
            .map(|i| &slice[i])
    }
}

/// Reads the postings list at `off` (CRC checked) into `out` (cleared).
pub(crate) fn read_postings(file: &[u8], off: u64, out: &mut Vec<u32>) -> Result<()> {
    out.clear();
    let off = usize::try_from(off).map_err(|_| {
        IndexError::invalid(
            Section::Postings,
            0,
            "postings offset",
            format!("{off} too large"),
        )
    })?;
    let mut d = framed(file, off, Section::Postings)?;
    let n = d.be32("ref count")? as usize;
    if d.remaining() != n * 4 {
        return Err(d.invalid(
            "ref count",
            format!("{n} refs but {} bytes of content", d.remaining()),
        ));
    }
    out.reserve(n);
    let mut prev = None;
    for _ in 0..n {
        let r = d.be32("series ref")?;
        if prev.is_some_and(|p| p >= r) {
            return Err(d.invalid("series ref", format!("refs not ascending at {r}")));
        }
        prev = Some(r);
        out.push(r);
    }
    Ok(())
}
