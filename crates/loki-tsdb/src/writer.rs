//! Streaming writer: symbols first, then series in order, then everything
//! derived from them (spec sections 3–12 and the pseudo-code of 20).
//!
//! Output goes to any `io::Write` as it is produced. What grows with the
//! number of series waits for `finish` in scratch storage, never as one
//! heap object per series: the symbol table (encoded, in memory while small,
//! in a scratch file beyond that), the postings (12 bytes per series and
//! label, sorted runs in a scratch file beyond ~1 M), the list of all
//! series refs and the postings offset table's entries (scratch streams).

use std::io::Write;
use std::path::PathBuf;

use crate::chunk_meta::{encode_chunks, Bounds, ChunkMeta};
use crate::encode::Encoder;
use crate::error::{IndexError, Result};
use crate::fingerprint_offsets::SAMPLE_EVERY;
use crate::postings_spill::{PostingsBuffer, SortedPostings};
use crate::scratch::{Blob, ByteSpill, SPILL_LIMIT};
use crate::symbol_store::{Cursor, SymbolStore, SymbolsBuilder};
use crate::toc::Toc;
use crate::version::{FormatVersion, MAGIC};

/// What a finished file looks like from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSummary {
    /// Total bytes written.
    pub bytes: u64,
    /// Number of series.
    pub series: u64,
    /// Number of chunk refs.
    pub chunks: u64,
    /// TOC From (ms).
    pub from: i64,
    /// TOC Through (ms).
    pub through: i64,
    /// TOC CRC-32C: the checksum in compacted file names.
    pub checksum: u32,
}

/// Low-level writer. Labels are given as indices into the symbol list
/// passed to [`IndexWriter::new`]; series must come in (fingerprint,
/// labels) order. Most callers want [`crate::IndexBuilder`] instead.
pub struct IndexWriter<W: Write> {
    out: W,
    pos: u64,
    version: FormatVersion,
    symbols: SymbolStore,
    enc: Encoder,
    rec: Encoder,
    scratch: Encoder,
    toc: Toc,
    bounds: Bounds,
    /// (name symbol, value symbol, series ref) for every label of every
    /// series: 12 bytes each, sorted once in `finish` (a map of vectors
    /// costs several times more per entry when most values are unique),
    /// spilled to a scratch file in sorted runs beyond a limit.
    postings: PostingsBuffer,
    /// Every series ref, big-endian: the content of the all-postings list.
    all: ByteSpill,
    series_count: u64,
    fp_samples: Vec<(u64, u64)>,
    prev: Option<(u64, Vec<(u32, u32)>)>,
    chunk_count: u64,
    scratch_dir: Option<PathBuf>,
}

impl<W: Write> std::fmt::Debug for IndexWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexWriter")
            .field("pos", &self.pos)
            .field("version", &self.version)
            .field("series", &self.series_count)
            .finish_non_exhaustive()
    }
}

fn io_err(e: std::io::Error) -> IndexError {
    IndexError::io("", e)
}

impl<W: Write> IndexWriter<W> {
    /// Starts a file: writes the header and the symbol table. `symbols`
    /// must be strictly increasing in byte order.
    pub fn new(out: W, version: FormatVersion, symbols: Vec<String>) -> Result<Self> {
        let mut b = SymbolsBuilder::new(None, true);
        for s in &symbols {
            b.push(s.as_bytes())?;
        }
        drop(symbols);
        Self::with_symbols(out, version, b.finish()?, None)
    }

