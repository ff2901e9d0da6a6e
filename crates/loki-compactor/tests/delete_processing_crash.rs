//! Crash safety of delete processing: the binary (`--once`) is aborted at every step
//! boundary of a pass over the golden `delete-request` store with Loki's three requests
//! pending, then restarted until a pass completes. The end state is the one a single clean
//! pass reaches: exactly Loki's surviving lines and chunk keys, every request processed.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;
use loki_compactor::crash::CRASH_ENV;
use loki_compactor::deletes::store::{DeleteStore, StoreConfig};

const BIN: &str = env!("CARGO_BIN_EXE_loki-compactor");
const DATASET: &str = "delete-request";

/// Step boundaries a delete pass goes through.
const POINTS: &[&str] = &[
    "after-merge",
    "after-delete-audit",
    "after-marker-write",
    "after-tenant-upload",
    "after-tenant-delete",
    "before-common-delete",
    "after-common-delete",
];

fn prepare(root: &Path) -> std::path::PathBuf {
    setup(DATASET, "store", "loki-delete.yaml", root);
    let dir = root.join("bucket/index/delete_requests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        golden(DATASET)
            .join("delete-requests/store-after-submit/index/delete_requests/delete_requests.gz"),
        dir.join("delete_requests.gz"),
    )
    .unwrap();
    root.join("loki.yaml")
}

fn run(cfg: &Path, crash: Option<&str>) -> bool {
    let mut c = Command::new(BIN);
    c.arg(format!("-config.file={}", cfg.display()))
        .args(["--once", "-lease.holder=crash-test", "-log.level=warn"])
        .env_remove(CRASH_ENV);
    if let Some(p) = crash {
        c.env(CRASH_ENV, p);
    }
    c.output().unwrap().status.success()
}

/// Chunk ids the per-tenant indexes reference (after a finished pass there is no upload).
fn referenced(bucket: &Path) -> BTreeSet<String> {
    let (per, uploads) = index_layout(bucket);
    assert!(uploads.is_empty(), "uploads left: {uploads:?}");
    for paths in per.values() {
        assert_eq!(paths.len(), 1, "one file per tenant and table");
    }
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&bucket.join("index"), &tmp.path().join("index"));
    for f in files(&tmp.path().join("index")) {
        let p = tmp.path().join("index").join(&f);
        let raw = loki_tsdb::gunzip(&std::fs::read(&p).unwrap()).unwrap();
        std::fs::write(&p, raw).unwrap();
    }
    referenced_chunks(tmp.path())
}

fn loki_referenced() -> BTreeSet<String> {
    referenced(&golden(DATASET).join("store-after-delete"))
}

fn statuses(root: &Path, bucket_dir: &Path) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = loki_bucket::Bucket::from_url(
        &format!("file://{}", bucket_dir.display()),
        None,
        Default::default(),
    )
    .unwrap();
    let store = rt
        .block_on(DeleteStore::open(
            bucket,
            StoreConfig {
                key_prefix: "index/".into(),
                local_dir: root.join("verify-cache"),
                querytime_propagation_ms: 0,
            },
            loki_compactor::Clock::system(),
        ))
        .unwrap();
    let mut v: Vec<String> = rt
        .block_on(store.list_all())
        .unwrap()
        .iter()
        .map(|r| format!("{}={}", r.id, r.status()))
        .collect();
    v.sort();
    let _ = std::fs::remove_dir_all(root.join("verify-cache"));
    v
}

#[test]
fn crash_at_every_step_of_a_delete_pass_then_restart() {
    let want = loki_referenced();
    let mut crashed = 0;
    for point in POINTS {
        for nth in [1, 2] {
            let tmp = tempfile::tempdir().unwrap();
            let cfg = prepare(tmp.path());
            let bucket = tmp.path().join("bucket");
            let label = format!("{point}:{nth}");
            if !run(&cfg, Some(&label)) {
                crashed += 1;
                // Not yet processed: the crash came before the end of the pass.
                let st = statuses(tmp.path(), &bucket);
                assert!(
                    st.iter().any(|s| !s.ends_with("=processed")),
                    "{label}: {st:?}"
                );
            }
            let mut tries = 0;
            while !run(&cfg, None) {
                tries += 1;
                assert!(tries < 3, "{label}: restart keeps failing");
            }
            assert_eq!(
                referenced(&bucket),
                want,
                "{label}: index differs from Loki's"
            );
            assert_eq!(
                statuses(tmp.path(), &bucket),
                [
                    "0ccbe1c8=processed",
                    "27481822=processed",
                    "f3161056=processed"
                ],
                "{label}"
            );
            let progress = tmp.path().join("data/compactor/deletion/purge_progress");
            let left = std::fs::read_to_string(progress).unwrap_or_default();
            assert!(left.is_empty(), "{label}: progress left: {left}");
        }
    }
    assert!(crashed >= POINTS.len(), "only {crashed} runs crashed");
}
