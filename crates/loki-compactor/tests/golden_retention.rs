//! Retention on the golden `retention` dataset: the same instants as Loki's run are the
//! cutoffs (the clock is set to the run's retention pass, 2026-11-25T13:17:25.795Z, from
//! the MANIFEST's log line "overall smallest retention cutoff timestamp 1795526245.795"
//! = now − 24h). Exactly the chunks of `deleted-chunks.tsv` are marked, removed from the
//! indexes, and deleted by the sweeper once `retention_delete_delay` (30s) has passed,
//! not before.

mod common;

use std::collections::BTreeSet;

use common::*;
use loki_bucket::compactor_state;
use loki_compactor::markers::{MarkerFormat, MarkerSource};
use loki_compactor::runner::{Compactor, Options};
use loki_compactor::Clock;

const RUN_NS: i64 = 1_795_612_645_795_000_000;

fn deleted() -> BTreeSet<String> {
    retention_deleted_chunks()
}

fn chunk_files(store: &std::path::Path) -> BTreeSet<String> {
    files(store)
        .into_iter()
        .filter(|f| {
            !f.starts_with("index/")
                && !f.starts_with(compactor_state::ROOT)
                && !f.starts_with("__markers__/")
        })
        .collect()
}

fn run(format: MarkerFormat, spill_above_bytes: usize) {
    run_with(format, spill_above_bytes, false)
}

fn run_with(format: MarkerFormat, spill_above_bytes: usize, bucket_prefix: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = setup("retention", "store", "loki-retention.yaml", tmp.path());
    if bucket_prefix {
        // Loki's `deletion_marker_object_store_prefix`: markers live flat in the bucket.
        cfg.compactor.deletion_marker_object_store_prefix = "__markers__/".into();
    }
    let clock = Clock::fixed(RUN_NS);
    let opts = Options {
        report_expired_ids: true,
        clock: clock.clone(),
        marker_format: format,
        spill_above_bytes,
        output_in_memory_max_bytes: spill_above_bytes,
        ..Default::default()
    };
    let c = Compactor::new(cfg, opts).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = tmp.path().join("bucket");
    let all_chunks = chunk_files(&bucket);
    let want_deleted = deleted();
    assert_eq!(want_deleted.len(), 51);

    // Mark phase.
    let r = rt.block_on(c.run_once()).unwrap();
    let marked: BTreeSet<String> = r
        .pass
        .tables
        .iter()
        .flat_map(|(_, t)| t.expired.values().flat_map(|e| e.ids.iter().cloned()))
        .collect();
    assert_eq!(
        marked, want_deleted,
        "marked set differs from Loki's deleted set"
    );
    assert_eq!(
        r.sweeps.iter().map(|s| s.chunks_deleted).sum::<u64>(),
        0,
        "nothing may be swept before the delay"
    );
    assert_eq!(chunk_files(&bucket), all_chunks);
    // The index no longer references them; everything else still is.
    let referenced = referenced_chunks(&bucket);
    assert!(referenced.is_disjoint(&want_deleted));
    // Same per-tenant index content as Loki's store-after-mark.
    let (ours, common_left) = index_layout(&bucket);
    let (loki, _) = index_layout(&golden("retention").join("store-after-mark"));
    assert!(common_left.is_empty());
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        loki.keys().collect::<Vec<_>>()
    );
    for (k, f) in &loki {
        assert_eq!(series_of(&ours[k][0]), series_of(&f[0]), "{k:?}");
    }
    // Markers are durable before the sweep and name all marked chunks.
    let store = &c.marker_stores()[0];
    let listed = rt.block_on(store.list()).unwrap();
    assert!(!listed.is_empty());
    let mut in_markers = BTreeSet::new();
    for m in &listed {
        match (&m.source, format) {
            (MarkerSource::Object(k), MarkerFormat::Native) => {
                assert!(k.starts_with(compactor_state::MARKERS))
            }
            (MarkerSource::Object(k), MarkerFormat::Loki) if bucket_prefix => {
                assert!(k.starts_with("__markers__/"));
                let b = std::fs::read(tmp.path().join("bucket").join(k)).unwrap();
                assert!(loki_compactor::bbolt::looks_like_bbolt(&b));
            }
            (MarkerSource::Local(p), MarkerFormat::Loki) => {
                assert!(p
                    .to_string_lossy()
                    .contains("retention/filesystem_2026-01-01/markers/"))
            }
            (s, f) => panic!("marker {s:?} in unexpected place for {f:?}"),
        }
        in_markers.extend(rt.block_on(store.read(m)).unwrap());
    }
    assert_eq!(in_markers, want_deleted);

    // 29 s later: still too early.
    clock.advance_ms(29_000);
    let r = rt.block_on(c.run_once()).unwrap();
    assert_eq!(r.sweeps.iter().map(|s| s.chunks_deleted).sum::<u64>(), 0);
    assert_eq!(chunk_files(&bucket), all_chunks);

    // Past the delay: exactly Loki's deleted set goes, and the markers with it.
    clock.advance_ms(2_000);
    let r = rt.block_on(c.run_once()).unwrap();
    assert!(r.sweeps.iter().map(|s| s.chunks_deleted).sum::<u64>() >= 51);
    let remaining = chunk_files(&bucket);
    let gone: BTreeSet<String> = all_chunks.difference(&remaining).cloned().collect();
    let gone_ids: BTreeSet<String> = gone
        .iter()
        .map(|f| {
            loki_bucket::KeyCodec::Filesystem
                .decode_chunk_key(f)
                .unwrap()
        })
        .collect();
    assert_eq!(gone_ids, want_deleted);
    assert_eq!(
        remaining,
        chunk_files(&golden("retention").join("store-after-sweep"))
    );
    assert!(rt.block_on(store.list()).unwrap().is_empty());
    let m = c.render_metrics();
    assert!(m.contains("loki_boltdb_shipper_retention_sweeper_marker_files_deleted_total{from=\"filesystem_2026-01-01\"}"));
    assert!(m.contains("loki_compactor_apply_retention_operation_total{status=\"success\"} 3"));
    // Idempotent: another sweep finds nothing and fails nothing.
    clock.advance_ms(60_000);
    let r = rt.block_on(c.run_once()).unwrap();
    assert_eq!(r.sweeps.iter().map(|s| s.chunk_failures).sum::<u64>(), 0);
}

