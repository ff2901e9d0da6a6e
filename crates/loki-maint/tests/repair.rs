//! `repair` on copies of golden stores with planted faults: dry runs write nothing, applied
//! repairs leave a store that verifies clean with every removed byte in the quarantine,
//! multi-tenant uploads are left alone, and an interrupted repair leaves a readable store.
mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::Path;

use loki_bucket::{BucketOptions, Fault, FaultInjector, FaultRule, Op};
use loki_maint::repair::{repair, Action, RepairOptions, MULTI_TENANT_SKIP};
use loki_maint::target::Target;
use loki_maint::verify::{verify, NoProgress};

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files(dir, "")
        .into_iter()
        .map(|p| (rel(dir, &p), std::fs::read(&p).unwrap()))
        .collect()
}

fn ropts(apply: bool) -> RepairOptions {
    RepairOptions {
        apply,
        verify: opts(),
        ignore_lease: false,
    }
}

#[test]
fn dry_run_plans_but_writes_nothing() {
    let rt = rt();
    let p = plant_all();
    let before = snapshot(p.dir.path());
    let r = repair(
        &target(&rt, p.dir.path()),
        &ropts(false),
        rt.handle(),
        &NoProgress,
    )
    .unwrap();
    assert!(!r.applied);
    assert!(r.actions.len() >= 5, "{:#?}", r.actions);
    assert!(r.report_keys.is_empty());
    assert_eq!(
        snapshot(p.dir.path()),
        before,
        "a dry run changed the store"
    );
}

#[test]
fn apply_fixes_every_planted_fault_and_quarantines_what_it_removes() {
    let rt = rt();
    let p = plant_all();
    let d = p.dir.path();
    let planted = snapshot(d);
    let r = repair(&target(&rt, d), &ropts(true), rt.handle(), &NoProgress).unwrap();
    assert!(r.skipped.is_empty(), "{:#?}", r.skipped);
    let q = r.quarantine.clone();
    // Every object removed is in the quarantine, byte for byte.
    for key in [&p.flipped, &p.emptied, &p.truncated, &p.orphan] {
        assert!(!d.join(key).exists(), "{key} still in place");
        let copy = std::fs::read(d.join(format!("{q}{key}"))).unwrap();
        assert_eq!(copy, planted[key.as_str()], "{key}");
    }
    // The rewritten audit index files are in the quarantine too.
    let rewritten: Vec<&String> = r
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::RewriteIndex { old, .. } => Some(old),
            _ => None,
        })
        .collect();
    assert!(!rewritten.is_empty());
    for old in rewritten {
        assert!(old.contains("/audit/"), "{old}");
        assert_eq!(
            std::fs::read(d.join(format!("{q}{old}"))).unwrap(),
            planted[old.as_str()]
        );
    }
    // The team-b chunks the truncated index held are indexed again, not quarantined.
    assert!(r
        .actions
        .iter()
        .any(|a| matches!(a, Action::ReindexChunks { chunks, .. } if *chunks > 0)));
    let report = std::fs::read_to_string(d.join(format!("{q}repair-report.json"))).unwrap();
    assert!(report.contains("\"corrupt_index\""));
    // Clean now, and a second repair has nothing to do.
    let after = run_verify(&rt, d);
    assert!(after.is_clean(), "{:#?}", after.findings);
    let again = repair(&target(&rt, d), &ropts(true), rt.handle(), &NoProgress).unwrap();
    assert!(again.actions.is_empty() && again.found.is_clean());
}

#[test]
fn multi_tenant_uploads_are_not_rewritten() {
    // basic-snappy/store is as ingesters left it: only multi-tenant uploads.
    let rt = rt();
    let dir = store_copy("basic-snappy/store");
    let d = dir.path();
    let chunks = files(d, "fake/");
    std::fs::remove_file(&chunks[2]).unwrap();
    std::fs::write(&chunks[5], b"").unwrap();
    let before = snapshot(d);
    let r = repair(&target(&rt, d), &ropts(true), rt.handle(), &NoProgress).unwrap();
    assert!(r.actions.is_empty(), "{:#?}", r.actions);
    assert!(
        r.skipped.iter().any(|s| s.reason == MULTI_TENANT_SKIP),
        "{:#?}",
        r.skipped
    );
    assert!(r
        .skipped
        .iter()
        .any(|s| s.subject == rel(d, &chunks[5]) && s.reason.contains("still referenced")));
    assert_eq!(snapshot(d), before);
}

