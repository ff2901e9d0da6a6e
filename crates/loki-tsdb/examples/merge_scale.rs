//! Scale check for the streaming merge and filter: `gen` writes N
//! synthetic inputs with overlapping series and duplicated chunk refs;
//! `merge` merges them into one file on disk (scratch files next to it);
//! `filter` filters `input-0.tsdb` the way retention does (chunks ending
//! before the middle of the time range go, and every series of namespace
//! `ns-0`) into `filtered.tsdb`. Run the steps as separate processes and
//! measure the second one's peak RSS, e.g. for 1 M series x 10 chunk refs
//! (10 M refs in the merged output):
//!
//! ```text
//! cargo run --release -p loki-tsdb --example merge_scale -- gen /tmp/scale 1000000 10 4
//! /usr/bin/time -v target/release/examples/merge_scale merge /tmp/scale
//! ```
//!
//! and for a 10 M-ref input to filter (one input holds 4/7 of the series,
//! 6 of 10 chunk refs each):
//!
//! ```text
//! cargo run --release -p loki-tsdb --example merge_scale -- gen /tmp/f 2916667 10 1
//! /usr/bin/time -v target/release/examples/merge_scale filter /tmp/f
//! ```
//!
//! `filter-in-memory` does the same through the series cursor and the
//! in-memory builder (what a caller without `filter_in` does), for
//! comparison; both write the same bytes.
//!
//! The "peak heap" it prints counts live heap bytes; the rest of RSS is
//! mapped input and scratch pages, which the merge releases as it goes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use loki_tsdb::{
    filter_in, merge_in, ChunkMeta, FormatVersion, IndexBuilder, IndexReader, IndexView,
    IndexWriter, Labels,
};

type Error = Box<dyn std::error::Error>;

/// Counts live heap bytes and their peak, to tell the merge's own memory
/// apart from the (file-backed, reclaimable) mapped input pages in RSS.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator, which
// upholds the GlobalAlloc contract; we only update two atomic counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same layout as given to us, forwarded to System.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `System.alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn labels(s: u64) -> Labels {
    Labels::new([
        ("app", format!("app-{}", s % 1000)),
        ("instance", format!("i-{s:08}")),
        ("namespace", format!("ns-{}", s % 30)),
    ])
}

/// Input `i` holds series `s` when `(s + i) % 2 == 0` or `s % 7 == 0`,
/// and chunk `j` of it when `(j + i) % 3 != 0`: plenty of overlap.
fn gen(dir: &Path, series: u64, chunks: u64, inputs: u64) -> Result<(), Error> {
    std::fs::create_dir_all(dir)?;
    let mut all: Vec<(u64, u64)> = (0..series).map(|s| (labels(s).fingerprint(), s)).collect();
    all.sort_unstable();
    let mut symbols: Vec<String> = (0..series)
        .flat_map(|s| {
            labels(s)
                .iter()
                .flat_map(|(n, v)| [n.to_owned(), v.to_owned()])
                .collect::<Vec<_>>()
        })
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    let mut total = 0u64;
    for i in 0..inputs {
        let f = std::fs::File::create(dir.join(format!("input-{i}.tsdb")))?;
        let mut w = IndexWriter::new(BufWriter::new(f), FormatVersion::V3, symbols.clone())?;
        let mut ids = Vec::new();
        let mut cs = Vec::new();
        for &(fp, s) in &all {
            if (s + i) % 2 != 0 && s % 7 != 0 {
                continue;
            }
            ids.clear();
            for (n, v) in labels(s).iter() {
                ids.push((
                    w.symbol_index(n).ok_or("symbol")?,
                    w.symbol_index(v).ok_or("symbol")?,
                ));
            }
            cs.clear();
            for j in (0..chunks).filter(|j| (j + i) % 3 != 0) {
                let min = BASE_MS + (j as i64) * 600_000 + (s % 1000) as i64;
                cs.push(ChunkMeta {
                    min_time: min,
                    max_time: min + 900_000,
                    checksum: (s * 31 + j) as u32,
                    kb: 100 + j as u32,
                    entries: 1000,
                    ingested_at: 0,
                });
            }
            total += cs.len() as u64;
            w.add_series(fp, &ids, &cs)?;
        }
        w.finish()?;
    }
    eprintln!("wrote {inputs} inputs, {total} chunk refs in total");
    Ok(())
}