    /// Starts a file from a symbol table built elsewhere (the merge);
    /// scratch files go to `scratch_dir` (`None`: the system temp dir).
    pub(crate) fn with_symbols(
        out: W,
        version: FormatVersion,
        symbols: SymbolStore,
        scratch_dir: Option<PathBuf>,
    ) -> Result<Self> {
        let mut w = IndexWriter {
            out,
            pos: 0,
            version,
            symbols,
            enc: Encoder::default(),
            rec: Encoder::default(),
            scratch: Encoder::default(),
            toc: Toc::default(),
            bounds: Bounds::default(),
            postings: PostingsBuffer::new(
                crate::postings_spill::DEFAULT_LIMIT,
                scratch_dir.clone(),
            ),
            all: ByteSpill::new(SPILL_LIMIT, scratch_dir.clone()),
            series_count: 0,
            fp_samples: Vec::new(),
            prev: None,
            chunk_count: 0,
            scratch_dir,
        };
        w.enc.be32(MAGIC);
        w.enc.u8(version.as_u8());
        w.flush_enc()?;
        w.toc.symbols = w.pos;
        let body = w.symbols.encoded();
        let len = u32::try_from(4 + body.len())
            .map_err(|_| IndexError::InvalidInput("symbol table exceeds 4 GiB".into()))?;
        w.enc.be32(len);
        w.enc.be32(w.symbols.len() as u32);
        let crc = crc32c::crc32c(&w.enc.buf[4..]);
        w.flush_enc()?;
        let crc = copy_blob(w.symbols.encoded(), &mut w.out, &mut w.pos, crc)?;
        w.enc.be32(crc);
        w.flush_enc()?;
        w.symbols.release();
        w.toc.series = w.pos;
        Ok(w)
    }

    /// Index of a symbol, by binary search.
    pub fn symbol_index(&self, s: &str) -> Option<u32> {
        self.symbols.index_of(s.as_bytes())
    }

    fn flush_enc(&mut self) -> Result<()> {
        self.out.write_all(&self.enc.buf).map_err(io_err)?;
        self.pos += self.enc.len() as u64;
        self.enc.clear();
        Ok(())
    }

    fn pad(&mut self, to: u64) {
        let n = (to - self.pos % to) % to;
        for _ in 0..n {
            self.enc.u8(0);
        }
    }

    /// Appends one series. `labels` are (name, value) symbol indices sorted
    /// by name; `chunks` strictly ascending by (min, max, checksum).
    pub fn add_series(
        &mut self,
        fingerprint: u64,
        labels: &[(u32, u32)],
        chunks: &[ChunkMeta],
    ) -> Result<()> {
        let nsym = self.symbols.len() as u32;
        for w in labels.windows(2) {
            if w[0].0 >= w[1].0 {
                return Err(IndexError::InvalidInput(format!(
                    "labels of series {fingerprint:016x} not sorted by name"
                )));
            }
        }
        if labels.iter().any(|&(n, v)| n >= nsym || v >= nsym) {
            return Err(IndexError::InvalidInput(format!(
                "series {fingerprint:016x} uses a symbol index >= {nsym}"
            )));
        }
        if let Some((pfp, plabels)) = &self.prev {
            if (*pfp, plabels.as_slice()) >= (fingerprint, labels) {
                return Err(IndexError::InvalidInput(format!(
                    "series out of order: {pfp:016x} {plabels:?} then {fingerprint:016x} {labels:?}"
                )));
            }
        }
        self.rec.clear();
        self.rec.be64(fingerprint);
        self.rec.uvarint(labels.len() as u64);
        for &(n, v) in labels {
            self.rec.uvarint(u64::from(n));
            self.rec.uvarint(u64::from(v));
        }
        encode_chunks(
            &mut self.rec,
            &mut self.scratch,
            self.version,
            chunks,
            &mut self.bounds,
        )?;
        self.pad(16);
        let at = self.pos + self.enc.len() as u64;
        let series_ref = u32::try_from(at / 16).map_err(|_| {
            IndexError::InvalidInput("series section exceeds 64 GiB (refs are 32-bit)".into())
        })?;
        if self.series_count % SAMPLE_EVERY as u64 == 0 {
            self.fp_samples.push((u64::from(series_ref), fingerprint));
        }
        self.enc.uvarint(self.rec.len() as u64);
        self.enc.buf.extend_from_slice(&self.rec.buf);
        self.enc.be32(crc32c::crc32c(&self.rec.buf));
        self.flush_enc()?;
        self.all.write(&series_ref.to_be_bytes())?;
        self.series_count += 1;
        for &(n, v) in labels {
            self.postings.push((n, v, series_ref))?;
        }
        self.chunk_count += chunks.len() as u64;
        match &mut self.prev {
            Some((pfp, plabels)) => {
                *pfp = fingerprint;
                plabels.clear();
                plabels.extend_from_slice(labels);
            }
            None => self.prev = Some((fingerprint, labels.to_vec())),
        }
        Ok(())
    }

