//! Opening an index file and reading its sections and series records.
//!
//! Opening checks the header and the CRCs of the TOC, symbol table, postings
//! offset table and fingerprint offsets table (what Loki checks on open);
//! every series record and postings list is CRC-checked when read.

use std::io::Read;
use std::path::Path;

use bytes::Bytes;

use crate::chunk_meta::{check_markers, decode_chunks, ChunkMeta};
use crate::decode::{framed, Decoder};
use crate::error::{CorruptKind, IndexError, Result, Section};
use crate::fingerprint_offsets::FingerprintOffsets;
use crate::labels::{Labels, Series};
use crate::postings_table::{read_postings, PostingsTable};
use crate::symbols::Symbols;
use crate::toc::Toc;
use crate::version::{FormatVersion, MAGIC};

/// Mapped files larger than this drop the pages read while opening.
const RELEASE_AFTER_OPEN: usize = 16 << 20;

/// Label that marks a series' tenant in ingester (multi-tenant) files.
pub const TENANT_LABEL: &str = "__loki_tenant__";

enum Backing {
    Mmap(memmap2::Mmap),
    Bytes(Bytes),
}

impl std::ops::Deref for Backing {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Backing::Mmap(m) => m,
            Backing::Bytes(b) => b,
        }
    }
}

/// An opened index file (from a memory map or from bytes).
pub struct IndexReader {
    data: Backing,
    version: FormatVersion,
    toc: Toc,
    symbols: Symbols,
    postings: PostingsTable,
    fp_offsets: FingerprintOffsets,
}

impl std::fmt::Debug for IndexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader")
            .field("len", &self.data.len())
            .field("version", &self.version)
            .field("toc", &self.toc)
            .finish_non_exhaustive()
    }
}

fn is_gzip(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] == 0x1f && b[1] == 0x8b
}

/// Decompresses a gzip object (what Loki uploads) into the raw index bytes.
pub fn gunzip(b: &[u8]) -> Result<Vec<u8>> {
    // Fast path: libdeflate on a single-member stream whose trailer gives
    // the size (Loki writes exactly that). The size is trusted only up to
    // deflate's maximum ratio (~1032:1), so a forged trailer cannot make
    // us allocate more than the input could possibly expand to.
    if b.len() >= 18 {
        let t = &b[b.len() - 4..];
        let isize = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize;
        if isize <= b.len().saturating_mul(1040) {
            let mut out = vec![0u8; isize];
            let mut d = libdeflater::Decompressor::new();
            if let Ok(n) = d.gzip_decompress(b, &mut out) {
                if n == isize {
                    return Ok(out);
                }
            }
        }
    }
    // General path: multi-member streams, sizes above 4 GiB, odd trailers.
    let mut out = Vec::with_capacity(b.len() * 2);
    flate2::read::MultiGzDecoder::new(b)
        .read_to_end(&mut out)
        .map_err(|e| IndexError::invalid(Section::Gzip, 0, "gzip stream", e.to_string()))?;
    Ok(out)
}

/// Compresses raw index bytes the way they are uploaded (gzip). Any gzip
/// encoder is fine for Loki; only the content matters.
///
/// libdeflate's fastest level: index files are mostly chunk refs (random
/// checksums, packed times) that no level compresses much, and at level 1
/// the output is still no larger than what Go's default level gives Loki's
/// own files (bench corpus: 2.86 vs 2.88 MB), at two thirds of the CPU of
/// libdeflate's default level 6 (which would save another 3%).
pub fn gzip(raw: &[u8]) -> Vec<u8> {
    // Level 1 (`CompressionLvl::fastest` is 0: stored, uncompressed).
    let level = libdeflater::CompressionLvl::new(1).unwrap_or_default();
    let mut c = libdeflater::Compressor::new(level);
    let mut out = vec![0u8; c.gzip_compress_bound(raw.len())];
    match c.gzip_compress(raw, &mut out) {
        Ok(n) => {
            out.truncate(n);
            out
        }
        // Cannot happen with a bound-sized buffer; fall back to flate2.
        Err(_) => {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let _ = e.write_all(raw);
            e.finish().unwrap_or_default()
        }
    }
}

enum GunzipError {
    Io(std::io::Error),
    Data(String),
}

/// Objects up to this raw size are decompressed in one go by libdeflate;
/// larger ones stream, so that several downloads decompressing at once
/// never hold more than this each.
const GUNZIP_BUFFERED_MAX: usize = 8 << 20;
/// Size of the writes that fill a scratch file.
const WRITE_PIECE: usize = 64 << 10;

