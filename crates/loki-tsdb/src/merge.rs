//! Streaming k-way merge of index files into one tenant's index: the core
//! of compaction (spec section 18).
//!
//! Inputs are views: a tenant view of each ingester upload plus the whole
//! view of each of that tenant's existing per-tenant files. Series are
//! visited in fingerprint order across inputs; at any time only the series
//! sharing the current fingerprint are held, plus the symbol tables and
//! the writer's postings (12 bytes per series and label, spilled to sorted
//! runs in a scratch file beyond ~1 M of them). Memory does not grow with
//! the number of chunk refs (see `examples/merge_scale.rs`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;

use crate::builder::sort_dedup_chunks;
use crate::chunk_meta::ChunkMeta;
use crate::error::Result;
use crate::reader::RawSeries;
use crate::version::FormatVersion;
use crate::view::IndexView;
use crate::writer::{IndexWriter, WriteSummary};

const UNUSED: u32 = u32::MAX;

/// A small, fast, non-cryptographic hasher for symbol strings (FxHash's
/// multiply-rotate step); keys come from our own inputs, so hash flooding
/// is not a concern worth SipHash's cost.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A series being merged: label symbol ids (output numbering) and chunks.
type Pending = (Vec<(u32, u32)>, Vec<ChunkMeta>);

struct Input<'r> {
    view: IndexView<'r>,
    refs: Vec<u32>,
    pos: usize,
    cur: RawSeries,
    strip: Option<u32>,
    /// Input symbol index -> output symbol index.
    map: Vec<u32>,
}

impl Input<'_> {
    fn advance(&mut self) -> Result<bool> {
        let Some(&r) = self.refs.get(self.pos) else {
            return Ok(false);
        };
        self.pos += 1;
        self.view.reader().decode_series(r, false, &mut self.cur)?;
        Ok(true)
    }
}

/// Pass 1: the output symbol table is the union of the symbols actually
/// used by the inputs' series (the tenant label and other tenants' values
/// must not leak into the output).
fn collect_symbols(inputs: &mut [Input<'_>]) -> Result<Vec<String>> {
    let mut raw = RawSeries::default();
    let mut used_lists: Vec<Vec<u32>> = Vec::with_capacity(inputs.len());
    for inp in inputs.iter_mut() {
        let reader = inp.view.reader();
        let mut used = vec![false; reader.symbol_table().len()];
        for &r in &inp.refs {
            reader.decode_series(r, true, &mut raw)?;
            for &(n, v) in &raw.labels {
                if Some(n) != inp.strip {
                    used[n as usize] = true;
                    used[v as usize] = true;
                }
            }
        }
        used_lists.push(
            used.iter()
                .enumerate()
                .filter(|(_, &u)| u)
                .map(|(i, _)| i as u32)
                .collect(),
        );
        inp.map = vec![UNUSED; used.len()];
    }
    // Union by hashing (inputs share most symbols, so this beats a k-way
    // merge of 48 sorted lists), then sort the distinct symbols once and
    // renumber every input's map into the sorted order.
    let mut index: HashMap<&[u8], u32, BuildHasherDefault<FxHasher>> = HashMap::default();
    let mut distinct: Vec<&[u8]> = Vec::new();
    for (inp, used) in inputs.iter_mut().zip(&used_lists) {
        let reader = inp.view.reader();
        for &sym in used {
            let b = reader.symbol_bytes(sym);
            let id = *index.entry(b).or_insert_with(|| {
                distinct.push(b);
                (distinct.len() - 1) as u32
            });
            inp.map[sym as usize] = id;
        }
    }
    let mut order: Vec<u32> = (0..distinct.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| distinct[a as usize].cmp(distinct[b as usize]));
    let mut rank = vec![0u32; distinct.len()];
    for (pos, &id) in order.iter().enumerate() {
        rank[id as usize] = pos as u32;
    }
    for inp in inputs.iter_mut() {
        for m in inp.map.iter_mut().filter(|m| **m != UNUSED) {
            *m = rank[*m as usize];
        }
    }
    // Validated as UTF-8 when the inputs were opened.
    let out: Vec<String> = order
        .iter()
        .map(|&id| String::from_utf8_lossy(distinct[id as usize]).into_owned())
        .collect();
    Ok(out)
}

/// Merges `views` into one index written to `out`.
///
/// Same result as Loki's compactor for one tenant: series merged by label
/// set, chunk refs de-duplicated on (min, max, checksum) and sorted,
/// fingerprints copied. Two inputs holding one label set under different
/// fingerprints (a collision remap) produce two series here, where Loki
/// keeps the first fingerprint it saw.
pub fn merge<W: Write>(
    views: &[IndexView<'_>],
    version: FormatVersion,
    out: W,
) -> Result<(W, WriteSummary)> {
    let mut inputs = Vec::with_capacity(views.len());
    for v in views {
        inputs.push(Input {
            view: *v,
            refs: v.series_refs()?,
            pos: 0,
            cur: RawSeries::default(),
            strip: v.stripped_label(),
            map: Vec::new(),
        });
    }
    let symbols = collect_symbols(&mut inputs)?;
    let mut w = IndexWriter::new(out, version, symbols)?;

    let mut heap = BinaryHeap::new();
    for (i, inp) in inputs.iter_mut().enumerate() {
        if inp.advance()? {
            heap.push(Reverse((inp.cur.fingerprint, i)));
        }
    }
    let mut group: Vec<Pending> = Vec::new();
    let mut spare: Vec<Pending> = Vec::new();
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
                for &(n, v) in &inp.cur.labels {
                    if Some(n) != inp.strip {
                        labels.push((inp.map[n as usize], inp.map[v as usize]));
                    }
                }
                chunks.extend_from_slice(&inp.cur.chunks);
                group.push((labels, chunks));
                if !inp.advance()? {
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
        spare.append(&mut group);
    }
    w.finish()
}
