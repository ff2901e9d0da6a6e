//! The writer's copy of the output symbol table: the encoded entries
//! exactly as they go into the file (in memory, or in a scratch file when
//! large) plus the offset of every 32nd entry. Lookups by index walk
//! forward from a cursor, which is what the writer's access pattern (names
//! and values in ascending order) needs; nothing per symbol is on the heap.

use std::path::PathBuf;

use crate::encode::Encoder;
use crate::error::{IndexError, Result};
use crate::scratch::{Blob, ByteSpill, SPILL_LIMIT};
use crate::symbols::entry_at;

const SAMPLE_EVERY: usize = 32;

/// Builds a [`SymbolStore`] from symbols given in strictly increasing order.
#[derive(Debug)]
pub(crate) struct SymbolsBuilder {
    data: ByteSpill,
    samples: Vec<u64>,
    count: usize,
    last: Option<Vec<u8>>,
    enc: Encoder,
}

impl SymbolsBuilder {
    /// `dir`: where a large table is spilled (`None`: the system temp dir);
    /// `in_memory`: never spill (small tables built by `IndexBuilder`).
    pub(crate) fn new(dir: Option<PathBuf>, in_memory: bool) -> Self {
        let limit = if in_memory { usize::MAX } else { SPILL_LIMIT };
        SymbolsBuilder {
            data: ByteSpill::new(limit, dir),
            samples: Vec::new(),
            count: 0,
            last: None,
            enc: Encoder::default(),
        }
    }

    pub(crate) fn push(&mut self, s: &[u8]) -> Result<()> {
        if let Some(last) = &mut self.last {
            if last.as_slice() >= s {
                return Err(IndexError::InvalidInput(format!(
                    "symbols out of order or duplicated: {:?} then {:?}",
                    String::from_utf8_lossy(last),
                    String::from_utf8_lossy(s)
                )));
            }
            last.clear();
            last.extend_from_slice(s);
        } else {
            self.last = Some(s.to_vec());
        }
        if self.count % SAMPLE_EVERY == 0 {
            self.samples.push(self.data.len());
        }
        self.count += 1;
        self.enc.clear();
        self.enc.ubytes(s);
        self.data.write(&self.enc.buf)
    }

    pub(crate) fn finish(self) -> Result<SymbolStore> {
        Ok(SymbolStore {
            data: self.data.into_blob()?,
            samples: self.samples,
            count: self.count,
        })
    }
}

/// The output symbol table, encoded, with sampled offsets.
#[derive(Debug)]
pub(crate) struct SymbolStore {
    data: Blob,
    samples: Vec<u64>,
    count: usize,
}

/// Position of a forward walk over a [`SymbolStore`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Cursor {
    id: usize,
    at: usize,
    valid: bool,
}

impl SymbolStore {
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The encoded entries (the symbol table's content after its count).
    pub(crate) fn encoded(&self) -> &Blob {
        &self.data
    }

    pub(crate) fn release(&self) {
        self.data.release();
    }

    /// Symbol `id` (< `len`), walking forward from `cur` when it is close.
    pub(crate) fn get(&self, id: u32, cur: &mut Cursor) -> &[u8] {
        let id = id as usize;
        if id >= self.count {
            return &[];
        }
        if !(cur.valid && id >= cur.id && id - cur.id < SAMPLE_EVERY) {
            let s = id / SAMPLE_EVERY;
            *cur = Cursor {
                id: s * SAMPLE_EVERY,
                at: self.samples[s] as usize,
                valid: true,
            };
        }
        while cur.id < id {
            let (start, len) = entry_at(&self.data, cur.at);
            cur.at = start + len;
            cur.id += 1;
        }
        let (start, len) = entry_at(&self.data, cur.at);
        self.data.get(start..start + len).unwrap_or(&[])
    }

    /// Index of `s`, by binary search over the samples.
    pub(crate) fn index_of(&self, s: &[u8]) -> Option<u32> {
        let first = |at: u64| {
            let (start, len) = entry_at(&self.data, at as usize);
            &self.data[start..start + len]
        };
        let block = self.samples.partition_point(|&at| first(at) <= s);
        let block = block.checked_sub(1)?;
        let mut cur = Cursor::default();
        let base = block * SAMPLE_EVERY;
        (base..(base + SAMPLE_EVERY).min(self.count))
            .find(|&i| self.get(i as u32, &mut cur) == s)
            .map(|i| i as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_match_the_list_in_memory_and_spilled() {
        let syms: Vec<String> = (0..1000).map(|i| format!("s{i:05}")).collect();
        for in_memory in [true, false] {
            let mut b = SymbolsBuilder::new(None, in_memory);
            if !in_memory {
                b.data = ByteSpill::new(100, None);
            }
            for s in &syms {
                b.push(s.as_bytes()).unwrap();
            }
            assert!(b.push(b"a").is_err());
            let st = b.finish().unwrap();
            assert_eq!(st.len(), 1000);
            let mut cur = Cursor::default();
            for id in [0u32, 5, 31, 32, 33, 999, 1, 500, 501, 530] {
                assert_eq!(st.get(id, &mut cur), syms[id as usize].as_bytes());
            }
            for (i, s) in syms.iter().enumerate() {
                assert_eq!(st.index_of(s.as_bytes()), Some(i as u32));
            }
            assert_eq!(st.index_of(b"s00010x"), None);
            assert_eq!(st.index_of(b"a"), None);
        }
    }
}
