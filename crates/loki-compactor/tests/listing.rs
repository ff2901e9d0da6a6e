//! Only what was listed when a table's processing started is ever deleted: an upload that
//! an ingester adds while the table is being compacted survives the pass (its data is not
//! in the new per-tenant files yet) and is merged by the next pass. The new upload is
//! written at an exact step boundary through the crash-point hook (this file holds a
//! single test because the hook is per process).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use loki_compactor::runner::{Compactor, Options};

#[test]
fn uploads_added_during_a_pass_are_kept_for_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = multitenant(tmp.path());
    let idx = tmp.path().join("bucket/index");
    let late = idx.join("index_20778/1795700000-ingester-1-1795700000000000000.tsdb.gz");
    let source = golden("multitenant-gzip")
        .join("store/index/index_20777/1795612053-ingester-0-1795612053460962523.tsdb.gz");
    let done = Arc::new(AtomicBool::new(false));
    {
        let (late, done) = (late.clone(), Arc::clone(&done));
        // The first table processed is the newest, index_20778: once its inputs are listed
        // and merged, an ingester uploads another file to it.
        assert!(loki_compactor::crash::set_hook(move |point| {
            if point == "after-merge" && !done.swap(true, Ordering::SeqCst) {
                std::fs::copy(&source, &late).unwrap();
            }
        }));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = Compactor::new(cfg, Options::default()).unwrap();
    let r = rt.block_on(c.run_once()).unwrap();
    assert!(done.load(Ordering::SeqCst), "the hook never ran");
    assert!(late.exists(), "an upload that was not listed got deleted");
    let (_, uploads) = index_layout(&tmp.path().join("bucket"));
    assert_eq!(
        uploads,
        vec!["index_20778/1795700000-ingester-1-1795700000000000000.tsdb.gz"]
    );
    let t = r
        .pass
        .tables
        .iter()
        .find(|(t, _)| t == "index_20778")
        .unwrap();
    assert!(t.1.deleted.iter().all(|k| !k.contains("1795700000")));
    // Per-tenant files after the first pass: Loki's, without the late data.
    let (per, _) = index_layout(&tmp.path().join("bucket"));
    let (want, _) = index_layout(&golden("multitenant-gzip").join("store-compacted"));
    let before: Vec<_> = per
        .iter()
        .filter(|((t, _), _)| t == "index_20778")
        .map(|(k, v)| {
            assert_eq!(series_of(&v[0]), series_of(&want[k][0]), "{k:?}");
            (k.clone(), chunk_count(&v[0]))
        })
        .collect();
    // The next pass merges the late upload and removes it.
    rt.block_on(c.run_once()).unwrap();
    let (per, uploads) = index_layout(&tmp.path().join("bucket"));
    assert!(uploads.is_empty(), "{uploads:?}");
    assert!(!late.exists());
    for (k, n) in before {
        assert_eq!(per[&k].len(), 1, "{k:?}");
        assert!(chunk_count(&per[&k][0]) > n, "{k:?}: late data not merged");
    }
}

fn chunk_count(p: &std::path::Path) -> usize {
    series_of(p).iter().map(|(_, _, c)| c.len()).sum()
}
