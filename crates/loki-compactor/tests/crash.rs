//! Crash safety: the binary is aborted (no unwinding, no cleanup: what SIGKILL leaves) at
//! every step boundary of a cycle on the golden retention store, then restarted until a
//! cycle completes. After every crash and at the end:
//! * no chunk referenced by any index is missing (nothing live was deleted);
//! * every chunk that should stay indexed still is (no index entry lost).
//!
//! At the end: every expired chunk is deleted, one per-tenant file per tenant and table,
//! no upload or marker left.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;
use loki_bucket::{compactor_state, KeyCodec};
use loki_compactor::crash::{CRASH_ENV, CRASH_POINTS};

const BIN: &str = env!("CARGO_BIN_EXE_loki-compactor");
const RUN_MS: i64 = 1_795_612_645_795;

fn chunk_ids(bucket: &Path) -> BTreeSet<String> {
    files(bucket)
        .into_iter()
        .filter(|f| !f.starts_with("index/") && !f.starts_with(compactor_state::ROOT))
        .map(|f| KeyCodec::Filesystem.decode_chunk_key(&f).unwrap())
        .collect()
}

/// Copies the retention store with periods stretched so the golden cutoffs apply now, and
/// a tiny delete delay so the sweep happens within the test.
fn prepare(root: &Path) -> std::path::PathBuf {
    setup("retention", "store", "loki-retention.yaml", root);
    let delta = loki_compactor::Clock::system().now_ms() - RUN_MS;
    let h = |hours: i64| format!("{}ms", hours * 3_600_000 + delta);
    let cfg = root.join("loki.yaml");
    let t = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(
            "retention_period: 72h",
            &format!("retention_period: {}", h(72)),
        )
        .replace("retention_delete_delay: 30s", "retention_delete_delay: 1ms");
    std::fs::write(&cfg, t).unwrap();
    let ov = std::fs::read_to_string(root.join("overrides.yaml"))
        .unwrap()
        .replace(
            "retention_period: 48h",
            &format!("retention_period: {}", h(48)),
        )
        .replace("period: 24h", &format!("period: {}", h(24)));
    std::fs::write(root.join("overrides.yaml"), ov).unwrap();
    cfg
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

#[test]
fn crash_at_every_step_boundary_then_restart() {
    let deleted: BTreeSet<String> =
        std::fs::read_to_string(golden("retention").join("deleted-chunks.tsv"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').nth(1).unwrap().to_owned())
            .collect();
    let mut crashed_points = 0;
    for point in CRASH_POINTS {
        for nth in [1, 3] {
            let tmp = tempfile::tempdir().unwrap();
            let cfg = prepare(tmp.path());
            let bucket = tmp.path().join("bucket");
            let all = chunk_ids(&bucket);
            let keep: BTreeSet<String> = all.difference(&deleted).cloned().collect();
            let spec = format!("{point}:{nth}");
            let ok = run(&cfg, Some(&spec));
            if !ok {
                crashed_points += 1;
            }
            let check = |when: &str| {
                let present = chunk_ids(&bucket);
                let referenced = referenced_chunks(&bucket);
                let missing: Vec<_> = referenced.difference(&present).collect();
                assert!(
                    missing.is_empty(),
                    "{spec} {when}: indexed chunks deleted: {missing:?}"
                );
                let all_refs = referenced_chunks_all(&bucket);
                let missing: Vec<_> = all_refs.difference(&present).collect();
                assert!(
                    missing.is_empty(),
                    "{spec} {when}: chunks of uploads deleted: {missing:?}"
                );
                let lost: Vec<_> = keep.difference(&all_refs).collect();
                assert!(
                    lost.is_empty(),
                    "{spec} {when}: index entries lost: {lost:?}"
                );
            };
            check("after crash");
            // Restart until a cycle completes, then once more to sweep.
            let mut tries = 0;
            while !run(&cfg, None) {
                tries += 1;
                assert!(tries < 3, "{spec}: restart keeps failing");
                check("after failed restart");
            }
            run(&cfg, None);
            check("after restart");
            let present = chunk_ids(&bucket);
            assert_eq!(
                present, keep,
                "{spec}: expired chunks not all deleted (or too many)"
            );
            assert_eq!(referenced_chunks(&bucket), keep, "{spec}");
            let (per, uploads) = index_layout(&bucket);
            assert!(uploads.is_empty(), "{spec}: uploads left");
            for (k, v) in &per {
                assert_eq!(
                    v.len(),
                    1,
                    "{spec}: duplicate per-tenant files in {k:?}: {v:?}"
                );
            }
            let markers = files(&bucket)
                .into_iter()
                .filter(|f| f.starts_with(compactor_state::MARKERS))
                .count();
            assert_eq!(markers, 0, "{spec}: markers left");
        }
    }
    // The hooks really fired (the store has 5 tables and 2 tenants: every point is reached).
    assert!(
        crashed_points >= CRASH_POINTS.len(),
        "only {crashed_points} crashes happened"
    );
}