#[test]
fn native_markers_in_bucket() {
    run(MarkerFormat::Native, 16 << 20);
}

#[test]
fn loki_markers_in_working_directory() {
    run(MarkerFormat::Loki, 16 << 20);
}

/// Inputs spilled and outputs streamed to scratch files: same marks, same result.
#[test]
fn native_markers_streamed_outputs() {
    run(MarkerFormat::Native, 0);
}

/// Loki's format in Loki's bucket location (`deletion_marker_object_store_prefix`).
#[test]
fn loki_markers_in_bucket_prefix() {
    run_with(MarkerFormat::Loki, 16 << 20, true);
}

/// Switching from Loki: its own bbolt markers (copied from the run) in its local marker
/// directory are swept by us, deleting exactly the chunks Loki deleted.
#[test]
fn sweeps_lokis_own_markers() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup(
        "retention",
        "store-after-mark",
        "loki-retention.yaml",
        tmp.path(),
    );
    let wd = tmp.path().join("data/compactor/retention");
    copy_dir(
        &golden("retention").join("markers/filesystem_2026-01-01"),
        &wd.join("filesystem_2026-01-01"),
    );
    let clock = Clock::fixed(RUN_NS + 31_000_000_000);
    let c = Compactor::new(
        cfg,
        Options {
            report_expired_ids: true,
            clock,
            ..Default::default()
        },
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stats = rt.block_on(c.sweep_all()).unwrap();
    assert_eq!(stats[0].eligible, 6);
    assert_eq!(stats[0].markers_removed, 6);
    assert_eq!(
        chunk_files(&tmp.path().join("bucket")),
        chunk_files(&golden("retention").join("store-after-sweep"))
    );
}

