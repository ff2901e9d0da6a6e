//! `verify` on copies of golden stores written by real Loki, clean and with planted faults.
mod common;
use common::*;

use loki_maint::report::Finding;
use loki_maint::verify::{verify, NoProgress, VerifyOptions};

#[test]
fn golden_stores_verify_clean() {
    let rt = rt();
    for store in [
        "basic-snappy/store",
        "basic-snappy/store-compacted",
        "multitenant-gzip/store",
        "multitenant-gzip/store-compacted",
        "retention/store-after-sweep",
        "codecs/lz4-64k/store",
    ] {
        let r = run_verify(&rt, &golden(store));
        assert!(r.is_clean(), "{store}: {:?}", r.findings);
        assert!(r.summary.chunks_checked > 10, "{store}: {:?}", r.summary);
        assert_eq!(
            r.summary.chunks_checked, r.summary.chunks_listed,
            "{store}: every listed chunk is indexed"
        );
    }
}

#[test]
fn each_planted_fault_is_found() {
    let rt = rt();
    let p = plant_all();
    let r = run_verify(&rt, p.dir.path());
    assert!(!r.is_clean());
    let found = kinds(&r);
    for (kind, key) in [
        ("corrupt_chunk", &p.flipped),
        ("missing_chunk", &p.deleted),
        ("empty_chunk", &p.emptied),
        ("corrupt_index", &p.truncated),
        ("orphan_chunk", &p.orphan),
    ] {
        assert!(
            found.contains(&(kind.to_owned(), key.clone())),
            "{kind} {key} not in {found:#?}"
        );
    }
    // Everything else: team-b chunks only the truncated index referenced are now orphans.
    for (kind, key) in &found {
        let planted = [&p.flipped, &p.deleted, &p.emptied, &p.truncated, &p.orphan];
        if !planted.contains(&key) {
            assert!(
                kind == "orphan_chunk" && key.starts_with("team-b/"),
                "{kind} {key}"
            );
        }
    }
    let corrupt = r
        .findings
        .iter()
        .find_map(|f| match f {
            Finding::CorruptChunk { error, .. } => Some(error.clone()),
            _ => None,
        })
        .unwrap();
    assert!(corrupt.contains("checksum"), "{corrupt}");
    assert_eq!(r.summary.findings["missing_chunk"], 1);
}

#[test]
fn quick_mode_finds_missing_and_empty_but_not_flipped() {
    let rt = rt();
    let p = plant_all();
    let o = VerifyOptions {
        quick: true,
        ..opts()
    };
    let r = verify(&target(&rt, p.dir.path()), &o, rt.handle(), &NoProgress).unwrap();
    let found = kinds(&r);
    assert!(found.contains(&("missing_chunk".into(), p.deleted.clone())));
    assert!(found.contains(&("empty_chunk".into(), p.emptied.clone())));
    assert!(!found.iter().any(|(k, _)| k == "corrupt_chunk"));
}

#[test]
fn tenant_and_table_filters() {
    let rt = rt();
    let p = plant_all();
    let t = target(&rt, p.dir.path());
    // team-b alone: the truncated index and its consequences, none of audit's faults.
    let o = VerifyOptions {
        tenant: Some("team-b".into()),
        ..opts()
    };
    let r = verify(&t, &o, rt.handle(), &NoProgress).unwrap();
    assert!(kinds(&r)
        .iter()
        .all(|(k, s)| k == "corrupt_index" && *s == p.truncated
            || k == "orphan_chunk" && s.starts_with("team-b/")));
    assert!(kinds(&r).contains(&("corrupt_index".into(), p.truncated.clone())));
    // One table: no orphan scan, reported as skipped.
    let o = VerifyOptions {
        table: Some("index_20776".into()),
        ..opts()
    };
    let r = verify(&t, &o, rt.handle(), &NoProgress).unwrap();
    assert_eq!(r.summary.tables, 1);
    assert!(!kinds(&r)
        .iter()
        .any(|(k, _)| k == "orphan_chunk" || k == "corrupt_index"));
    assert!(r.skipped.iter().any(|s| s.contains("orphan")));
}

#[test]
fn fresh_unindexed_chunks_are_not_orphans() {
    let rt = rt();
    let p = plant_all();
    let o = VerifyOptions {
        orphan_min_age: std::time::Duration::from_secs(3600),
        ..opts()
    };
    let r = verify(&target(&rt, p.dir.path()), &o, rt.handle(), &NoProgress).unwrap();
    // The copy was just written: everything unindexed is younger than an hour.
    assert!(!kinds(&r).iter().any(|(k, _)| k == "orphan_chunk"));
    assert!(r.summary.chunks_too_new >= 1);
}