/// Decompresses `gz` into `file`. Loki's single-member objects of up to
/// [`GUNZIP_BUFFERED_MAX`] go through libdeflate into a buffer of the size
/// the gzip trailer gives, written to the file in one call and freed;
/// anything else streams through flate2 in bounded memory. (Decompressing
/// straight into a writable shared mapping of the file avoids the copy but
/// costs a third more CPU: every page goes through the file system's
/// write-fault path.)
fn gunzip_into_file(gz: &[u8], file: &mut std::fs::File) -> std::result::Result<(), GunzipError> {
    if gz.len() >= 18 {
        let t = &gz[gz.len() - 4..];
        let isize = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize;
        // Same bound as `gunzip`: a forged trailer cannot make us allocate
        // more than deflate could expand the input to.
        if isize > 0 && isize <= gz.len().saturating_mul(1040) && isize <= GUNZIP_BUFFERED_MAX {
            // An anonymous mapping rather than a `Vec`: its pages go back to
            // the system when it is dropped, where the allocator would keep a
            // freed buffer of this size resident in the thread's arena.
            let mut out = memmap2::MmapOptions::new()
                .len(isize)
                .populate()
                .map_anon()
                .map_err(GunzipError::Io)?;
            let mut d = libdeflater::Decompressor::new();
            if let Ok(n) = d.gzip_decompress(gz, &mut out) {
                if n == isize {
                    // In pieces: the page cache sizes its folios by the
                    // write, and a read fault maps a whole folio, so one
                    // large write would make every page touched by the
                    // merge cost up to the whole file in resident memory.
                    for piece in out.chunks(WRITE_PIECE) {
                        std::io::Write::write_all(file, piece).map_err(GunzipError::Io)?;
                    }
                    return Ok(());
                }
            }
        }
    }
    use std::io::{Seek, Write};
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(GunzipError::Io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut *file);
    std::io::copy(&mut flate2::read::MultiGzDecoder::new(gz), &mut w)
        .map_err(|e| GunzipError::Data(e.to_string()))?;
    w.flush().map_err(GunzipError::Io)?;
    Ok(())
}