/// `retention_table_timeout`: an index whose examination runs out of time keeps what was
/// not examined (nothing is marked or dropped past the deadline; with 1ns that is
/// everything), the timeout is counted as Loki does, and the pass still succeeds. The next
/// pass without the timeout marks exactly Loki's set.
#[test]
fn retention_table_timeout_keeps_the_unexamined_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = setup("retention", "store", "loki-retention.yaml", tmp.path());
    cfg.compactor.retention_table_timeout = std::time::Duration::from_nanos(1).into();
    let opts = || Options {
        report_expired_ids: true,
        clock: Clock::fixed(RUN_NS),
        ..Default::default()
    };
    let bucket = tmp.path().join("bucket");
    let before = referenced_chunks_all(&bucket);
    let c = Compactor::new(cfg.clone(), opts()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(c.run_once()).unwrap();
    assert!(r.pass.tables.iter().all(|(_, t)| t.expired.is_empty()));
    assert_eq!(referenced_chunks(&bucket), before, "index entries changed");
    let m = c.render_metrics();
    assert!(
        m.contains("loki_compactor_delete_processing_fails_total{cause=\"timeout\"} 1"),
        "{m}"
    );
    assert!(m.contains("loki_compactor_apply_retention_operation_total{status=\"success\"} 1"));

    cfg.compactor.retention_table_timeout = loki_config::Duration::ZERO;
    let c = Compactor::new(cfg, opts()).unwrap();
    let r = rt.block_on(c.run_once()).unwrap();
    let marked: BTreeSet<String> = r
        .pass
        .tables
        .iter()
        .flat_map(|(_, t)| t.expired.values().flat_map(|e| e.ids.iter().cloned()))
        .collect();
    assert_eq!(marked, deleted());
    assert!(!c
        .render_metrics()
        .contains("loki_compactor_delete_processing_fails_total{cause=\"timeout\"}"));
}

