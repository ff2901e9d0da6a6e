//! Scratch storage for the parts of a write or merge that grow with the
//! number of series: byte streams that stay in memory while small and move
//! to an unnamed temporary file beyond a limit, and u32 tables that live
//! in a mapped scratch file when large. Mapped pages can be released from
//! the process (`release`) during long passes so resident memory stays
//! flat; the data stays in the page cache or on disk.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{IndexError, Result};

/// Memory kept by a [`ByteSpill`] before it moves to a file.
pub(crate) const SPILL_LIMIT: usize = 1 << 20;
/// Tables with more entries than this live in a mapped file.
const TABLE_MEM_MAX: usize = 1 << 16;

fn scratch_err(dir: &Option<PathBuf>, e: std::io::Error) -> IndexError {
    let shown = dir
        .as_deref()
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    IndexError::io(format!("scratch file in {}", shown.display()), e)
}

fn new_file(dir: &Option<PathBuf>) -> Result<File> {
    match dir {
        Some(d) => tempfile::tempfile_in(d),
        None => tempfile::tempfile(),
    }
    .map_err(|e| scratch_err(dir, e))
}

/// An append-only byte stream, in memory up to a limit, then in a file.
#[derive(Debug)]
pub(crate) struct ByteSpill {
    mem: Vec<u8>,
    file: Option<BufWriter<File>>,
    limit: usize,
    dir: Option<PathBuf>,
    len: u64,
}

impl ByteSpill {
    pub(crate) fn new(limit: usize, dir: Option<PathBuf>) -> Self {
        ByteSpill {
            mem: Vec::new(),
            file: None,
            limit,
            dir,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn write(&mut self, b: &[u8]) -> Result<()> {
        self.len += b.len() as u64;
        if let Some(f) = &mut self.file {
            return f.write_all(b).map_err(|e| scratch_err(&self.dir, e));
        }
        self.mem.extend_from_slice(b);
        if self.mem.len() > self.limit {
            let mut f = BufWriter::with_capacity(1 << 16, new_file(&self.dir)?);
            f.write_all(&self.mem)
                .map_err(|e| scratch_err(&self.dir, e))?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        Ok(())
    }

    /// Everything written, readable as one slice.
    pub(crate) fn into_blob(self) -> Result<Blob> {
        let Some(f) = self.file else {
            return Ok(Blob::Mem(self.mem));
        };
        let f = f
            .into_inner()
            .map_err(|e| scratch_err(&self.dir, e.into_error()))?;
        // SAFETY: an unnamed scratch file only this value can reach, fully
        // written and never written again while mapped.
        let m = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| scratch_err(&self.dir, e))?;
        Ok(Blob::Map(m))
    }
}

/// Bytes in memory or in a read-only mapping of a scratch file.
#[derive(Debug)]
pub(crate) enum Blob {
    Mem(Vec<u8>),
    Map(memmap2::Mmap),
}

impl std::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Blob::Mem(v) => v,
            Blob::Map(m) => m,
        }
    }
}

impl Blob {
    /// Releases resident pages of a mapped blob (re-read on next access).
    pub(crate) fn release(&self) {
        #[cfg(unix)]
        if let Blob::Map(m) = self {
            // SAFETY: read-only mapping of a scratch file that is never
            // written while mapped: dropping the pages only makes the next
            // access read the same bytes back from the file.
            let _ = unsafe { m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// Writes the bytes to `out` in pieces, releasing mapped pages as it goes.
    pub(crate) fn copy_to(&self, out: &mut impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        for (i, piece) in self.chunks(1 << 20).enumerate() {
            out(piece)?;
            if i % 16 == 15 {
                self.release();
            }
        }
        self.release();
        Ok(())
    }
}

/// A table of `u32`s, zero-initialised: on the heap when small, in a
/// shared mapping of an unnamed scratch file when large.
#[derive(Debug)]
pub(crate) enum U32Table {
    Mem(Vec<u32>),
    Map(memmap2::MmapMut),
}

impl U32Table {
    pub(crate) fn zeroed(n: usize, dir: &Option<PathBuf>) -> Result<Self> {
        if n <= TABLE_MEM_MAX {
            return Ok(U32Table::Mem(vec![0; n]));
        }
        let f = new_file(dir)?;
        f.set_len(n as u64 * 4).map_err(|e| scratch_err(dir, e))?;
        // SAFETY: an unnamed scratch file only this value can reach; all
        // access goes through this one mapping.
        let m = unsafe { memmap2::MmapMut::map_mut(&f) }.map_err(|e| scratch_err(dir, e))?;
        Ok(U32Table::Map(m))
    }

    #[inline]
    pub(crate) fn get(&self, i: u32) -> u32 {
        match self {
            U32Table::Mem(v) => v.get(i as usize).copied().unwrap_or(0),
            U32Table::Map(m) => {
                let at = i as usize * 4;
                m.get(at..at + 4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .unwrap_or(0)
            }
        }
    }

    #[inline]
    pub(crate) fn set(&mut self, i: u32, x: u32) {
        match self {
            U32Table::Mem(v) => {
                if let Some(s) = v.get_mut(i as usize) {
                    *s = x;
                }
            }
            U32Table::Map(m) => {
                let at = i as usize * 4;
                if let Some(b) = m.get_mut(at..at + 4) {
                    b.copy_from_slice(&x.to_le_bytes());
                }
            }
        }
    }

    /// Releases resident pages of a mapped table (re-read on next access).
    pub(crate) fn release(&self) {
        #[cfg(unix)]
        if let U32Table::Map(m) = self {
            // SAFETY: a shared mapping of a file: the pages are the page
            // cache's own, so dropping them from this process loses nothing
            // (written values are re-read from the page cache or the file),
            // and the mapping's address range stays valid.
            let _ = unsafe { m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_and_table_round_trip_through_files() {
        let mut s = ByteSpill::new(10, None);
        for i in 0..1000u32 {
            s.write(&i.to_be_bytes()).unwrap();
        }
        assert_eq!(s.len(), 4000);
        let b = s.into_blob().unwrap();
        assert!(matches!(b, Blob::Map(_)));
        b.release();
        assert_eq!(&b[4 * 999..], &999u32.to_be_bytes());
        let mut t = U32Table::zeroed(TABLE_MEM_MAX + 10, &None).unwrap();
        assert!(matches!(t, U32Table::Map(_)));
        t.set(65_540, 7);
        t.release();
        assert_eq!(t.get(65_540), 7);
        assert_eq!(t.get(3), 0);
    }
}