impl IndexReader {
    /// Opens index bytes fetched from anywhere; gzip is detected by its magic.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Result<Self> {
        let bytes: Bytes = bytes.into();
        let bytes = if is_gzip(&bytes) {
            Bytes::from(gunzip(&bytes)?)
        } else {
            bytes
        };
        Self::from_backing(Backing::Bytes(bytes))
    }

    /// Opens a file: `.tsdb` files are memory-mapped, gzip files are
    /// decompressed into memory.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| IndexError::io(&shown, e))?;
        // SAFETY: `Mmap::map` is unsafe because the mapped file could be
        // changed or truncated by another process while we hold a `&[u8]` to
        // it. Index files are immutable once written: Loki and this crate
        // always write a new name and never modify or reuse one (spec 15.2),
        // so the bytes cannot change under us in any supported deployment.
        // Callers who cannot rule that out should use `from_bytes`.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| IndexError::io(&shown, e))?;
        if is_gzip(&map) {
            return Self::from_bytes(Bytes::from(gunzip(&map)?));
        }
        Self::from_backing(Backing::Mmap(map))
    }

    /// Opens a file like [`IndexReader::open`], but decompresses gzip
    /// objects into a file in `scratch_dir` and maps that, so a table of
    /// large uploads does not have to fit in memory. The scratch file is
    /// unlinked right after mapping (the mapping keeps the data alive).
    pub fn open_spilled(path: impl AsRef<Path>, scratch_dir: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let mut file = std::fs::File::open(path).map_err(|e| IndexError::io(&shown, e))?;
        let mut magic = [0u8; 2];
        let is_gz = file.read_exact(&mut magic).is_ok() && is_gzip(&magic);
        if !is_gz {
            return Self::open(path);
        }
        drop(file);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = scratch_dir
            .as_ref()
            .join(format!(".{name}.{}.raw", std::process::id()));
        let shown_tmp = tmp.display().to_string();
        {
            let src = std::fs::File::open(path).map_err(|e| IndexError::io(&shown, e))?;
            let mut dst = std::fs::File::create(&tmp).map_err(|e| IndexError::io(&shown_tmp, e))?;
            let mut dec = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(src));
            std::io::copy(&mut dec, &mut dst).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                IndexError::invalid(Section::Gzip, 0, "gzip stream", format!("{shown}: {e}"))
            })?;
        }
        let r = Self::open(&tmp);
        let _ = std::fs::remove_file(&tmp);
        r
    }

    fn from_backing(data: Backing) -> Result<Self> {
        let file: &[u8] = &data;
        let mut d = Decoder::new(file, 0, Section::Header);
        let magic = d.be32("magic")?;
        if magic != MAGIC {
            return Err(IndexError::invalid(
                Section::Header,
                0,
                "magic",
                format!("{magic:08x}, expected {MAGIC:08x}"),
            ));
        }
        let version = FormatVersion::try_from(d.u8("version")?)?;
        let toc = Toc::parse(file)?;
        let off = |o: u64, s: Section| -> Result<usize> {
            usize::try_from(o).map_err(|_| IndexError::invalid(s, 0, "offset", format!("{o}")))
        };
        let symbols = Symbols::parse(file, off(toc.symbols, Section::Symbols)?)?;
        let postings =
            PostingsTable::parse(file, off(toc.postings_table, Section::PostingsTable)?)?;
        let fp_offsets = FingerprintOffsets::parse(
            file,
            off(toc.fingerprint_offsets, Section::FingerprintOffsets)?,
        )?;
        let r = IndexReader {
            data,
            version,
            toc,
            symbols,
            postings,
            fp_offsets,
        };
        // Opening read the symbol and postings offset tables end to end;
        // for a large mapped file, do not keep those pages resident.
        if r.data.len() > RELEASE_AFTER_OPEN {
            r.release_memory();
        }
        Ok(r)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Drops this process's resident copy of a memory-mapped file's pages;
    /// they are read back from the page cache (or disk) when next touched.
    /// A long sequential pass (a merge) calls this now and then so that its
    /// resident memory does not grow with the size of its inputs. No-op for
    /// readers over bytes in memory.
    pub fn release_memory(&self) {
        #[cfg(unix)]
        if let Backing::Mmap(m) = &self.data {
            // SAFETY: `m` is a read-only mapping of a file that is never
            // written while mapped (see `open`). MADV_DONTNEED on such a
            // mapping only unmaps the pages: the mapping's address range
            // stays valid and the next access faults in the same bytes from
            // the file, so every `&[u8]` borrowed from it stays valid and
            // unchanged. A failure only means the pages stay resident.
            let _ = unsafe { m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// Like [`IndexReader::release_memory`], for the whole pages inside
    /// `start..end` (byte offsets, clamped to the file): what a forward
    /// pass has left behind, at a cost proportional to that range.
    pub(crate) fn release_range(&self, start: usize, end: usize) {
        #[cfg(unix)]
        if let Backing::Mmap(m) = &self.data {
            const PAGE: usize = 4096;
            let start = start.next_multiple_of(PAGE);
            let end = end.min(m.len()) / PAGE * PAGE;
            if end > start {
                // SAFETY: as in `release_memory`: a read-only mapping of a
                // file never written while mapped; dropping pages in range
                // only makes the next access fault the same bytes back in.
                let _ = unsafe {
                    m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
                };
            }
        }
    }

    /// Decompresses a gzip object into a scratch file in `scratch_dir` and
    /// maps it: the raw index never sits on the heap, and its pages can be
    /// released with [`IndexReader::release_memory`]. The file is unlinked
    /// at once (the mapping keeps it alive until the reader is dropped).
    /// Bytes that are not gzip are written out as they are.
    pub fn from_gzip_in(gz: &[u8], scratch_dir: impl AsRef<Path>) -> Result<Self> {
        let dir = scratch_dir.as_ref();
        let shown = dir.display().to_string();
        let io = |e| IndexError::io(&shown, e);
        let mut file = tempfile::tempfile_in(dir).map_err(io)?;
        if !is_gzip(gz) {
            std::io::Write::write_all(&mut file, gz).map_err(io)?;
        } else {
            gunzip_into_file(gz, &mut file).map_err(|e| match e {
                GunzipError::Io(e) => io(e),
                GunzipError::Data(m) => IndexError::invalid(Section::Gzip, 0, "gzip stream", m),
            })?;
        }
        // SAFETY: an unnamed scratch file only this function can reach; it
        // is never written after this point (see `open` for the contract).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let r = Self::from_backing(Backing::Mmap(map))?;
        // Opening read the symbol and postings offset tables: drop those
        // pages, which a table of many inputs would otherwise keep resident
        // until the merge gets to each of them.
        r.release_memory();
        Ok(r)
    }

    /// Like [`IndexReader::from_gzip_in`], for an index read from a stream (e.g. a
    /// download being written to a local file): neither the compressed nor the raw bytes
    /// ever sit on the heap. Gzip is detected by its magic; other bytes are copied as they
    /// are.
    pub fn from_gzip_reader_in(
        mut reader: impl std::io::BufRead,
        scratch_dir: impl AsRef<Path>,
    ) -> Result<Self> {
        let dir = scratch_dir.as_ref();
        let shown = dir.display().to_string();
        let io = |e| IndexError::io(&shown, e);
        let file = tempfile::tempfile_in(dir).map_err(io)?;
        let gz = is_gzip(reader.fill_buf().map_err(io)?);
        let mut w = std::io::BufWriter::with_capacity(1 << 16, &file);
        if gz {
            std::io::copy(&mut flate2::bufread::MultiGzDecoder::new(reader), &mut w)
                .map_err(|e| IndexError::invalid(Section::Gzip, 0, "gzip stream", e.to_string()))?;
        } else {
            std::io::copy(&mut reader, &mut w).map_err(io)?;
        }
        std::io::Write::flush(&mut w).map_err(io)?;
        drop(w);
        // SAFETY: an unnamed scratch file only this function can reach; it
        // is never written after this point (see `open` for the contract).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let r = Self::from_backing(Backing::Mmap(map))?;
        // Opening read the symbol and postings offset tables: drop those
        // pages, which a table of many inputs would otherwise keep resident
        // until the merge gets to each of them.
        r.release_memory();
        Ok(r)
    }

    /// Format version of this file.
    pub fn version(&self) -> FormatVersion {
        self.version
    }

    /// The table of contents (offsets, time bounds, checksum).
    pub fn toc(&self) -> &Toc {
        &self.toc
    }

    /// Size of the (decompressed) file in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Never true for a file that opened (it has at least a header and TOC).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// All symbols, in file order (byte order).
    pub fn symbols(&self) -> impl Iterator<Item = &str> + '_ {
        // Validated as UTF-8 at open.
        self.symbols
            .iter(&self.data)
            .map(|b| std::str::from_utf8(b).unwrap_or(""))
    }

    pub(crate) fn symbol_table(&self) -> &Symbols {
        &self.symbols
    }

    pub(crate) fn symbol(&self, i: u32) -> &str {
        self.symbols.get(&self.data, i).unwrap_or("")
    }

    /// Every postings offset table entry: (name, value, list offset).
    pub fn postings_entries(&self) -> impl Iterator<Item = (&str, &str, u64)> + '_ {
        self.postings.entries(&self.data)
    }

    /// Label names present in the file (the postings table, without the
    /// all-postings key), in byte order. Includes `__loki_tenant__` in
    /// multi-tenant files.
    pub fn label_names(&self) -> Vec<&str> {
        self.postings
            .names(&self.data)
            .filter(|n| !n.is_empty())
            .collect()
    }

    /// Values of a label name, in byte order.
    pub fn label_values(&self, name: &str) -> Vec<&str> {
        self.postings
            .values(&self.data, name)
            .map(|(v, _)| v)
            .collect()
    }

    pub(crate) fn label_values_with_offsets(
        &self,
        name: &str,
    ) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.postings.values(&self.data, name)
    }

    /// The series refs of a (name, value) pair; empty when absent.
    /// `("", "")` is the list of all series.
    pub fn postings(&self, name: &str, value: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        if let Some(off) = self.postings.find(&self.data, name, value) {
            read_postings(&self.data, off, &mut out)?;
        }
        Ok(out)
    }

    pub(crate) fn postings_offset(&self, name: &str, value: &str) -> Option<u64> {
        self.postings.find(&self.data, name, value)
    }

    pub(crate) fn postings_at(&self, offset: u64, out: &mut Vec<u32>) -> Result<()> {
        read_postings(&self.data, offset, out)
    }

    /// Refs of every series, ascending (= fingerprint order).
    pub fn all_series_refs(&self) -> Result<Vec<u32>> {
        self.postings("", "")
    }

    /// The fingerprint offsets table: (series ref, fingerprint) samples.
    pub fn fingerprint_samples(&self) -> &[(u64, u64)] {
        &self.fp_offsets.samples
    }

    pub(crate) fn fp_offsets(&self) -> &FingerprintOffsets {
        &self.fp_offsets
    }

    /// True when the series carry `__loki_tenant__` (ingester uploads).
    pub fn is_multi_tenant(&self) -> bool {
        self.postings.has_name(&self.data, TENANT_LABEL)
    }

    /// Tenants of a multi-tenant file (empty for per-tenant files).
    pub fn tenants(&self) -> Vec<&str> {
        self.label_values(TENANT_LABEL)
    }

    /// Decodes the series with the given ref into `out`.
    pub(crate) fn decode_series(
        &self,
        series_ref: u32,
        labels_only: bool,
        out: &mut RawSeries,
    ) -> Result<()> {
        let file: &[u8] = &self.data;
        let at = series_ref as usize * 16;
        if at >= file.len() {
            return Err(IndexError::invalid(
                Section::Series,
                at,
                "series ref",
                format!("{series_ref} points past the end of the file"),
            ));
        }
        let mut d = Decoder::new(&file[at..], at, Section::Series);
        let len = d.uvarint("record length")?;
        let len = usize::try_from(len).map_err(|_| d.truncated("record"))?;
        let content_at = d.offset();
        let content = d.take(len, "record content")?;
        let stored = d.be32("record checksum")?;
        // A labels-only decode feeds just the merge's symbol pass; the full
        // decode of the same record that follows checks the CRC before
        // anything derived from it is written.
        let computed = if labels_only {
            stored
        } else {
            crc32c::crc32c(content)
        };
        if stored != computed {
            return Err(IndexError::corrupt(
                Section::Series,
                at,
                CorruptKind::BadChecksum { stored, computed },
            ));
        }
        let mut d = Decoder::new(content, content_at, Section::Series);
        out.series_ref = series_ref;
        out.fingerprint = d.be64("fingerprint")?;
        let n = d.uvarint("label count")?;
        if n > d.remaining() as u64 / 2 {
            return Err(d.invalid(
                "label count",
                format!("{n} labels in {} bytes", d.remaining()),
            ));
        }
        out.labels.clear();
        out.chunks.clear();
        for _ in 0..n {
            let name = d.uvarint("label name symbol")?;
            let name = self.symbols.check(&d, name)?;
            let value = d.uvarint("label value symbol")?;
            let value = self.symbols.check(&d, value)?;
            out.labels.push((name, value));
        }
        if !labels_only {
            out.chunks_at = d.offset();
            decode_chunks(&mut d, self.version, &mut out.chunks)?;
        }
        out.trailing = d.remaining();
        out.end = d.offset();
        Ok(())
    }

    /// Reads one series by ref, with owned labels.
    pub fn series_at(&self, series_ref: u32) -> Result<Series> {
        let mut raw = RawSeries::default();
        self.decode_series(series_ref, false, &mut raw)?;
        Ok(self.to_series(&raw, None))
    }

    pub(crate) fn to_series(&self, raw: &RawSeries, strip: Option<u32>) -> Series {
        Series {
            fingerprint: raw.fingerprint,
            labels: Labels::from_sorted(
                raw.labels
                    .iter()
                    .filter(|(n, _)| Some(*n) != strip)
                    .map(|&(n, v)| (self.symbol(n).to_owned(), self.symbol(v).to_owned()))
                    .collect(),
            ),
            chunks: raw.chunks.clone(),
        }
    }

    /// A cursor over every series in file order.
    pub fn series(&self) -> Result<SeriesCursor<'_>> {
        Ok(SeriesCursor::new(self, self.all_series_refs()?, None))
    }

    /// Checks every CRC in the file, including the sections Loki never
    /// reads (label indices, label indices table), and decodes every series.
    pub fn verify(&self) -> Result<()> {
        let file: &[u8] = &self.data;
        self.symbols.check_order(file)?;
        self.postings.check(file)?;
        let lit = usize::try_from(self.toc.label_indices_table).unwrap_or(usize::MAX);
        let mut d = framed(file, lit, Section::LabelIndicesTable)?;
        let n = d.be32("entry count")?;
        for _ in 0..n {
            let _keys = d.uvarint("key count")?;
            let _name = d.ustr("label name")?;
            let off = d.uvarint("label index offset")?;
            let off = usize::try_from(off).unwrap_or(usize::MAX);
            framed(file, off, Section::LabelIndex)?;
        }
        let mut refs = Vec::new();
        for (_, _, off) in self.postings.entries(file) {
            read_postings(file, off, &mut refs)?;
        }
        // Every record must be consumed exactly: leftovers mean the version
        // byte (not covered by any checksum) does not match the records.
        // V3/V4 zero-chunk records legitimately keep their page-count byte.
        let mut cur = self.series()?;
        while cur.advance()? {
            let raw = &cur.cur;
            let quirk = self.version != FormatVersion::V2 && raw.chunks.is_empty();
            if self.version != FormatVersion::V2 {
                let list = &file[raw.chunks_at..raw.end + raw.trailing];
                let mut d = Decoder::new(list, raw.chunks_at, Section::Series);
                check_markers(&mut d, self.version, &raw.chunks)?;
            }
            if raw.trailing > usize::from(quirk) {
                return Err(IndexError::invalid(
                    Section::Series,
                    raw.end,
                    "record length",
                    format!(
                        "{} bytes left after the chunk list (is the version byte {} right?)",
                        raw.trailing, self.version
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A decoded series record with labels as symbol indices.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawSeries {
    /// Absolute offset of the chunk list (for `verify`'s marker check).
    pub(crate) chunks_at: usize,
    pub(crate) series_ref: u32,
    pub(crate) fingerprint: u64,
    pub(crate) labels: Vec<(u32, u32)>,
    pub(crate) chunks: Vec<ChunkMeta>,
    /// Record bytes left after decoding (only meaningful for full decodes).
    pub(crate) trailing: usize,
    /// Absolute offset where decoding stopped.
    pub(crate) end: usize,
}

/// Walks a list of series refs, decoding one record at a time into a
/// reused buffer (no allocation per series once warmed up).
pub struct SeriesCursor<'r> {
    reader: &'r IndexReader,
    refs: Vec<u32>,
    pos: usize,
    cur: RawSeries,
    /// Symbol of a label name to hide (the tenant label in tenant views).
    strip: Option<u32>,
}

impl std::fmt::Debug for SeriesCursor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesCursor")
            .field("pos", &self.pos)
            .field("len", &self.refs.len())
            .finish_non_exhaustive()
    }
}

impl<'r> SeriesCursor<'r> {
    pub(crate) fn new(reader: &'r IndexReader, refs: Vec<u32>, strip: Option<u32>) -> Self {
        SeriesCursor {
            reader,
            refs,
            pos: 0,
            cur: RawSeries::default(),
            strip,
        }
    }

    /// Number of series this cursor walks.
    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// True if the cursor walks no series.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// Moves to the next series; false at the end.
    pub fn advance(&mut self) -> Result<bool> {
        let Some(&r) = self.refs.get(self.pos) else {
            return Ok(false);
        };
        self.pos += 1;
        self.reader.decode_series(r, false, &mut self.cur)?;
        Ok(true)
    }

    /// Series ref (byte offset / 16) of the current series.
    pub fn series_ref(&self) -> u32 {
        self.cur.series_ref
    }

    /// Stored fingerprint of the current series.
    pub fn fingerprint(&self) -> u64 {
        self.cur.fingerprint
    }

    /// Labels of the current series, sorted by name.
    pub fn labels(&self) -> impl Iterator<Item = (&'r str, &'r str)> + '_ {
        let r = self.reader;
        self.cur
            .labels
            .iter()
            .filter(move |(n, _)| Some(*n) != self.strip)
            .map(move |&(n, v)| (r.symbol(n), r.symbol(v)))
    }

    /// Chunk refs of the current series.
    pub fn chunks(&self) -> &[ChunkMeta] {
        &self.cur.chunks
    }

    /// The current series as an owned value.
    pub fn to_series(&self) -> Series {
        self.reader.to_series(&self.cur, self.strip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gunzip_handles_multi_member_and_forged_sizes() {
        let (a, b) = (b"first member ".repeat(50), b"second".repeat(70));
        let mut both = gzip(&a);
        both.extend_from_slice(&gzip(&b));
        assert_eq!(gunzip(&both).unwrap(), [a.clone(), b].concat());
        // A trailer claiming 4 GiB must not be trusted for the allocation.
        let mut forged = gzip(&a);
        let n = forged.len();
        forged[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(gunzip(&forged).is_err());
    }
}
