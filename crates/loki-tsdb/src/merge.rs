//! Streaming k-way merge of index files into one tenant's index: the core
//! of compaction (spec section 18).
//!
//! Inputs are views: a tenant view of each ingester upload plus the whole
//! view of each of that tenant's existing per-tenant files. Three
//! sequential passes, none of which holds anything per series on the heap:
//!
//! 1. every input's series are scanned once to mark the symbols they use
//!    (the tenant label and other tenants' values must not leak into the
//!    output), in a per-input table of `u32`s;
//! 2. the inputs' symbol tables, each already sorted, are merged k-way into
//!    the output's table; the same per-input table then maps input symbol
//!    indices to output ones (output order is byte order, so the mapping
//!    keeps label order);
//! 3. series are merged k-way in fingerprint order; only the series sharing
//!    the current fingerprint are held while their chunk refs are merged.
//!
//! The same passes over one input with a [`ChunkFilter`] are the
//! streaming filter ([`crate::filter_in`]): a filtered input yields only
//! the series that keep chunk refs, with only those refs, in both pass 1
//! and pass 3.
//!
//! Symbol maps larger than 64 Ki entries, the output's symbol table, the
//! postings and the postings offset table live in scratch files; the
//! inputs are read through their memory maps, whose pages are released
//! every [`RELEASE_EVERY`] series so resident memory stays flat however
//! large the table (see `examples/merge_scale.rs`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::builder::sort_dedup_chunks;
use crate::chunk_meta::ChunkMeta;
use crate::error::{IndexError, Result, Section};
use crate::filter::ChunkFilter;
use crate::reader::{IndexReader, RawSeries};
use crate::scratch::U32Table;
use crate::symbol_store::SymbolsBuilder;
use crate::symbols::entry_at;
use crate::version::FormatVersion;
use crate::view::IndexView;
use crate::writer::{IndexWriter, WriteSummary};

/// Symbol maps in scratch files (and, with a filter, whole inputs: its
/// symbol lookups are not sequential) are released after this many series.
const RELEASE_EVERY: u64 = 1 << 11;
/// An input's pages behind a forward pass (its series, or its symbol
/// table) are released every time it moves on by this many bytes: a
/// `madvise` call per input per 256 KiB read bounds what every input keeps
/// resident without paying for calls that find nothing to release.
const RELEASE_BYTES: usize = 256 << 10;
/// Many small inputs each stay under [`RELEASE_BYTES`] between their own
/// releases; once what they hold together passes this, the pages behind
/// every one of them are released.
const SWEEP_BYTES: usize = 16 << 20;

/// How far a forward pass over one region of an input (its series, its
/// series refs, its symbol table) has released the pages behind it.
#[derive(Debug, Clone, Copy)]
struct Behind {
    to: usize,
}

impl Behind {
    fn new(at: usize) -> Self {
        Behind { to: at }
    }

    /// The pass has reached file offset `at`.
    #[inline]
    fn reached(&mut self, reader: &IndexReader, at: usize) {
        if at >= self.to + RELEASE_BYTES {
            self.release(reader, at);
        }
    }

    /// Bytes behind `at` not yet released.
    fn pending(&self, at: usize) -> usize {
        at.saturating_sub(self.to)
    }

    /// Releases everything behind `at` now.
    fn release(&mut self, reader: &IndexReader, at: usize) {
        if at > self.to {
            reader.release_range(self.to, at);
            self.to = at;
        }
    }
}

/// A series being merged: label symbol ids (output numbering) and chunks.
type Pending = (Vec<(u32, u32)>, Vec<ChunkMeta>);

struct Input<'r, 'f> {
    view: IndexView<'r>,
    /// Absolute offset of `refs` in the file (for error messages).
    refs_at: usize,
    /// The view's series refs, big-endian, as stored.
    refs: &'r [u8],
    pos: usize,
    cur: RawSeries,
    strip: Option<u32>,
    /// Input symbol index -> 1 + output symbol index (0: unused).
    map: U32Table,
    filter: Option<&'f dyn ChunkFilter>,
    /// Records read in this pass: the next series' ordinal.
    read: u64,
    /// Series that survived the filter in this pass.
    kept: u64,
    /// Series that survived the filter in pass 1.
    kept_marked: u64,
    /// The current series' labels as strings, for the filter.
    names: Vec<(&'r str, &'r str)>,
    /// Offset of the last record read in this pass.
    record_at: usize,
    /// Pages released behind the pass over the series records.
    records_behind: Behind,
    /// Pages released behind the pass over the series refs.
    refs_behind: Behind,
}

