//! One `--once` cycle on copies of the golden stores gives the per-tenant indexes Loki's
//! compactor produced (same bytes after gunzip), and no multi-tenant upload is left.

mod common;

use common::*;
use loki_compactor::runner::{Compactor, Options};

fn check(dataset: &str, before: &str, after: &str) {
    check_with(dataset, before, after, Options::default());
}

fn check_with(dataset: &str, before: &str, after: &str, opts: Options) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup(dataset, before, "loki-compactor.yaml", tmp.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = Compactor::new(cfg, opts).unwrap();
    let report = rt.block_on(c.run_once()).unwrap();
    assert!(report.pass.failed.is_empty());

    let ours = tmp.path().join("bucket");
    let want = golden(dataset).join(after);
    let (got_idx, got_common) = index_layout(&ours);
    let (want_idx, want_common) = index_layout(&want);
    assert!(
        got_common.is_empty(),
        "{dataset}: uploads left: {got_common:?}"
    );
    assert!(want_common.is_empty());
    assert_eq!(
        got_idx.keys().collect::<Vec<_>>(),
        want_idx.keys().collect::<Vec<_>>(),
        "{dataset}: (table, tenant) sets differ"
    );
    let mut identical = 0;
    for (k, want_files) in &want_idx {
        let got_files = &got_idx[k];
        assert_eq!(got_files.len(), 1, "{dataset} {k:?}: {got_files:?}");
        assert_eq!(want_files.len(), 1);
        let (g, w) = (&got_files[0], &want_files[0]);
        // Same content: series, fingerprints and chunk refs.
        assert_eq!(series_of(g), series_of(w), "{dataset} {k:?}");
        let gb = loki_tsdb::gunzip(&std::fs::read(g).unwrap()).unwrap();
        let wb = loki_tsdb::gunzip(&std::fs::read(w).unwrap()).unwrap();
        // Names differ only in the creation timestamp.
        let tail = |p: &std::path::Path| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.split_once('-').unwrap().1.to_owned()
        };
        assert_eq!(tail(g), tail(w), "{dataset} {k:?}");
        if gb == wb {
            identical += 1;
        }
    }
    assert_eq!(
        identical,
        want_idx.len(),
        "{dataset}: not all files byte-identical"
    );
    // Chunk objects untouched.
    let chunks = |d: &std::path::Path| {
        files(d)
            .into_iter()
            .filter(|f| !f.starts_with("index/"))
            .collect::<Vec<_>>()
    };
    assert_eq!(chunks(&ours), chunks(&golden(dataset).join(before)));
    // A second cycle changes nothing (no churn).
    let before_files = files(&ours);
    let c2 = rt.block_on(c.run_once()).unwrap();
    assert!(c2.pass.tables.iter().all(|(_, t)| t.uploaded.is_empty()));
    assert_eq!(files(&ours), before_files);
}

#[test]
fn basic_snappy() {
    check("basic-snappy", "store", "store-compacted");
}

#[test]
fn multitenant_gzip() {
    check("multitenant-gzip", "store", "store-compacted");
}

#[test]
fn multitenant_gzip_incremental() {
    check(
        "multitenant-gzip",
        "store-incremental",
        "store-incremental-compacted",
    );
}

#[test]
fn delete_request() {
    check("delete-request", "store", "store-compacted");
}

/// Every input streamed to a scratch file, gunzipped into the working directory and
/// memory-mapped, every output gzipped to a scratch file: same result.
#[test]
fn multitenant_gzip_spilled_inputs() {
    let opts = Options {
        spill_above_bytes: 0,
        output_in_memory_max_bytes: 0,
        stream_downloads_above_bytes: 0,
        ..Default::default()
    };
    check_with("multitenant-gzip", "store", "store-compacted", opts);
}

/// Tables are processed newest first, and the current day's table is compacted like any
/// other (ingesters keep adding uploads to it; Loki does not skip it either).
#[test]
fn newest_first_including_the_current_day() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = multitenant(tmp.path());
    let today = loki_compactor::Clock::system()
        .now_ms()
        .div_euclid(86_400_000);
    let idx = tmp.path().join("bucket/index");
    std::fs::rename(idx.join("index_20776"), idx.join(format!("index_{today}"))).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = Compactor::new(cfg, Options::default()).unwrap();
    let report = rt.block_on(c.run_once()).unwrap();
    let order: Vec<&str> = report.pass.tables.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        order,
        vec![
            format!("index_{today}").as_str(),
            "index_20778",
            "index_20777"
        ]
    );
    let today_report = &report.pass.tables[0].1;
    assert_eq!(today_report.uploaded.len(), 3, "{today_report:?}");
    let (per, uploads) = index_layout(&tmp.path().join("bucket"));
    assert!(uploads.is_empty(), "{uploads:?}");
    assert_eq!(
        per.keys()
            .filter(|(t, _)| *t == format!("index_{today}"))
            .count(),
        3
    );
}
