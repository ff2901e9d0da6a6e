//! One `--once` cycle on copies of the golden stores gives the per-tenant indexes Loki's
//! compactor produced (same bytes after gunzip), and no multi-tenant upload is left.

mod common;

use common::*;
use loki_compactor::runner::{Compactor, Options};
use std::collections::BTreeMap;

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

/// A table of many uploads (as after a compactor outage) is merged in groups into scratch
/// files first and the partial merges merged: the per-tenant indexes are byte-identical to
/// one merge of everything (which the tests above hold to Loki's files).
#[test]
fn merging_in_groups_gives_the_same_indexes() {
    use loki_tsdb::{gzip, ChunkMeta, FormatVersion, IndexBuilder, Labels};
    let run = |fan_in: usize| -> BTreeMap<String, Vec<u8>> {
        let tmp = tempfile::tempdir().unwrap();
        let table = tmp.path().join("bucket/index/index_20777");
        std::fs::create_dir_all(&table).unwrap();
        let day_ms: i64 = 20_777 * 86_400_000;
        for u in 0..9u32 {
            let mut b = IndexBuilder::new(FormatVersion::V3);
            for s in 0..40u32 {
                // Tenants and series overlap across uploads; some chunk refs repeat.
                let tenant = if (s + u) % 3 == 0 { "t-b" } else { "t-a" };
                let stream = [("app", format!("a{}", s % 7)), ("pod", format!("p{s}"))];
                let fp = Labels::new(stream.clone()).fingerprint();
                let mut labels = vec![("__loki_tenant__", tenant.to_owned())];
                labels.extend(stream);
                let chunks: Vec<ChunkMeta> = (0..3)
                    .map(|c| {
                        let from = day_ms + i64::from((u % 4) * 3 + c) * 600_000;
                        ChunkMeta {
                            min_time: from,
                            max_time: from + 1000,
                            checksum: s * 31 + (u % 4) * 7 + c,
                            kb: 4,
                            entries: 10,
                            ingested_at: 0,
                        }
                    })
                    .collect();
                b.add_series(Labels::new(labels), fp, chunks);
            }
            let (raw, _) = b.build().unwrap();
            let name = format!("{}-ingester-{u}-{}.tsdb.gz", 1_795_132_800 + u, 1_000 + u);
            std::fs::write(table.join(name), gzip(&raw)).unwrap();
        }
        let yaml = format!(
            "schema_config:\n  configs:\n    - from: \"2026-01-01\"\n      store: tsdb\n      object_store: filesystem\n      schema: v13\n      index: {{ prefix: index_, period: 24h }}\nstorage_config:\n  filesystem:\n    directory: {}\ncompactor:\n  working_directory: {}\n",
            tmp.path().join("bucket").display(),
            tmp.path().join("wd").display()
        );
        let path = tmp.path().join("loki.yaml");
        let cfg = loki_config::LokiConfig::from_yaml(&yaml, &path, false).unwrap();
        let opts = Options {
            merge_fan_in: fan_in,
            output_in_memory_max_bytes: 0,
            ..Default::default()
        };
        let c = Compactor::new(cfg, opts).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let report = rt.block_on(c.run_once()).unwrap();
        assert!(report.pass.failed.is_empty());
        let (idx, common) = index_layout(&tmp.path().join("bucket"));
        assert!(common.is_empty());
        idx.iter()
            .map(|((_, tenant), files)| {
                assert_eq!(files.len(), 1);
                let raw = loki_tsdb::gunzip(&std::fs::read(&files[0]).unwrap()).unwrap();
                (tenant.clone(), raw)
            })
            .collect()
    };
    let whole = run(64);
    assert_eq!(whole.len(), 2, "both tenants compacted");
    assert_eq!(run(2), whole, "merged in two groups first");
    assert_eq!(run(4), whole, "merged in three groups first");
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
