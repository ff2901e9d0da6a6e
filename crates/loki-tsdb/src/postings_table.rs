//! The postings offset table (spec section 10): one entry per
//! (label name, label value) pair pointing at its postings list.
//!
//! The whole table is validated at open, but only every 32nd value of each
//! name is kept in memory (as Loki does): a file with a million label
//! values costs a few MB of samples instead of tens of MB of entries.
//! Lookups binary-search the samples and decode at most 32 entries.

use crate::decode::{framed, Decoder};
use crate::error::{IndexError, Result, Section};

const SAMPLE_EVERY: usize = 32;

/// One distinct label name.
#[derive(Debug, Clone, Copy)]
struct Name {
    /// Span of the name bytes in the file.
    name: (u32, u32),
    /// Range in `samples`.
    samples: (u32, u32),
    /// Number of values of this name.
    values: u32,
}

/// A sampled entry: where it starts and its value.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Offset of the entry relative to the table content.
    at: u32,
    /// Span of the value bytes in the file.
    value: (u32, u32),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PostingsTable {
    /// Absolute offset of the table content (its entry count).
    content: usize,
    content_len: usize,
    count: usize,
    names: Vec<Name>,
    samples: Vec<Sample>,
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
        let content = d.offset();
        let content_len = d.remaining();
        let count = d.be32("entry count")? as usize;
        if count > d.remaining() / 4 {
            return Err(d.invalid(
                "entry count",
                format!("{count} entries in {} bytes", d.remaining()),
            ));
        }
        let mut names: Vec<Name> = Vec::new();
        let mut samples = Vec::new();
        let mut prev_name: Option<&[u8]> = None;
        for _ in 0..count {
            let at = (d.offset() - content) as u32;
            let keys = d.uvarint("key count")?;
            if keys != 2 {
                return Err(d.invalid("key count", format!("{keys}, expected 2")));
            }
            let name = d.ustr_bytes("label name")?;
            let name_span = ((d.offset() - name.len()) as u32, name.len() as u32);
            let value = d.ustr_bytes("label value")?;
            let value_span = ((d.offset() - value.len()) as u32, value.len() as u32);
            d.uvarint("postings offset")?;
            // Entries are grouped by name; full order and UTF-8 are checked
            // by `verify` and when strings are handed out.
            if prev_name != Some(name) {
                let n = samples.len() as u32;
                names.push(Name {
                    name: name_span,
                    samples: (n, n),
                    values: 0,
                });
                prev_name = Some(name);
            }
            if let Some(cur) = names.last_mut() {
                if cur.values as usize % SAMPLE_EVERY == 0 {
                    samples.push(Sample {
                        at,
                        value: value_span,
                    });
                    cur.samples.1 += 1;
                }
                cur.values += 1;
            }
        }
        Ok(PostingsTable {
            content,
            content_len,
            count,
            names,
            samples,
        })
    }

    /// Strict order and UTF-8 of every entry (for `verify`).
    pub(crate) fn check(&self, file: &[u8]) -> Result<()> {
        let mut d = self.decoder(file, 4);
        let mut prev: Option<(&str, &str)> = None;
        for _ in 0..self.count {
            d.uvarint("key count")?;
            let n = d.ustr("label name")?;
            let v = d.ustr("label value")?;
            d.uvarint("postings offset")?;
            if let Some(p) = prev {
                if p >= (n, v) {
                    return Err(d.invalid("entry order", format!("{p:?} followed by {:?}", (n, v))));
                }
            }
            prev = Some((n, v));
        }
        Ok(())
    }

    fn decoder<'a>(&self, file: &'a [u8], at: u32) -> Decoder<'a> {
        let body = &file[self.content..self.content + self.content_len];
        let mut d = Decoder::new(body, self.content, Section::PostingsTable);
        // In range: `at` came from parsing this very table.
        let _ = d.skip(at as usize, "entry");
        d
    }

    /// Distinct names in order (including "").
    pub(crate) fn names<'a>(&'a self, file: &'a [u8]) -> impl Iterator<Item = &'a str> + 'a {
        self.names.iter().map(move |n| span_str(file, n.name))
    }

    fn name(&self, file: &[u8], name: &str) -> Option<&Name> {
        let i = self
            .names
            .binary_search_by(|n| span_bytes(file, n.name).cmp(name.as_bytes()))
            .ok()?;
        self.names.get(i)
    }

    pub(crate) fn has_name(&self, file: &[u8], name: &str) -> bool {
        self.name(file, name).is_some()
    }

    /// (value, postings offset) of every value of `name`, in order.
    pub(crate) fn values<'a>(
        &self,
        file: &'a [u8],
        name: &str,
    ) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        let (start, n) = match self.name(file, name) {
            Some(nm) => (self.samples[nm.samples.0 as usize].at, nm.values as usize),
            None => (0, 0),
        };
        Entries {
            d: self.decoder(file, start),
            left: n,
        }
        .map(|(_, v, off)| (v, off))
    }

    /// Every entry in file order: (name, value, postings offset).
    pub(crate) fn entries<'a>(
        &self,
        file: &'a [u8],
    ) -> impl Iterator<Item = (&'a str, &'a str, u64)> + 'a {
        Entries {
            d: self.decoder(file, 4),
            left: self.count,
        }
    }

    /// Postings offset of (name, value).
    pub(crate) fn find(&self, file: &[u8], name: &str, value: &str) -> Option<u64> {
        let nm = self.name(file, name)?;
        let samples = &self.samples[nm.samples.0 as usize..nm.samples.1 as usize];
        let i = samples.partition_point(|s| span_bytes(file, s.value) <= value.as_bytes());
        let first = i.checked_sub(1)?;
        let left = (nm.values as usize - first * SAMPLE_EVERY).min(SAMPLE_EVERY);
        let mut it = Entries {
            d: self.decoder(file, samples[first].at),
            left,
        };
        it.find(|(_, v, _)| *v == value).map(|(_, _, off)| off)
    }
}

/// Sequential decoding of entries already validated at open.
struct Entries<'a> {
    d: Decoder<'a>,
    left: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a str, &'a str, u64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let d = &mut self.d;
        let entry = (|| {
            d.uvarint("key count")?;
            let n = d.ustr("label name")?;
            let v = d.ustr("label value")?;
            let off = d.uvarint("postings offset")?;
            Ok::<_, IndexError>((n, v, off))
        })();
        match entry {
            Ok(e) => Some(e),
            Err(_) => {
                self.left = 0;
                None
            }
        }
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

/// The postings list at `off` (CRC checked) as its raw big-endian refs,
/// for callers that walk a long list without collecting it.
pub(crate) fn postings_bytes(file: &[u8], off: u64) -> Result<(usize, &[u8])> {
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
    let at = d.offset();
    Ok((at, d.take(n * 4, "series refs")?))
}