impl<'r> Input<'r, '_> {
    fn rewind(&mut self) {
        self.pos = 0;
        self.read = 0;
        self.kept = 0;
        self.record_at = 0;
        self.records_behind = Behind::new(0);
        self.refs_behind = Behind::new(self.refs_at);
    }

    /// Decodes the next series of the view that the filter (if any) leaves
    /// chunk refs to, with only those refs; false at the end.
    fn advance(&mut self, labels_only: bool) -> Result<bool> {
        loop {
            // The filter needs the chunks even in the symbol pass.
            if !self.next_record(labels_only && self.filter.is_none())? {
                return Ok(false);
            }
            let Some(filter) = self.filter else {
                return Ok(true);
            };
            let r: &'r IndexReader = self.view.reader();
            self.names.clear();
            let strip = self.strip;
            self.names.extend(
                self.cur
                    .labels
                    .iter()
                    .filter(|&&(n, _)| Some(n) != strip)
                    .map(|&(n, v)| (r.symbol(n), r.symbol(v))),
            );
            filter.retain(
                self.read - 1,
                &self.names,
                self.cur.fingerprint,
                &mut self.cur.chunks,
            );
            if !self.cur.chunks.is_empty() {
                self.kept += 1;
                return Ok(true);
            }
        }
    }

    /// Decodes the next record of the view; false at the end.
    fn next_record(&mut self, labels_only: bool) -> Result<bool> {
        let Some(b) = self.refs.get(self.pos..self.pos + 4) else {
            return Ok(false);
        };
        let r = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if self.pos > 0 {
            let p = &self.refs[self.pos - 4..self.pos];
            if u32::from_be_bytes([p[0], p[1], p[2], p[3]]) >= r {
                return Err(IndexError::invalid(
                    Section::Postings,
                    self.refs_at + self.pos,
                    "series ref",
                    format!("refs not ascending at {r}"),
                ));
            }
        }
        self.pos += 4;
        self.view
            .reader()
            .decode_series(r, labels_only, &mut self.cur)?;
        self.read += 1;
        // Counted in records read, not series kept, so that a filter
        // dropping long runs of series still releases pages.
        if self.read % RELEASE_EVERY == 0 {
            self.map.release();
            if self.filter.is_some() {
                self.view.reader().release_memory();
            }
        }
        // Refs ascend, so everything before this record is behind the pass.
        let reader = self.view.reader();
        self.record_at = r as usize * 16;
        self.records_behind.reached(reader, self.record_at);
        self.refs_behind.reached(reader, self.refs_at + self.pos);
        Ok(true)
    }

    /// Bytes behind this pass whose pages are not yet released.
    fn unreleased(&self) -> usize {
        self.records_behind.pending(self.record_at)
            + self.refs_behind.pending(self.refs_at + self.pos)
    }

    /// Releases the pages behind this pass (and a mapped symbol map).
    fn release_behind(&mut self) {
        let reader = self.view.reader();
        self.records_behind.release(reader, self.record_at);
        self.refs_behind.release(reader, self.refs_at + self.pos);
        self.map.release();
    }

    /// Output label ids of the current series. Every kept series' symbols
    /// were marked in pass 1 unless the filter answered differently there.
    fn output_labels(&self, out: &mut Vec<(u32, u32)>) -> Result<()> {
        for &(n, v) in &self.cur.labels {
            if Some(n) != self.strip {
                let (n, v) = (self.map.get(n), self.map.get(v));
                if n == 0 || v == 0 {
                    return Err(IndexError::InvalidInput(format!(
                        "chunk filter is not pure: series {:016x} (ordinal {}) kept when writing, \
                         dropped in the symbol pass",
                        self.cur.fingerprint,
                        self.read - 1
                    )));
                }
                out.push((n - 1, v - 1));
            }
        }
        Ok(())
    }

    fn release(&self) {
        self.view.reader().release_memory();
        self.map.release();
    }
}

