//! Where a tenant's new index is written before its upload: in memory while it is small,
//! in a scratch file once it passes a cap. Small outputs (most tables) keep the fast path
//! (one libdeflate call, one PUT); large ones never sit on the heap: the raw file is mapped
//! for retention, gzipped file to file and uploaded in parts from disk. So a tenant's output
//! costs at most the cap in memory however large the table grows.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use loki_tsdb::IndexReader;

/// A finished, uncompressed index.
#[derive(Debug)]
pub(crate) enum Output {
    /// Held in memory.
    Mem(Bytes),
    /// In a scratch file (removed when this is dropped).
    File(ScratchFile),
}

/// A scratch file that is removed when dropped, so no error path leaks disk.
#[derive(Debug)]
pub(crate) struct ScratchFile(PathBuf);

impl ScratchFile {
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Output {
    /// A reader over the index (the file is memory-mapped, not read).
    pub(crate) fn reader(&self) -> loki_tsdb::Result<IndexReader> {
        match self {
            Output::Mem(b) => IndexReader::from_bytes(b.clone()),
            Output::File(f) => IndexReader::open(f.path()),
        }
    }
}

/// `Write` sink that buffers up to `cap` bytes and then moves everything to a new file in
/// `dir` (no `dir`: never spills).
pub(crate) struct OutputWriter {
    buf: Vec<u8>,
    cap: usize,
    dir: Option<PathBuf>,
    stem: String,
    file: Option<(ScratchFile, BufWriter<File>)>,
}

impl OutputWriter {
    /// `stem` names the scratch file (made unique here).
    pub(crate) fn new(cap: usize, dir: Option<PathBuf>, stem: &str) -> Self {
        // Reserved, not touched: pages become resident only as they are written, and the
        // buffer never reallocates (which would briefly hold two copies).
        let buf = Vec::with_capacity(if dir.is_some() { cap.min(1 << 30) } else { 0 });
        OutputWriter {
            buf,
            cap,
            dir,
            stem: stem.replace(['/', '\\'], "_"),
            file: None,
        }
    }

    fn spill(&mut self) -> std::io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        std::fs::create_dir_all(dir)?;
        let f = tempfile::Builder::new()
            .prefix(&format!("{}-", self.stem))
            .suffix(".tsdb")
            .tempfile_in(dir)?;
        let (file, path) = f.keep().map_err(|e| e.error)?;
        let scratch = ScratchFile(path);
        let mut w = BufWriter::with_capacity(1 << 20, file);
        w.write_all(&self.buf)?;
        self.buf = Vec::new();
        self.file = Some((scratch, w));
        Ok(())
    }

    /// The finished output.
    pub(crate) fn finish(self) -> std::io::Result<Output> {
        match self.file {
            None => Ok(Output::Mem(Bytes::from(self.buf))),
            Some((scratch, w)) => {
                // Scratch needs no fsync: a crash discards it anyway.
                w.into_inner().map_err(|e| e.into_error())?;
                Ok(Output::File(scratch))
            }
        }
    }
}

impl Write for OutputWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Some((_, w)) = &mut self.file {
            return w.write(data);
        }
        if self.dir.is_some() && self.buf.len() + data.len() > self.cap {
            self.spill()?;
            if let Some((_, w)) = &mut self.file {
                return w.write(data);
            }
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some((_, w)) => w.flush(),
            None => Ok(()),
        }
    }
}

/// Gzips the raw index file `raw` into a new scratch file next to it (streaming: a few
/// buffers in memory).
pub(crate) fn gzip_file(raw: &ScratchFile) -> std::io::Result<ScratchFile> {
    let dir = raw.path().parent().unwrap_or(Path::new("."));
    let (file, path) = tempfile::Builder::new()
        .suffix(".tsdb.gz")
        .tempfile_in(dir)?
        .keep()
        .map_err(|e| e.error)?;
    let gz = ScratchFile(path);
    let mut input = std::io::BufReader::with_capacity(1 << 20, File::open(raw.path())?);
    let mut enc = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 20, file),
        flate2::Compression::default(),
    );
    std::io::copy(&mut input, &mut enc)?;
    enc.finish()?.into_inner().map_err(|e| e.into_error())?;
    Ok(gz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_in_memory_up_to_the_cap_then_spills_everything() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = OutputWriter::new(10, Some(dir.path().to_path_buf()), "t/a");
        w.write_all(b"0123456789").unwrap();
        let Output::Mem(b) = w.finish().unwrap() else {
            panic!("10 bytes fit a cap of 10");
        };
        assert_eq!(&b[..], b"0123456789");

        let mut w = OutputWriter::new(10, Some(dir.path().to_path_buf()), "t/a");
        w.write_all(b"0123456").unwrap();
        w.write_all(b"789ab").unwrap();
        w.write_all(b"cd").unwrap();
        let out = w.finish().unwrap();
        let Output::File(f) = &out else {
            panic!("14 bytes exceed a cap of 10");
        };
        let path = f.path().to_path_buf();
        assert_eq!(std::fs::read(&path).unwrap(), b"0123456789abcd");
        assert!(path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("t_a-"));

        let Output::File(raw) = out else {
            unreachable!()
        };
        let gz = gzip_file(&raw).unwrap();
        let back = loki_tsdb::gunzip(&std::fs::read(gz.path()).unwrap()).unwrap();
        assert_eq!(back, b"0123456789abcd");
        let gz_path = gz.path().to_path_buf();
        drop((raw, gz));
        assert!(!path.exists() && !gz_path.exists(), "scratch files removed");
    }

    #[test]
    fn without_a_directory_it_never_spills() {
        let mut w = OutputWriter::new(4, None, "t");
        w.write_all(b"0123456789").unwrap();
        assert!(matches!(w.finish().unwrap(), Output::Mem(b) if b.len() == 10));
    }
}
