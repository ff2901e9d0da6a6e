//! Criterion benches on the bench corpus (`../shared/bench-corpus/tsdb`,
//! relative to the repository root), the same workloads as Loki's figures
//! in that corpus' README. Skipped when the corpus is absent.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use loki_tsdb::{gunzip, gzip, merge, parse_selector, FormatVersion, IndexReader, IndexView};

const QUERIES: [(&str, &str); 3] = [
    ("query_eq_namespace", r#"{namespace="shop"}"#),
    (
        "query_regex",
        r#"{cluster="prod-eu-1", app=~"api-.*|web-.*"}"#,
    ),
    (
        "query_negative",
        r#"{cluster="prod-us-1", namespace!~"kube-.*|monitoring", stream!="stderr"}"#,
    ),
];
const DAY: (i64, i64) = (1_795_132_800_000, 1_795_219_200_000);

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench-corpus/tsdb");
    if p.join("manifest.json").exists() {
        Some(p)
    } else {
        eprintln!("bench corpus not found at {}; skipping", p.display());
        None
    }
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn reads(c: &mut Criterion) {
    let Some(root) = corpus() else { return };
    let gz = sorted_files(&root.join("compacted/index/index_20777/tenant-a"));
    let raw = gunzip(&std::fs::read(&gz[0]).expect("read compacted")).expect("gunzip");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tenant-a.tsdb");
    std::fs::write(&path, raw).expect("write");

    let mut g = c.benchmark_group("tsdb_read_tenant_a");
    g.bench_function("open_mmap", |b| {
        b.iter(|| black_box(IndexReader::open(&path).expect("open")))
    });
    let r = IndexReader::open(&path).expect("open");
    g.bench_function("iterate_all_series_and_chunks", |b| {
        b.iter(|| {
            let mut cur = r.series().expect("cursor");
            let mut n = 0usize;
            while cur.advance().expect("series") {
                n += cur.chunks().len();
            }
            assert_eq!(n, 120_103);
            n
        })
    });
    for (name, sel) in QUERIES {
        let m = parse_selector(sel).expect("selector");
        g.bench_function(name, |b| {
            b.iter(|| black_box(r.view().chunk_refs(&m, DAY.0, DAY.1, None).expect("query")))
        });
        // Postings work alone (no series decoding): shows how much a faster
        // set representation (e.g. roaring) could save at most.
        g.bench_function(format!("{name}_postings_only"), |b| {
            b.iter(|| black_box(r.view().select_refs(&m).expect("select")))
        });
    }
    g.finish();
}

/// The whole table compaction as Loki's harness measured it: read the 48
/// gzip uploads, decompress, merge per tenant, gzip the outputs. `threads`
/// workers share the decompression and then the tenants (Loki's compactor
/// also works in parallel: its figure is 1.17 s wall for 1.47 s CPU).
fn compact_table(uploads: &[PathBuf], threads: usize) -> usize {
    let mut readers: Vec<Option<IndexReader>> = (0..uploads.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        for (slot, part) in readers
            .chunks_mut(uploads.len().div_ceil(threads))
            .zip(uploads.chunks(uploads.len().div_ceil(threads)))
        {
            s.spawn(move || {
                for (r, p) in slot.iter_mut().zip(part) {
                    *r = Some(IndexReader::open(p).expect("open upload"));
                }
            });
        }
    });
    let readers: Vec<IndexReader> = readers.into_iter().flatten().collect();
    let mut tenants: Vec<String> = readers
        .iter()
        .flat_map(|r| r.tenants().into_iter().map(str::to_owned))
        .collect();
    tenants.sort();
    tenants.dedup();
    let readers = &readers;
    std::thread::scope(|s| {
        let jobs: Vec<_> = tenants
            .chunks(tenants.len().div_ceil(threads).max(1))
            .map(|ts| {
                s.spawn(move || {
                    let mut total = 0;
                    for t in ts {
                        let views: Vec<IndexView<'_>> =
                            readers.iter().map(|r| r.tenant_view(t)).collect();
                        let (bytes, _) =
                            merge(&views, FormatVersion::V3, Vec::new()).expect("merge");
                        total += gzip(&bytes).len();
                    }
                    total
                })
            })
            .collect();
        jobs.into_iter().map(|j| j.join().expect("worker")).sum()
    })
}

fn merges(c: &mut Criterion) {
    let Some(root) = corpus() else { return };
    let uploads = sorted_files(&root.join("uploads/index/index_20777"));
    let mut g = c.benchmark_group("tsdb_compact_index_20777");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("gunzip_merge_gzip_48_uploads_1_thread", |b| {
        b.iter(|| black_box(compact_table(&uploads, 1)))
    });
    g.bench_function("gunzip_merge_gzip_48_uploads_2_threads", |b| {
        b.iter(|| black_box(compact_table(&uploads, 2)))
    });
    g.bench_function("gunzip_only_48_uploads", |b| {
        b.iter(|| {
            for p in &uploads {
                black_box(gunzip(&std::fs::read(p).expect("read")).expect("gunzip"));
            }
        })
    });
    let readers: Vec<IndexReader> = uploads
        .iter()
        .map(|p| IndexReader::open(p).expect("open upload"))
        .collect();
    g.bench_function("merge_only_both_tenants", |b| {
        b.iter(|| {
            for t in ["tenant-a", "tenant-b"] {
                let views: Vec<IndexView<'_>> = readers.iter().map(|r| r.tenant_view(t)).collect();
                black_box(merge(&views, FormatVersion::V3, Vec::new()).expect("merge"));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, reads, merges);
criterion_main!(benches);