#[test]
fn interrupted_repair_leaves_a_readable_store_and_a_rerun_finishes() {
    let rt = rt();
    let dir = store_copy("multitenant-gzip/store-compacted");
    let d = dir.path();
    let chunks = files(d, "game-platform/");
    std::fs::remove_file(&chunks[1]).unwrap();
    // The process "dies" when it tries to remove the old index (new one already uploaded).
    let faults = FaultInjector::new();
    faults.add(
        FaultRule::new(Fault::PermissionDenied)
            .on(&[Op::Delete])
            .key_contains("index/"),
    );
    let t = rt
        .block_on(Target::from_url(
            &d.display().to_string(),
            None,
            BucketOptions {
                faults: Some(faults.clone()),
                ..Default::default()
            },
            Vec::new(),
        ))
        .unwrap();
    assert!(repair(&t, &ropts(true), rt.handle(), &NoProgress).is_err());
    assert!(faults.injected() > 0);
    // Old and new index side by side: every file parses, the only finding is the one
    // planted (the old file still has the dangling ref); nothing new is broken.
    let mid = verify(&t, &opts(), rt.handle(), &NoProgress).unwrap();
    let k = kinds(&mid);
    assert!(k.iter().all(|(kind, _)| kind == "missing_chunk"), "{k:#?}");
    assert!(mid.summary.index_files > 9);
    faults.clear();
    let r = repair(&t, &ropts(true), rt.handle(), &NoProgress).unwrap();
    assert!(r.skipped.is_empty(), "{:#?}", r.skipped);
    assert!(run_verify(&rt, d).is_clean());
}

#[test]
fn markers_listing_indexed_chunks_are_rewritten() {
    let rt = rt();
    let dir = store_copy("retention/store");
    let markers = store_copy("retention/markers/filesystem_2026-01-01/markers");
    let mut t = target(&rt, dir.path());
    t.buckets[0]
        .markers
        .read_dirs
        .push(markers.path().to_path_buf());
    let mut o = ropts(true);
    // Not overdue: only the "lists indexed chunks" finding.
    o.verify.marker_grace = std::time::Duration::from_secs(365 * 86_400);
    let originals = snapshot(markers.path());
    let r = repair(&t, &o, rt.handle(), &NoProgress).unwrap();
    let rewrites = r
        .actions
        .iter()
        .filter(|a| matches!(a, Action::RewriteMarker { kept: 0, .. }))
        .count();
    assert_eq!(rewrites, originals.len());
    // Every chunk they listed was indexed: the markers are gone, their copies quarantined.
    assert!(snapshot(markers.path()).is_empty());
    for (name, bytes) in originals {
        let copy = dir.path().join(format!("{}markers/{name}", r.quarantine));
        assert_eq!(std::fs::read(copy).unwrap(), bytes);
    }
    let after = verify(&t, &o.verify, rt.handle(), &NoProgress).unwrap();
    assert!(after.is_clean(), "{:#?}", after.findings);
}

#[test]
fn apply_refuses_while_a_compactor_holds_the_lease() {
    use loki_compactor::lease::{Lease, LEASE_PREFIX};
    let rt = rt();
    let p = plant_all();
    let t = target(&rt, p.dir.path());
    let lease = Lease::new(
        t.buckets[0].bucket.clone(),
        LEASE_PREFIX,
        "compactor-7",
        600_000,
        loki_compactor::Clock::system(),
    );
    rt.block_on(lease.acquire()).unwrap();
    let before = snapshot(p.dir.path());
    let e = repair(&t, &ropts(true), rt.handle(), &NoProgress).unwrap_err();
    assert!(e.to_string().contains("compactor-7"), "{e}");
    assert_eq!(snapshot(p.dir.path()), before);
    // Planning is harmless and still allowed.
    assert!(!repair(&t, &ropts(false), rt.handle(), &NoProgress)
        .unwrap()
        .actions
        .is_empty());
}

/// An older loki-compactor build keeps its lease in the single object `lease.json`.
#[test]
fn apply_refuses_while_an_older_compactor_holds_lease_json() {
    let rt = rt();
    let p = plant_all();
    let t = target(&rt, p.dir.path());
    let expires = loki_compactor::Clock::system().now_ms() + 600_000;
    let body = format!(r#"{{"holder":"old-build-3","expires_ms":{expires},"acquired_ms":1}}"#);
    rt.block_on(t.buckets[0].bucket.put(
        loki_bucket::compactor_state::LEGACY_LEASE,
        bytes::Bytes::from(body),
    ))
    .unwrap();
    let before = snapshot(p.dir.path());
    let e = repair(&t, &ropts(true), rt.handle(), &NoProgress).unwrap_err();
    assert!(e.to_string().contains("old-build-3"), "{e}");
    assert_eq!(snapshot(p.dir.path()), before);
}