fn merge_dir(dir: &Path) -> Result<(), Error> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tsdb"))
        .filter(|p| !p.to_string_lossy().contains("filtered") && !p.ends_with("merged.tsdb"))
        .collect();
    paths.sort();
    let start = std::time::Instant::now();
    let readers: Vec<IndexReader> = paths
        .iter()
        .map(IndexReader::open)
        .collect::<Result<_, _>>()?;
    let views: Vec<IndexView<'_>> = readers.iter().map(IndexReader::view).collect();
    let out = BufWriter::new(std::fs::File::create(dir.join("merged.tsdb"))?);
    let (_, s) = merge_in(&views, FormatVersion::V3, out, dir)?;
    eprintln!(
        "merged {} inputs: {} series, {} chunk refs, {} bytes in {:?}; peak heap {} MiB, \
         peak RSS {}",
        paths.len(),
        s.series,
        s.chunks,
        s.bytes,
        start.elapsed(),
        PEAK.load(Ordering::Relaxed) >> 20,
        peak_rss_mib()
    );
    Ok(())
}

/// First chunk start of the synthetic data; chunk `j` starts 10 min later.
const BASE_MS: i64 = 1_795_132_800_000;

/// Peak resident set of this process (Linux), for the report line.
fn peak_rss_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kb: u64 = l.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{} MiB", kb >> 10))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// What a retention pass does to the input: refs ending before the cutoff
/// go, and every series of namespace `ns-0` (a per-stream rule).
fn retention(_: u64, labels: &[(&str, &str)], _: u64, chunks: &mut Vec<ChunkMeta>) {
    if labels.contains(&("namespace", "ns-0")) {
        chunks.clear();
    }
    chunks.retain(|c| c.max_time >= BASE_MS + 5 * 600_000);
}

fn filter_dir(dir: &Path) -> Result<(), Error> {
    let start = std::time::Instant::now();
    let r = IndexReader::open(dir.join("input-0.tsdb"))?;
    let toc = *r.toc();
    let out = BufWriter::new(std::fs::File::create(dir.join("filtered.tsdb"))?);
    let (_, s) = filter_in(r.view(), FormatVersion::V3, out, dir, &retention)?;
    eprintln!(
        "filtered {} bytes into {} series, {} chunk refs, {} bytes (TOC {}..{} -> {}..{}) \
         in {:?}; peak heap {} MiB, peak RSS {}",
        r.len(),
        s.series,
        s.chunks,
        s.bytes,
        toc.from,
        toc.through,
        s.from,
        s.through,
        start.elapsed(),
        PEAK.load(Ordering::Relaxed) >> 20,
        peak_rss_mib()
    );
    Ok(())
}

fn filter_in_memory(dir: &Path) -> Result<(), Error> {
    let start = std::time::Instant::now();
    let r = IndexReader::open(dir.join("input-0.tsdb"))?;
    let mut b = IndexBuilder::new(FormatVersion::V3);
    let mut cur = r.view().series()?;
    let mut ordinal = 0;
    while cur.advance()? {
        let labels: Vec<(&str, &str)> = cur.labels().collect();
        let mut chunks = cur.chunks().to_vec();
        retention(ordinal, &labels, cur.fingerprint(), &mut chunks);
        ordinal += 1;
        if !chunks.is_empty() {
            b.add_series(Labels::new(labels), cur.fingerprint(), chunks);
        }
    }
    let out = BufWriter::new(std::fs::File::create(dir.join("filtered-in-memory.tsdb"))?);
    let (_, s) = b.write_to(out)?;
    eprintln!(
        "filtered in memory into {} series, {} chunk refs, {} bytes in {:?}; \
         peak heap {} MiB, peak RSS {}",
        s.series,
        s.chunks,
        s.bytes,
        start.elapsed(),
        PEAK.load(Ordering::Relaxed) >> 20,
        peak_rss_mib()
    );
    Ok(())
}

fn main() -> Result<(), Error> {
    let a: Vec<String> = std::env::args().collect();
    match a.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [_, "gen", dir, series, chunks, inputs] => gen(
            Path::new(dir),
            series.parse()?,
            chunks.parse()?,
            inputs.parse()?,
        ),
        [_, "merge", dir] => merge_dir(Path::new(dir)),
        [_, "filter", dir] => filter_dir(Path::new(dir)),
        [_, "filter-in-memory", dir] => filter_in_memory(Path::new(dir)),
        _ => Err(
            "usage: merge_scale gen <dir> <series> <chunks> <inputs> | merge <dir> \
             | filter <dir> | filter-in-memory <dir>"
                .into(),
        ),
    }
}
