//! S3-like faults during a cycle: transient errors are retried and the cycle succeeds;
//! permanent errors fail the cycle cleanly (nothing lost, inputs kept); a later cycle
//! finishes with Loki's result. A table that keeps failing gets a no-compact marker and
//! is skipped until the marker is removed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use loki_bucket::{BucketOptions, Fault, FaultInjector, FaultRule, Op, RetrySettings};
use loki_compactor::runner::{Compactor, Options, NO_COMPACT_PREFIX};

fn options(faults: &Arc<FaultInjector>) -> Options {
    Options {
        bucket: BucketOptions {
            retry: RetrySettings {
                max_retries: 3,
                min_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(5),
            },
            faults: Some(Arc::clone(faults)),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn same_as_loki(root: &std::path::Path) {
    let (ours, uploads) = index_layout(&root.join("bucket"));
    let (want, _) = index_layout(&golden("multitenant-gzip").join("store-compacted"));
    assert!(uploads.is_empty());
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, w) in &want {
        assert_eq!(ours[k].len(), 1, "{k:?}");
        assert_eq!(series_of(&ours[k][0]), series_of(&w[0]), "{k:?}");
    }
}

#[test]
fn transient_faults_are_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = multitenant(tmp.path());
    let faults = FaultInjector::new();
    faults.add(FaultRule::new(Fault::Unavailable).on(&[Op::Put]).times(2));
    faults.add(FaultRule::new(Fault::Throttled).on(&[Op::Get]).times(2));
    faults.add(FaultRule::new(Fault::Timeout).on(&[Op::Delete]).times(2));
    let c = Compactor::new(cfg, options(&faults)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(c.run_once()).unwrap();
    assert!(faults.injected() >= 6);
    same_as_loki(tmp.path());
}

#[test]
fn permanent_faults_fail_cleanly_then_a_later_cycle_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = multitenant(tmp.path());
    let before_chunks: Vec<String> = files(&tmp.path().join("bucket"))
        .into_iter()
        .filter(|f| !f.starts_with("index/"))
        .collect();
    let faults = FaultInjector::new();
    // Uploads of one tenant's compacted files are denied.
    faults.add(
        FaultRule::new(Fault::PermissionDenied)
            .on(&[Op::Put])
            .key_contains("/audit/"),
    );
    let c = Compactor::new(cfg, options(&faults)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt.block_on(c.run_once()).unwrap_err();
    assert!(err.to_string().contains("failed"), "{err}");
    // Nothing lost: the uploads that hold audit's data are all still there.
    let (_, uploads) = index_layout(&tmp.path().join("bucket"));
    assert!(!uploads.is_empty());
    let m = c.render_metrics();
    assert!(m.contains("loki_boltdb_shipper_compact_tables_operation_total{status=\"failure\"} 1"));
    assert!(m.contains("loki_compactor_runs_failed_total 1"));
    // The fault clears: the next cycle finishes with Loki's result.
    faults.clear();
    rt.block_on(c.run_once()).unwrap();
    same_as_loki(tmp.path());
    let after_chunks: Vec<String> = files(&tmp.path().join("bucket"))
        .into_iter()
        .filter(|f| !f.starts_with("index/"))
        .collect();
    assert_eq!(before_chunks, after_chunks);
}

#[test]
fn a_table_that_keeps_failing_gets_a_no_compact_marker() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup("basic-snappy", "store", "loki-compactor.yaml", tmp.path());
    let faults = FaultInjector::new();
    faults.add(
        FaultRule::new(Fault::PermissionDenied)
            .on(&[Op::Get])
            .key_contains("index_20776/"),
    );
    let c = Compactor::new(cfg, options(&faults)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for _ in 0..3 {
        assert!(rt.block_on(c.run_once()).is_err());
    }
    let marker = tmp
        .path()
        .join("bucket")
        .join(format!("{NO_COMPACT_PREFIX}index_20776"));
    assert!(marker.exists());
    // Skipped from now on: the cycle succeeds, the other table is compacted.
    let r = rt.block_on(c.run_once()).unwrap();
    assert_eq!(r.pass.skipped, vec!["index_20776".to_string()]);
    // The operator sees it (with the reason) and removes it once the cause is fixed.
    let listed = rt.block_on(c.no_compact_markers()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].table, "index_20776");
    assert!(
        listed[0].reason.contains("failed 3 consecutive"),
        "{listed:?}"
    );
    faults.clear();
    assert_eq!(
        rt.block_on(c.remove_no_compact("index_20776"))
            .unwrap()
            .len(),
        1
    );
    assert!(!marker.exists());
    assert!(rt.block_on(c.no_compact_markers()).unwrap().is_empty());
    let r = rt.block_on(c.run_once()).unwrap();
    assert!(r.pass.skipped.is_empty());
    let (per, uploads) = index_layout(&tmp.path().join("bucket"));
    assert!(uploads.is_empty());
    assert_eq!(per.len(), 2);
}

/// Order of deletions: a tenant's listed inputs go right after its new file is uploaded;
/// the multi-tenant uploads only after every tenant is done. With deletes of the
/// multi-tenant uploads refused, the pass fails with every tenant already complete (new
/// per-tenant files uploaded, old per-tenant inputs deleted) and the uploads still there;
/// a later cycle removes them without changing any tenant's index content.
#[test]
fn tenant_inputs_are_deleted_before_multi_tenant_uploads() {
    let tmp = tempfile::tempdir().unwrap();
    // Old per-tenant files from an earlier compaction plus new multi-tenant uploads.
    let cfg = multitenant(tmp.path());
    let bucket = tmp.path().join("bucket");
    let c = Compactor::new(cfg.clone(), Options::default()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(c.run_once()).unwrap();
    let (old_per, _) = index_layout(&bucket);
    let old_series: std::collections::BTreeMap<_, _> = old_per
        .iter()
        .map(|(k, v)| (k.clone(), series_of(&v[0])))
        .collect();
    copy_dir(
        &golden("multitenant-gzip").join("store/index"),
        &bucket.join("index"),
    );
    let (_, uploads) = index_layout(&bucket);
    assert_eq!(uploads.len(), 3);

    let faults = FaultInjector::new();
    // Deleting an object directly under a table (a multi-tenant upload) is refused.
    faults.add(
        FaultRule::new(Fault::PermissionDenied)
            .on(&[Op::Delete])
            .key_contains("-ingester-"),
    );
    let c = Compactor::new(cfg, options(&faults)).unwrap();
    assert!(rt.block_on(c.run_once()).is_err());
    let (per, uploads_left) = index_layout(&bucket);
    assert_eq!(uploads_left.len(), 3, "multi-tenant uploads deleted");
    for (k, old) in &old_per {
        let now = &per[k];
        assert_eq!(now.len(), 1, "{k:?}: {now:?}");
        assert_ne!(now[0], old[0], "{k:?}: tenant input not replaced");
        assert!(!old[0].exists(), "{k:?}: old tenant input left");
        assert_eq!(series_of(&now[0]), old_series[k], "{k:?}");
    }
    faults.clear();
    rt.block_on(c.run_once()).unwrap();
    same_as_loki(tmp.path());
}
