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
use loki_compactor::crash::{CRASH_ENV, CRASH_POINTS};

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
    let deleted = retention_deleted_chunks();
    let mut crashed_points = 0;
    for point in CRASH_POINTS {
        for nth in [1, 3] {
            let tmp = tempfile::tempdir().unwrap();
            let cfg = prepare_retention_now(tmp.path());
            let bucket = tmp.path().join("bucket");
            let all = chunk_ids(&bucket);
            let keep: BTreeSet<String> = all.difference(&deleted).cloned().collect();
            let spec = format!("{point}:{nth}");
            let ok = run(&cfg, Some(&spec));
            if !ok {
                crashed_points += 1;
            }
            let check = |when: &str| assert_nothing_lost(&bucket, &keep, &format!("{spec} {when}"));
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
            assert_retention_done(&bucket, &keep, &spec);
        }
    }
    // The hooks really fired (the store has 5 tables and 2 tenants: every point is reached).
    assert!(
        crashed_points >= CRASH_POINTS.len(),
        "only {crashed_points} crashes happened"
    );
}
