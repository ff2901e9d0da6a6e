//! The writer's postings, `(name, value, series ref)` per label of every series, kept in
//! memory up to a limit and spilled to a scratch file in sorted runs beyond it, so writing a
//! table of millions of series does not hold all its postings at once. `finish` reads the
//! runs back through a k-way merge, in the same order an in-memory sort gives.
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};

use crate::error::{IndexError, Result};

/// One posting: name symbol, value symbol, series ref.
pub(crate) type Posting = (u32, u32, u32);

const POSTING_LEN: usize = 12;
/// Default in-memory limit: 3 MiB of postings before a run is spilled.
pub(crate) const DEFAULT_LIMIT: usize = 1 << 18;

fn spill_err(e: std::io::Error) -> IndexError {
    IndexError::io("postings spill file", e)
}

#[derive(Debug)]
pub(crate) struct PostingsBuffer {
    mem: Vec<Posting>,
    limit: usize,
    file: Option<tempfile::NamedTempFile>,
    /// (first posting index, count) of each sorted run in the file.
    runs: Vec<(u64, u64)>,
    spilled: u64,
    /// Where the scratch file goes (`None`: the system temp dir).
    dir: Option<std::path::PathBuf>,
}

impl PostingsBuffer {
    pub(crate) fn new(limit: usize, dir: Option<std::path::PathBuf>) -> Self {
        PostingsBuffer {
            mem: Vec::new(),
            limit: limit.max(1),
            file: None,
            runs: Vec::new(),
            spilled: 0,
            dir,
        }
    }

    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(1);
    }

    pub(crate) fn push(&mut self, p: Posting) -> Result<()> {
        self.mem.push(p);
        if self.mem.len() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        if self.mem.is_empty() {
            return Ok(());
        }
        self.mem.sort_unstable();
        if self.file.is_none() {
            let f = match &self.dir {
                Some(d) => tempfile::NamedTempFile::new_in(d),
                None => tempfile::NamedTempFile::new(),
            };
            self.file = Some(f.map_err(spill_err)?);
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let mut w = std::io::BufWriter::with_capacity(1 << 16, file.as_file_mut());
        for &(n, v, r) in &self.mem {
            let mut rec = [0u8; POSTING_LEN];
            rec[..4].copy_from_slice(&n.to_le_bytes());
            rec[4..8].copy_from_slice(&v.to_le_bytes());
            rec[8..].copy_from_slice(&r.to_le_bytes());
            w.write_all(&rec).map_err(spill_err)?;
        }
        w.flush().map_err(spill_err)?;
        let count = self.mem.len() as u64;
        self.runs.push((self.spilled, count));
        self.spilled += count;
        self.mem.clear();
        self.mem.shrink_to(self.limit.min(1 << 16));
        Ok(())
    }

    /// All postings, sorted; can be iterated more than once.
    pub(crate) fn into_sorted(mut self) -> Result<SortedPostings> {
        if self.runs.is_empty() {
            self.mem.sort_unstable();
            return Ok(SortedPostings::Memory(self.mem));
        }
        self.spill()?;
        match self.file {
            Some(file) => Ok(SortedPostings::Runs {
                file,
                runs: self.runs,
            }),
            None => Ok(SortedPostings::Memory(Vec::new())),
        }
    }
}

#[derive(Debug)]
pub(crate) enum SortedPostings {
    Memory(Vec<Posting>),
    Runs {
        file: tempfile::NamedTempFile,
        runs: Vec<(u64, u64)>,
    },
}

impl SortedPostings {
    /// A fresh pass over all postings in sorted order.
    pub(crate) fn iter(&self) -> Result<PostingsIter<'_>> {
        match self {
            SortedPostings::Memory(v) => Ok(PostingsIter::Memory(v.iter())),
            SortedPostings::Runs { file, runs } => {
                let mut readers = Vec::with_capacity(runs.len());
                let mut heap = BinaryHeap::with_capacity(runs.len());
                for (i, &(start, count)) in runs.iter().enumerate() {
                    let mut f = file.reopen().map_err(spill_err)?;
                    f.seek(SeekFrom::Start(start * POSTING_LEN as u64))
                        .map_err(spill_err)?;
                    let mut r = RunReader {
                        inner: BufReader::with_capacity(1 << 15, f),
                        left: count,
                    };
                    if let Some(p) = r.next_posting()? {
                        heap.push(Reverse((p, i)));
                    }
                    readers.push(r);
                }
                Ok(PostingsIter::Runs { readers, heap })
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct RunReader {
    inner: BufReader<std::fs::File>,
    left: u64,
}

impl RunReader {
    fn next_posting(&mut self) -> Result<Option<Posting>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut rec = [0u8; POSTING_LEN];
        self.inner.read_exact(&mut rec).map_err(spill_err)?;
        self.left -= 1;
        let word = |i: usize| u32::from_le_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]);
        Ok(Some((word(0), word(4), word(8))))
    }
}

pub(crate) enum PostingsIter<'a> {
    Memory(std::slice::Iter<'a, Posting>),
    Runs {
        readers: Vec<RunReader>,
        heap: BinaryHeap<Reverse<(Posting, usize)>>,
    },
}

impl Iterator for PostingsIter<'_> {
    type Item = Result<Posting>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            PostingsIter::Memory(it) => it.next().copied().map(Ok),
            PostingsIter::Runs { readers, heap } => {
                let Reverse((p, i)) = heap.pop()?;
                match readers[i].next_posting() {
                    Ok(Some(next)) => heap.push(Reverse((next, i))),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
                Some(Ok(p))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_runs_merge_to_the_in_memory_order() {
        let data: Vec<Posting> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(7919) % 13, i.wrapping_mul(104_729) % 101, i))
            .collect();
        let mut mem = PostingsBuffer::new(usize::MAX, None);
        let mut spill = PostingsBuffer::new(333, None);
        for &p in &data {
            mem.push(p).unwrap();
            spill.push(p).unwrap();
        }
        let a = mem.into_sorted().unwrap();
        let b = spill.into_sorted().unwrap();
        assert!(matches!(b, SortedPostings::Runs { .. }));
        let a: Vec<_> = a.iter().unwrap().map(|p| p.unwrap()).collect();
        for _ in 0..2 {
            let bb: Vec<_> = b.iter().unwrap().map(|p| p.unwrap()).collect();
            assert_eq!(a, bb);
        }
        assert_eq!(a.len(), data.len());
    }
}