/// Pass 1: marks the symbols used by each input's series.
fn mark_used(inputs: &mut [Input<'_, '_>]) -> Result<()> {
    for inp in inputs.iter_mut() {
        inp.rewind();
        while inp.advance(true)? {
            for &(n, v) in &inp.cur.labels {
                if Some(n) != inp.strip {
                    inp.map.set(n, 1);
                    inp.map.set(v, 1);
                }
            }
        }
        inp.release();
        inp.kept_marked = inp.kept;
        inp.rewind();
    }
    Ok(())
}

/// Pass 2: the output symbol table, the sorted union of the used symbols,
/// merged from the inputs' sorted tables; fills every input's map.
fn merge_symbols(inputs: &mut [Input<'_, '_>], dir: &Option<PathBuf>) -> Result<SymbolsBuilder> {
    struct SymCursor<'r> {
        reader: &'r IndexReader,
        file: &'r [u8],
        at: usize,
        idx: u32,
        left: usize,
        behind: Behind,
    }
    impl<'r> SymCursor<'r> {
        /// Next used symbol: (index, bytes).
        fn next(&mut self, map: &U32Table) -> Option<(u32, &'r [u8])> {
            self.behind.reached(self.reader, self.at);
            while self.left > 0 {
                let (start, len) = entry_at(self.file, self.at);
                self.at = start + len;
                let idx = self.idx;
                self.idx += 1;
                self.left -= 1;
                if map.get(idx) != 0 {
                    return Some((idx, self.file.get(start..start + len).unwrap_or(&[])));
                }
            }
            None
        }
    }
    let mut cursors: Vec<SymCursor<'_>> = inputs
        .iter()
        .map(|inp| {
            let r = inp.view.reader();
            let (at, left) = r.symbol_table().entries_start();
            SymCursor {
                reader: r,
                file: r.bytes(),
                at,
                idx: 0,
                left,
                behind: Behind::new(at),
            }
        })
        .collect();
    let mut out = SymbolsBuilder::new(dir.clone(), false);
    let mut heap = BinaryHeap::with_capacity(inputs.len());
    for (i, c) in cursors.iter_mut().enumerate() {
        if let Some((idx, b)) = c.next(&inputs[i].map) {
            heap.push(Reverse((b, i, idx)));
        }
    }
    let mut last: Option<&[u8]> = None;
    let mut next_id = 0u32;
    let mut seen = 0u64;
    // The top is replaced in place (one sift) rather than popped and pushed.
    while let Some(mut top) = heap.peek_mut() {
        let Reverse((b, i, idx)) = *top;
        if last != Some(b) {
            out.push(b)?;
            next_id += 1;
            last = Some(b);
        }
        inputs[i].map.set(idx, next_id);
        match cursors[i].next(&inputs[i].map) {
            Some((idx, b)) => *top = Reverse((b, i, idx)),
            None => {
                std::collections::binary_heap::PeekMut::pop(top);
            }
        }
        seen += 1;
        if seen % (RELEASE_EVERY * 8) == 0 {
            inputs.iter().for_each(|inp| inp.map.release());
            // As in pass 3: many small symbol tables, released together.
            if cursors
                .iter()
                .map(|c| c.behind.pending(c.at))
                .sum::<usize>()
                >= SWEEP_BYTES
            {
                cursors
                    .iter_mut()
                    .for_each(|c| c.behind.release(c.reader, c.at));
            }
        }
    }
    inputs.iter().for_each(Input::release);
    Ok(out)
}