/// After a compaction + retention + sweep on the golden store, `/metrics` has Loki's
/// compactor metrics with Loki's names, types and label names (spec §10.1), plus ours the
/// seed's alerts use, and the bucket request counters per operation.
#[test]
fn metrics_have_lokis_names_types_and_labels() {
    use std::collections::{BTreeMap, BTreeSet};
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup("retention", "store", "loki-retention.yaml", tmp.path());
    let clock = Clock::fixed(RUN_NS);
    let opts = Options {
        report_expired_ids: true,
        clock: clock.clone(),
        ..Default::default()
    };
    let c = Compactor::new(cfg, opts).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(c.run_once()).unwrap();
    clock.advance_ms(31_000);
    rt.block_on(c.run_once()).unwrap();
    let text = c.render_metrics();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in text.lines() {
        if let Some(t) = l.strip_prefix("# TYPE ") {
            let (n, k) = t.split_once(' ').unwrap();
            assert!(
                types.insert(n.into(), k.into()).is_none(),
                "TYPE of {n} twice"
            );
            continue;
        }
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        let (series, _) = l.rsplit_once(' ').unwrap();
        let (name, ls) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|b| types.get(*b).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        let set = labels.entry(base.to_owned()).or_default();
        for kv in ls.split(',').filter(|s| !s.is_empty()) {
            let k = kv.split_once('=').unwrap().0;
            if k != "le" {
                set.insert(k.to_owned());
            }
        }
    }
    let want: &[(&str, &str, &[&str])] = &[
        (
            "loki_boltdb_shipper_compact_tables_operation_total",
            "counter",
            &["status"],
        ),
        (
            "loki_boltdb_shipper_compact_tables_operation_duration_seconds",
            "gauge",
            &[],
        ),
        (
            "loki_boltdb_shipper_compact_tables_operation_last_successful_run_timestamp_seconds",
            "gauge",
            &[],
        ),
        (
            "loki_compactor_apply_retention_operation_total",
            "counter",
            &["status"],
        ),
        (
            "loki_compactor_apply_retention_operation_duration_seconds",
            "gauge",
            &[],
        ),
        (
            "loki_compactor_apply_retention_last_successful_run_timestamp_seconds",
            "gauge",
            &[],
        ),
        ("loki_boltdb_shipper_compactor_running", "gauge", &[]),
        (
            "loki_boltdb_shipper_retention_marker_table_processed_total",
            "counter",
            &["from", "table", "user_id", "action"],
        ),
        (
            "loki_boltdb_shipper_retention_marker_count_total",
            "counter",
            &["from", "table"],
        ),
        (
            "loki_boltdb_shipper_retention_marker_table_processed_duration_seconds",
            "histogram",
            &["from", "table", "status"],
        ),
        (
            "loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds",
            "histogram",
            &["from", "status"],
        ),
        (
            "loki_boltdb_shipper_retention_sweeper_marker_files_current",
            "gauge",
            &["from"],
        ),
        (
            "loki_boltdb_shipper_retention_sweeper_marker_file_processing_current_time",
            "gauge",
            &["from"],
        ),
        (
            "loki_boltdb_shipper_retention_sweeper_marker_files_deleted_total",
            "counter",
            &["from"],
        ),
        (
            "loki_compactor_retention_chunks_expired_by_ingestion_time_total",
            "counter",
            &[],
        ),
        // Ours, named in the issue.
        ("loki_compactor_running", "gauge", &[]),
        ("loki_compactor_runs_completed_total", "counter", &[]),
        ("loki_compactor_runs_failed_total", "counter", &[]),
        (
            "loki_objstore_bucket_operations_total",
            "counter",
            &["bucket", "operation"],
        ),
    ];
    for (name, kind, ls) in want {
        assert_eq!(
            types.get(*name).map(String::as_str),
            Some(*kind),
            "{name}:\n{text}"
        );
        let got = labels.get(*name).cloned().unwrap_or_default();
        let want: BTreeSet<String> = ls.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "{name} labels");
    }
    // Loki's buckets for the two histograms.
    assert!(text.contains("loki_boltdb_shipper_retention_marker_table_processed_duration_seconds_bucket{from=\"filesystem_2026-01-01\",table=\"index_"));
    for le in [
        "0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8", "+Inf",
    ] {
        assert!(
            text.contains(&format!(
                "loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds_bucket{{from=\"filesystem_2026-01-01\",status=\"success\",le=\"{le}\"}}"
            )),
            "le={le}"
        );
    }
    assert!(text.contains("loki_compactor_runs_completed_total 2"));
}

/// Runtime overrides are re-read every retention pass, without a restart: with the
/// overrides file emptied, `game-platform` falls back to the global 72h and fewer chunks
/// expire; once the operator restores its 48h/24h overrides, the next pass of the same
/// process marks the rest, and the union is exactly Loki's deleted set.
#[test]
fn runtime_overrides_apply_without_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup("retention", "store", "loki-retention.yaml", tmp.path());
    let ov = tmp.path().join("overrides.yaml");
    let original = std::fs::read_to_string(&ov).unwrap();
    std::fs::write(&ov, "overrides: {}\n").unwrap();
    let opts = Options {
        report_expired_ids: true,
        clock: Clock::fixed(RUN_NS),
        ..Default::default()
    };
    let c = Compactor::new(cfg, opts).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let marked = |r: &loki_compactor::runner::CycleReport| -> BTreeSet<String> {
        r.pass
            .tables
            .iter()
            .flat_map(|(_, t)| t.expired.values().flat_map(|e| e.ids.iter().cloned()))
            .collect()
    };
    let first = marked(&rt.block_on(c.run_once()).unwrap());
    let want = deleted();
    assert!(first.is_subset(&want));
    assert!(first.len() < want.len(), "the overrides made no difference");
    assert!(
        want.difference(&first)
            .all(|id| id.starts_with("game-platform/")),
        "only game-platform has overrides"
    );
    std::fs::write(&ov, original).unwrap();
    let second = marked(&rt.block_on(c.run_once()).unwrap());
    assert!(first.is_disjoint(&second));
    let all: BTreeSet<String> = first.union(&second).cloned().collect();
    assert_eq!(all, want);
}