    /// Writes label indices, postings, the three tables and the TOC.
    pub fn finish(mut self) -> Result<(W, WriteSummary)> {
        self.toc.label_indices = self.pos;
        let pairs =
            std::mem::replace(&mut self.postings, PostingsBuffer::new(1, None)).into_sorted()?;
        // Label indices: one per name, distinct values ascending by symbol index.
        let mut label_index_offsets = Vec::new();
        let mut open: Option<(u32, usize, usize, u32, u32)> = None; // name, frame at, count at, count, last value
        for p in pairs.iter()? {
            let (name, value, _) = p?;
            match &mut open {
                Some((n, _, _, count, last)) if *n == name => {
                    if *last != value {
                        self.enc.be32(value);
                        *last = value;
                        *count += 1;
                    }
                    continue;
                }
                _ => {}
            }
            if let Some((_, at, count_at, count, _)) = open.take() {
                self.close_label_index(at, count_at, count)?;
            }
            self.pad(4);
            label_index_offsets.push((name, self.pos + self.enc.len() as u64));
            let at = self.enc.len();
            self.enc.be32(0);
            self.enc.be32(1);
            let count_at = self.enc.len();
            self.enc.be32(0);
            self.enc.be32(value);
            open = Some((name, at, count_at, 1, value));
        }
        if let Some((_, at, count_at, count, _)) = open.take() {
            self.close_label_index(at, count_at, count)?;
        }
        // The all-postings list, streamed from its scratch copy.
        self.toc.postings = self.pos;
        self.pad(4);
        let all_offset = self.pos + self.enc.len() as u64;
        let all = std::mem::replace(&mut self.all, ByteSpill::new(0, None)).into_blob()?;
        let len = u32::try_from(4 + all.len())
            .map_err(|_| IndexError::InvalidInput("all-postings list exceeds 4 GiB".into()))?;
        self.enc.be32(len);
        let count_at = self.enc.len();
        self.enc.be32(self.series_count as u32);
        let crc = crc32c::crc32c(&self.enc.buf[count_at..]);
        self.flush_enc()?;
        let crc = copy_blob(&all, &mut self.out, &mut self.pos, crc)?;
        drop(all);
        self.enc.be32(crc);
        self.flush_enc()?;
        // The postings offset table's entries are produced with the lists
        // and kept in a scratch stream until the table is written.
        let mut table = ByteSpill::new(SPILL_LIMIT, self.scratch_dir.clone());
        let mut entry = Encoder::default();
        entry.uvarint(2);
        entry.ubytes(b"");
        entry.ubytes(b"");
        entry.uvarint(all_offset);
        table.write(&entry.buf)?;
        let entries = 1 + self.write_postings(&pairs, &mut table)?;
        drop(pairs);
        // Label indices table.
        self.toc.label_indices_table = self.pos;
        let at = self.enc.len();
        self.enc.be32(0);
        self.enc.be32(label_index_offsets.len() as u32);
        let mut cur = Cursor::default();
        for (name, off) in &label_index_offsets {
            self.enc.uvarint(1);
            self.enc.ubytes(self.symbols.get(*name, &mut cur));
            self.enc.uvarint(*off);
        }
        finish_frame(&mut self.enc, at);
        self.flush_enc()?;
        self.symbols.release();
        // Postings offset table: can hold millions of entries, so it is
        // streamed from scratch with its length known and a running CRC.
        self.toc.postings_table = self.pos;
        let len = u32::try_from(4 + table.len())
            .map_err(|_| IndexError::InvalidInput("postings offset table exceeds 4 GiB".into()))?;
        self.enc.be32(len);
        self.enc.be32(entries);
        let crc = crc32c::crc32c(&self.enc.buf[4..]);
        self.flush_enc()?;
        let table = table.into_blob()?;
        let crc = copy_blob(&table, &mut self.out, &mut self.pos, crc)?;
        drop(table);
        self.enc.be32(crc);
        self.flush_enc()?;
        // Fingerprint offsets.
        self.toc.fingerprint_offsets = self.pos;
        let at = self.enc.len();
        self.enc.be32(0);
        self.enc.be32(self.fp_samples.len() as u32);
        for &(r, fp) in &self.fp_samples {
            self.enc.be64(r);
            self.enc.be64(fp);
        }
        finish_frame(&mut self.enc, at);
        self.flush_enc()?;
        self.toc.from = self.bounds.from;
        self.toc.through = self.bounds.through;
        let checksum = self.toc.encode(&mut self.enc);
        self.flush_enc()?;
        self.out.flush().map_err(io_err)?;
        let summary = WriteSummary {
            bytes: self.pos,
            series: self.series_count,
            chunks: self.chunk_count,
            from: self.bounds.from,
            through: self.bounds.through,
            checksum,
        };
        Ok((self.out, summary))
    }
}