/// Merges `views` into one index written to `out`, with scratch files in
/// the system temp directory. See [`merge_in`].
pub fn merge<W: Write>(
    views: &[IndexView<'_>],
    version: FormatVersion,
    out: W,
) -> Result<(W, WriteSummary)> {
    merge_views(views, None, version, out, None)
}

/// Merges `views` into one index written to `out`; scratch files (unnamed,
/// gone when the merge ends) are created in `scratch_dir`.
///
/// Same result as Loki's compactor for one tenant: series merged by label
/// set, chunk refs de-duplicated on (min, max, checksum) and sorted,
/// fingerprints copied. Two inputs holding one label set under different
/// fingerprints (a collision remap) produce two series here, where Loki
/// keeps the first fingerprint it saw.
pub fn merge_in<W: Write>(
    views: &[IndexView<'_>],
    version: FormatVersion,
    out: W,
    scratch_dir: &Path,
) -> Result<(W, WriteSummary)> {
    merge_views(views, None, version, out, Some(scratch_dir.to_path_buf()))
}

/// The three passes over `views`, each read through `filter` if given.
pub(crate) fn merge_views<W: Write>(
    views: &[IndexView<'_>],
    filter: Option<&dyn ChunkFilter>,
    version: FormatVersion,
    out: W,
    dir: Option<PathBuf>,
) -> Result<(W, WriteSummary)> {
    let mut inputs = Vec::with_capacity(views.len());
    for v in views {
        let (refs_at, refs) = v.series_refs_raw()?.unwrap_or((0, &[]));
        inputs.push(Input {
            view: *v,
            refs_at,
            refs,
            pos: 0,
            cur: RawSeries::default(),
            strip: v.stripped_label(),
            map: U32Table::zeroed(v.reader().symbol_table().len(), &dir)?,
            filter,
            read: 0,
            kept: 0,
            kept_marked: 0,
            names: Vec::new(),
            record_at: 0,
            records_behind: Behind::new(0),
            refs_behind: Behind::new(refs_at),
        });
    }
    // Setting up the views looked up symbols and postings all over each
    // input; pass 1 walks one input at a time, so start it from nothing.
    inputs.iter().for_each(Input::release);
    mark_used(&mut inputs)?;
    let symbols = merge_symbols(&mut inputs, &dir)?.finish()?;
    let mut w = IndexWriter::with_symbols(out, version, symbols, dir)?;

    let mut heap = BinaryHeap::new();
    for (i, inp) in inputs.iter_mut().enumerate() {
        if inp.advance(false)? {
            heap.push(Reverse((inp.cur.fingerprint, i)));
        }
    }
    let mut group: Vec<Pending> = Vec::new();
    let mut spare: Vec<Pending> = Vec::new();
    let mut gathered = 0u64;
    while let Some(&Reverse((fp, _))) = heap.peek() {
        // Gather every series with this fingerprint from every input. The
        // heap top is replaced in place (one sift) rather than popped and
        // pushed again.
        while let Some(mut top) = heap.peek_mut() {
            let Reverse((f, i)) = *top;
            if f != fp {
                break;
            }
            let inp = &mut inputs[i];
            let mut next = None;
            loop {
                let (mut labels, mut chunks) = spare.pop().unwrap_or_default();
                labels.clear();
                chunks.clear();
                inp.output_labels(&mut labels)?;
                chunks.extend_from_slice(&inp.cur.chunks);
                group.push((labels, chunks));
                if !inp.advance(false)? {
                    break;
                }
                if inp.cur.fingerprint != fp {
                    next = Some(inp.cur.fingerprint);
                    break;
                }
            }
            match next {
                Some(nfp) => *top = Reverse((nfp, i)),
                None => {
                    std::collections::binary_heap::PeekMut::pop(top);
                }
            }
        }
        // Output symbol ids preserve byte order, so sorting ids sorts labels.
        group.sort_by(|a, b| a.0.cmp(&b.0));
        let mut k = 0;
        while k < group.len() {
            let mut j = k + 1;
            while j < group.len() && group[j].0 == group[k].0 {
                let extra = std::mem::take(&mut group[j].1);
                group[k].1.extend_from_slice(&extra);
                group[j].1 = extra;
                j += 1;
            }
            sort_dedup_chunks(&mut group[k].1);
            w.add_series(fp, &group[k].0, &group[k].1)?;
            k = j;
        }
        // Many small inputs each read less than RELEASE_BYTES between their
        // own releases: every RELEASE_EVERY series read (not written: many
        // inputs may hold the same few series), release behind all of them
        // once together they hold SWEEP_BYTES.
        let before = gathered / RELEASE_EVERY;
        gathered += group.len() as u64;
        if gathered / RELEASE_EVERY != before
            && inputs.iter().map(Input::unreleased).sum::<usize>() >= SWEEP_BYTES
        {
            inputs.iter_mut().for_each(Input::release_behind);
        }
        spare.append(&mut group);
    }
    // What the last stretch touched stays resident otherwise, for as long as the
    // caller keeps its readers (a whole table, for the compactor's uploads).
    inputs.iter().for_each(Input::release);
    for inp in &inputs {
        if inp.kept != inp.kept_marked {
            return Err(IndexError::InvalidInput(format!(
                "chunk filter is not pure: {} series kept in the symbol pass, {} when writing",
                inp.kept_marked, inp.kept
            )));
        }
    }
    drop(inputs);
    w.finish()
}