#[test]
fn markers_for_indexed_chunks_and_overdue_markers_are_stranded() {
    // Loki's retention markers against the store *before* marking: every marked chunk is
    // still indexed there (the crash window between marker write and index upload).
    let rt = rt();
    let dir = store_copy("retention/store");
    let markers = store_copy("retention/markers/filesystem_2026-01-01/markers");
    let mut t = target(&rt, dir.path());
    t.buckets[0]
        .markers
        .read_dirs
        .push(markers.path().to_path_buf());
    let names: Vec<i64> = std::fs::read_dir(markers.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect();
    let newest = *names.iter().max().unwrap() / 1_000_000_000;
    // "Now" right after marking: not overdue yet.
    let o = VerifyOptions {
        now_secs: newest + 60,
        ..opts()
    };
    let r = verify(&t, &o, rt.handle(), &NoProgress).unwrap();
    assert_eq!(r.summary.markers, names.len() as u64);
    assert_eq!(
        r.summary.findings.get("marker_for_indexed_chunks"),
        Some(&(names.len() as u64))
    );
    assert_eq!(r.summary.findings.get("overdue_marker"), None);
    // A day later the sweeper should long have run.
    let o = VerifyOptions {
        now_secs: newest + 86_400,
        ..opts()
    };
    let r = verify(&t, &o, rt.handle(), &NoProgress).unwrap();
    assert_eq!(
        r.summary.findings.get("overdue_marker"),
        Some(&(names.len() as u64))
    );
    // Against the store after marking, the marked chunks are pending, not orphans.
    let after = store_copy("retention/store-after-mark");
    let mut t = target(&rt, after.path());
    t.buckets[0]
        .markers
        .read_dirs
        .push(markers.path().to_path_buf());
    let o = VerifyOptions {
        now_secs: newest + 60,
        ..opts()
    };
    let r = verify(&t, &o, rt.handle(), &NoProgress).unwrap();
    assert!(r.is_clean(), "{:?}", r.findings);
    assert_eq!(r.summary.chunks_marked, 51);
}

#[test]
fn a_compactor_name_that_disagrees_with_the_toc_is_found() {
    let rt = rt();
    let dir = store_copy("basic-snappy/store-compacted");
    let d = dir.path();
    let f = files(d, "index/index_20775/fake/").pop().unwrap();
    let name = f.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with("-6e6c4136.tsdb.gz"), "{name}");
    let renamed = f.with_file_name(name.replace("-6e6c4136.", "-6e6c4137."));
    std::fs::rename(&f, &renamed).unwrap();
    let r = run_verify(&rt, d);
    assert_eq!(
        kinds(&r),
        vec![("index_name_mismatch".to_owned(), rel(d, &renamed))]
    );
    let Finding::IndexNameMismatch { error, .. } = &r.findings[0] else {
        unreachable!()
    };
    assert!(
        error.contains("6e6c4137") && error.contains("6e6c4136"),
        "{error}"
    );
}

#[test]
fn from_a_loki_config_markers_are_found_in_the_working_directory() {
    let rt = rt();
    let store = store_copy("retention/store");
    let wd = tempfile::tempdir().unwrap();
    copy_dir(
        &golden("retention/markers/filesystem_2026-01-01/markers"),
        &wd.path().join("retention/filesystem_2026-01-01/markers"),
    );
    let yaml = format!(
        r#"
auth_enabled: true
schema_config:
  configs:
    - from: "2026-01-01"
      store: tsdb
      object_store: filesystem
      schema: v13
      index: {{ prefix: index_, period: 24h }}
storage_config:
  use_thanos_objstore: true
  object_store:
    filesystem:
      dir: {}
compactor:
  working_directory: {}
  retention_delete_delay: 2h
"#,
        store.path().display(),
        wd.path().display()
    );
    let cfg = loki_config::LokiConfig::from_yaml(&yaml, std::path::Path::new("loki.yaml"), false)
        .unwrap();
    let t = loki_maint::target::Target::from_config(&cfg, &loki_bucket::BucketOptions::default())
        .unwrap();
    assert_eq!(t.periods[0].table_prefix, "index_");
    let o = VerifyOptions {
        marker_grace: std::time::Duration::from_secs(365 * 86_400),
        ..opts()
    };
    let r = verify(&t, &o, rt.handle(), &NoProgress).unwrap();
    assert_eq!(r.summary.markers, 6, "{:?}", r.summary);
    assert_eq!(
        r.summary.findings.get("marker_for_indexed_chunks"),
        Some(&6)
    );
    assert_eq!(r.summary.tables, 5);
}