impl<W: Write> IndexWriter<W> {
    /// Sets how many postings are held in memory before a sorted run is
    /// spilled to a scratch file (default 256 Ki, 3 MiB). The output
    /// bytes do not depend on it.
    pub fn set_postings_memory_limit(&mut self, postings: usize) {
        self.postings.set_limit(postings);
    }

    fn close_label_index(&mut self, at: usize, count_at: usize, count: u32) -> Result<()> {
        self.enc.patch_be32(count_at, count);
        finish_frame(&mut self.enc, at);
        self.flush_enc()
    }

    /// One postings list per (name, value), in sorted order; appends each
    /// list's postings offset table entry to `table` and returns how many.
    fn write_postings(&mut self, pairs: &SortedPostings, table: &mut ByteSpill) -> Result<u32> {
        let mut refs: Vec<u32> = Vec::new();
        let mut current: Option<(u32, u32)> = None;
        let mut entries = 0u32;
        let (mut names, mut values) = (Cursor::default(), Cursor::default());
        let mut entry = Encoder::default();
        let mut flush_list = |w: &mut Self, (n, v): (u32, u32), refs: &[u32]| -> Result<()> {
            w.pad(4);
            let off = w.pos + w.enc.len() as u64;
            entry.clear();
            entry.uvarint(2);
            entry.ubytes(w.symbols.get(n, &mut names));
            entry.ubytes(w.symbols.get(v, &mut values));
            entry.uvarint(off);
            table.write(&entry.buf)?;
            entries += 1;
            if entries % (1 << 16) == 0 {
                w.symbols.release();
            }
            w.write_postings_list(refs.iter().copied(), refs.len())
        };
        for p in pairs.iter()? {
            let (n, v, r) = p?;
            if current != Some((n, v)) {
                if let Some(c) = current {
                    flush_list(self, c, &refs)?;
                    refs.clear();
                }
                current = Some((n, v));
            }
            refs.push(r);
        }
        if let Some(c) = current {
            flush_list(self, c, &refs)?;
        }
        Ok(entries)
    }

    fn write_postings_list(&mut self, refs: impl Iterator<Item = u32>, n: usize) -> Result<()> {
        let at = self.enc.len();
        self.enc.be32(0);
        self.enc.be32(n as u32);
        for r in refs {
            self.enc.be32(r);
        }
        finish_frame(&mut self.enc, at);
        self.flush_enc()
    }
}

/// Copies `blob` to `out`, extending `crc` over it and advancing `pos`.
fn copy_blob<W: Write>(blob: &Blob, out: &mut W, pos: &mut u64, mut crc: u32) -> Result<u32> {
    blob.copy_to(&mut |piece: &[u8]| {
        crc = crc32c::crc32c_append(crc, piece);
        out.write_all(piece).map_err(io_err)?;
        *pos += piece.len() as u64;
        Ok(())
    })?;
    Ok(crc)
}

/// Patches the length at `at` and appends the CRC of the content after it.
fn finish_frame(e: &mut Encoder, at: usize) {
    let len = e.len() - at - 4;
    e.patch_be32(at, len as u32);
    let crc = crc32c::crc32c(&e.buf[at + 4..]);
    e.be32(crc);
}
