//! SIGTERM during `--once`, with the real binary: the process is held at a step boundary
//! (`LOKI_COMPACTOR_PAUSE_AT`) and signalled there. It must start no new write, finish or
//! abandon the step, release the lease and exit 143; nothing live may be lost, a second
//! `--once` by another holder must get the lease at once (it is not allowed to wait), and
//! follow-up runs finish the job. A signal while waiting for another holder's lease ends
//! the wait.

mod common;

use std::collections::BTreeSet;

use common::*;
use loki_bucket::compactor_state;
use loki_compactor::crash::PAUSE_ENV;

fn once_args(cfg: &std::path::Path, holder: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        format!("-config.file={}", cfg.display()),
        "--once".to_owned(),
        format!("-lease.holder={holder}"),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// `--once` by a new holder that may not wait for the lease at all.
fn once_without_waiting(cfg: &std::path::Path, holder: &str) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(once_args(cfg, holder, &["-lease.wait-seconds=0"]))
        .env_remove(PAUSE_ENV)
        .env_remove(loki_compactor::crash::CRASH_ENV)
        .output()
        .unwrap()
}

#[test]
fn sigterm_mid_cycle_abandons_the_step_releases_the_lease_and_the_next_run_finishes() {
    let deleted = retention_deleted_chunks();
    // One point in compaction (between a tenant's upload and the deletion of its inputs),
    // one in retention marking, one in the sweep (the first marker's chunk deletes).
    for point in [
        "after-tenant-upload",
        "after-marker-write",
        "sweep-after-chunk-delete",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = prepare_retention_now(tmp.path());
        let bucket = tmp.path().join("bucket");
        let keep: BTreeSet<String> = chunk_ids(&bucket).difference(&deleted).cloned().collect();

        let mut first = Running::start(&once_args(&cfg, "first", &[]), &[(PAUSE_ENV, point)]);
        first.wait_line(&format!("pause point {point} reached"));
        let (status, log) = first.terminate();
        assert_eq!(status.code(), Some(143), "{point}: {log}");
        assert!(log.contains("received termination signal"), "{log}");
        assert!(log.contains("compactor lease released"), "{log}");
        assert!(log.contains("interrupted by SIGTERM"), "{log}");
        assert_nothing_lost(&bucket, &keep, &format!("{point} after SIGTERM"));
        // The step was abandoned, not completed behind our back: the cycle left work.
        let (_, uploads) = index_layout(&bucket);
        let markers_left = files(&bucket)
            .iter()
            .any(|f| f.starts_with(compactor_state::MARKERS));
        assert!(
            !uploads.is_empty() || markers_left || chunk_ids(&bucket) != keep,
            "{point}: nothing left to do after the signal: the cycle was not interrupted"
        );
        let lease = newest_lease(&bucket);
        assert_eq!(lease["holder"], "first", "{point}: {lease}");
        assert_eq!(
            lease["expires_ms"], 0,
            "{point}: lease not released: {lease}"
        );

        // Another holder gets the lease immediately and completes the cycle.
        let second = once_without_waiting(&cfg, "second");
        assert!(
            second.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&second.stderr)
        );
        assert_nothing_lost(&bucket, &keep, &format!("{point} after the second run"));
        // One more to sweep the markers of the second run, as the crash test does.
        assert!(once_without_waiting(&cfg, "third").status.success());
        assert_retention_done(&bucket, &keep, point);
    }
}

#[test]
fn sigterm_while_waiting_for_another_holders_lease_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    multitenant(tmp.path());
    let cfg = tmp.path().join("loki.yaml");
    let bucket = tmp.path().join("bucket");
    // Another instance holds the lease for the next hour.
    let dir = bucket.join(compactor_state::LEASE);
    std::fs::create_dir_all(&dir).unwrap();
    let expires = loki_compactor::Clock::system().now_ms() + 3_600_000;
    let held =
        serde_json::json!({"holder": "other", "epoch": 1, "expires_ms": expires, "acquired_ms": 1});
    std::fs::write(
        dir.join("00000000000000000001.json"),
        serde_json::to_vec(&held).unwrap(),
    )
    .unwrap();
    let before = files(&bucket);

    // It would wait up to 10 minutes; the signal must end the wait (`term` gives up after
    // 30 s), with the signal's exit code rather than "gave up waiting".
    let mut waiting = Running::start(&once_args(&cfg, "me", &["-lease.wait-seconds=600"]), &[]);
    waiting.wait_line("waiting for the compactor lease");
    let (status, log) = waiting.terminate();
    assert_eq!(status.code(), Some(143), "{log}");
    assert!(!log.contains("gave up waiting"), "{log}");
    // Nothing written, the other holder's lease untouched.
    assert_eq!(files(&bucket), before);
    assert_eq!(newest_lease(&bucket), held);
}
