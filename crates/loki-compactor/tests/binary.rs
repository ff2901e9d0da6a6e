//! The binary: `--once` on a golden store, `--dry-run` with retention periods derived so
//! that the golden run's instants are the cutoffs, the HTTP endpoints of the long-running
//! mode, SIGTERM, and two instances on one bucket (only the lease holder acts).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use common::*;
use loki_bucket::compactor_state;

#[test]
fn once_compacts_with_loki_style_flags() {
    let tmp = tempfile::tempdir().unwrap();
    multitenant(tmp.path());
    let cfg = tmp.path().join("loki.yaml");
    let out = Command::new(BIN)
        .arg(format!("-config.file={}", cfg.display()))
        .args([
            "-target=compactor",
            "-config.expand-env=true",
            "-compactor.run-once=true",
            "-log.format=json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (per, common) = index_layout(&tmp.path().join("bucket"));
    assert!(common.is_empty());
    assert!(per.values().all(|v| v.len() == 1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("single compaction finished"));
    // The lease was released on exit: the newest epoch of the chain is expired.
    let newest = files(&tmp.path().join("bucket").join(compactor_state::LEASE))
        .pop()
        .expect("no lease object");
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            tmp.path()
                .join("bucket")
                .join(compactor_state::LEASE)
                .join(newest),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(rec["expires_ms"], 0, "{rec}");
    // Unsupported target: non-zero exit.
    let bad = Command::new(BIN)
        .arg(format!("-config.file={}", cfg.display()))
        .arg("-target=querier")
        .arg("--once")
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// The golden retention run happened at 2026-11-25T13:17:25.795Z; running now, each
/// period is lengthened by the time since then, so the cutoffs are the same instants.
#[test]
fn dry_run_reports_what_loki_deleted_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    setup("retention", "store", "loki-retention.yaml", tmp.path());
    let run_ms: i64 = 1_795_612_645_795;
    let now_ms = loki_compactor::Clock::system().now_ms();
    let delta = now_ms - run_ms;
    assert!(delta > 0);
    let h = |hours: i64| format!("{}ms", hours * 3_600_000 + delta);
    let cfg_path = tmp.path().join("loki.yaml");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap().replace(
        "retention_period: 72h",
        &format!("retention_period: {}", h(72)),
    );
    std::fs::write(&cfg_path, cfg).unwrap();
    let ov = std::fs::read_to_string(tmp.path().join("overrides.yaml"))
        .unwrap()
        .replace(
            "retention_period: 48h",
            &format!("retention_period: {}", h(48)),
        )
        .replace("period: 24h", &format!("period: {}", h(24)));
    std::fs::write(tmp.path().join("overrides.yaml"), ov).unwrap();
    let before = files(&tmp.path().join("bucket"));
    let out = Command::new(BIN)
        .arg(format!("-config.file={}", cfg_path.display()))
        .args(["--once", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        files(&tmp.path().join("bucket")),
        before,
        "dry run changed the bucket"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tenants = v["retention"]["tenants"].as_object().unwrap();
    let objects: u64 = tenants
        .values()
        .flat_map(|rules| rules.as_object().unwrap().values())
        .map(|t| t["objects"].as_u64().unwrap())
        .sum();
    // Loki deleted 51 chunk objects; the per-tenant split comes from deleted-chunks.tsv.
    assert_eq!(objects, 51, "{v:#}");
    // Per tenant and selector: chunk refs (a chunk in two day tables counts twice), objects
    // and bytes.
    for rules in tenants.values() {
        for (rule, t) in rules.as_object().unwrap() {
            let (refs, objs, bytes) = (
                t["chunk_refs"].as_u64().unwrap(),
                t["objects"].as_u64().unwrap(),
                t["bytes"].as_u64().unwrap(),
            );
            assert!(refs >= objs && objs > 0 && bytes > 0, "{rule}: {t}");
        }
    }
    let tsv = std::fs::read_to_string(golden("retention").join("deleted-chunks.tsv")).unwrap();
    let want_tenants: BTreeSet<&str> = tsv
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').nth(2).unwrap())
        .collect();
    assert_eq!(
        tenants.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        want_tenants
    );
    assert!(tenants["game-platform"]
        .as_object()
        .unwrap()
        .contains_key("{k8s_namespace_name=\"kube-system\"}"));
}

#[test]
fn serves_endpoints_and_only_the_lease_holder_acts() {
    let tmp = tempfile::tempdir().unwrap();
    multitenant(tmp.path());
    let cfg = tmp.path().join("loki.yaml");
    let (p1, p2) = (free_port(), free_port());
    let start = |port: u16, holder: &str| {
        Command::new(BIN)
            .arg(format!("-config.file={}", with_port(&cfg, port).display()))
            .args(["-lease.ttl-seconds=10", &format!("-lease.holder={holder}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(tmp.path().join(format!("{holder}.log"))).unwrap())
            .spawn()
            .unwrap()
    };
    let mut a = KillOnDrop(start(p1, "instance-a"));
    wait_for(p1, "/metrics", |m| {
        m.contains("loki_boltdb_shipper_compactor_running 1")
    });
    let mut b = KillOnDrop(start(p2, "instance-b"));
    // B waits: not running, and says so.
    let ready = wait_for(p2, "/ready", |b| b.contains("standby"));
    assert!(ready.starts_with("ready"));
    let m2 = wait_for(p2, "/metrics", |m| {
        m.contains("loki_compactor_lease_waiting 1")
    });
    assert!(m2.contains("loki_boltdb_shipper_compactor_running 0"));
    assert!(!m2.contains("loki_boltdb_shipper_compact_tables_operation_total{status"));
    // A compacted the bucket and reports it.
    let m1 = wait_for(p1, "/metrics", |m| {
        m.contains("loki_boltdb_shipper_compact_tables_operation_total{status=\"success\"}")
    });
    assert!(m1.contains("loki_compactor_runs_completed_total"));
    assert!(m1.contains("loki_objstore_bucket_operations_total"));
    let (_, common) = index_layout(&tmp.path().join("bucket"));
    assert!(common.is_empty());
    assert!(get(p1, "/services")
        .unwrap()
        .1
        .contains("compactor => Running"));
    assert!(get(p1, "/compactor/ring")
        .unwrap()
        .1
        .contains("instance-a (this instance)"));
    assert!(get(p2, "/compactor/ring")
        .unwrap()
        .1
        .contains("holder: instance-a"));
    assert!(get(p1, "/config")
        .unwrap()
        .1
        .contains("compaction_interval"));
    assert_eq!(get(p1, "/nope").unwrap().0, 404);
    // SIGTERM: A exits cleanly and releases the lease; B takes over.
    assert!(term(&mut a.0).success());
    // A's log has Loki's lines, in Loki's order and with Loki's keys.
    let log = std::fs::read_to_string(tmp.path().join("instance-a.log")).unwrap();
    let pos = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in the log:\n{log}"))
    };
    let order = [
        "msg=\"this instance has been chosen to run the compactor, starting compactor\"",
        "msg=\"waiting for ring to stay stable and previous compactions to finish before starting compactor\" duration=1s",
        "msg=\"compactor startup delay completed\"",
        "msg=\"compacting table\" table-name=index_",
        "msg=\"finished compacting table\" table-name=index_",
        "msg=\"compactor started\"",
        "msg=\"compactor exiting\"",
    ];
    for w in order.windows(2) {
        assert!(
            pos(w[0]) < pos(w[1]),
            "`{}` not before `{}`:\n{log}",
            w[0],
            w[1]
        );
    }
    assert!(log.lines().all(|l| l.starts_with("level=")), "{log}");
    assert!(!log.contains(" table="), "{log}");
    wait_for(p2, "/metrics", |m| {
        m.contains("loki_boltdb_shipper_compactor_running 1")
    });
    assert!(term(&mut b.0).success());
}

/// Rolling upgrade from a build that kept its lease in the single object
/// `loki-compactor/lease.json`: while that object names another live holder, `--once`
/// waits (here: gives up at once) and the long-running mode stays on standby, saying so on
/// `/ready`, `/compactor/ring` and in the metrics; when the old build shuts down (deleting
/// its object) the new one takes over and compacts.
#[test]
fn a_legacy_lease_json_keeps_the_new_build_on_standby() {
    let tmp = tempfile::tempdir().unwrap();
    multitenant(tmp.path());
    let cfg = tmp.path().join("loki.yaml");
    let bucket = tmp.path().join("bucket");
    let legacy = bucket.join(compactor_state::LEGACY_LEASE);
    std::fs::create_dir_all(legacy.parent().unwrap()).unwrap();
    let expires = loki_compactor::Clock::system().now_ms() + 3_600_000;
    std::fs::write(
        &legacy,
        format!(r#"{{"holder":"old-build","expires_ms":{expires},"acquired_ms":1}}"#),
    )
    .unwrap();
    let before = files(&bucket);

    let once = Command::new(BIN)
        .arg(format!("-config.file={}", cfg.display()))
        .args(["--once", "-lease.holder=new", "-lease.wait-seconds=0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&once.stderr);
    assert_eq!(once.status.code(), Some(1), "{err}");
    assert!(err.contains("compactor lease held by old-build"), "{err}");
    assert_eq!(
        files(&bucket),
        before,
        "--once wrote while the old build held the lease"
    );

    let port = free_port();
    let _new = KillOnDrop(
        Command::new(BIN)
            .arg(format!("-config.file={}", with_port(&cfg, port).display()))
            .args(["-lease.ttl-seconds=3", "-lease.holder=new"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = wait_for(port, "/ready", |b| b.contains("standby"));
    assert!(
        ready.contains(&format!("held by old-build until {expires} ms")),
        "{ready}"
    );
    let m = wait_for(port, "/metrics", |m| {
        m.contains("loki_compactor_lease_waiting 1")
    });
    assert!(m.contains("loki_boltdb_shipper_compactor_running 0"), "{m}");
    assert!(get(port, "/compactor/ring")
        .unwrap()
        .1
        .contains("holder: old-build"));
    let (_, common) = index_layout(&bucket);
    assert!(!common.is_empty(), "compacted while on standby");

    // The old build shuts down cleanly: it deletes its object.
    std::fs::remove_file(&legacy).unwrap();
    wait_for(port, "/metrics", |m| {
        m.contains("loki_boltdb_shipper_compact_tables_operation_total{status=\"success\"}")
    });
    assert_eq!(newest_lease(&bucket)["holder"], "new");
    let (_, common) = index_layout(&bucket);
    assert!(common.is_empty());
}

/// Staging files (`<key>#<n>`) left by writes that a crash cut off are removed at start-up
/// when they are older than an hour and lie under a prefix the compactor writes to; fresh
/// ones (possibly in flight on another host), other `#` names and chunk directories are
/// left alone.
#[test]
fn stale_staging_files_are_removed_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    multitenant(tmp.path());
    let b = tmp.path().join("bucket");
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let make = |rel: &str, old: bool| {
        let p = b.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let f = std::fs::File::create(&p).unwrap();
        if old {
            f.set_modified(two_hours_ago).unwrap();
        }
        p
    };
    let stale_index = make("index/index_20776/1-compactor-1-2-ab.tsdb.gz#3", true);
    let stale_lease = make(
        &format!("{}00000000000000000001.json#7", compactor_state::LEASE),
        true,
    );
    let fresh = make("index/index_20776/2-compactor-1-2-cd.tsdb.gz#4", false);
    let other = make("index/index_20776/notes#x", true);
    let chunk_dir = make("audit/0123abcd/c29tZQ==#5", true);
    let out = Command::new(BIN)
        .arg(format!(
            "-config.file={}",
            tmp.path().join("loki.yaml").display()
        ))
        .arg("--once")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stale_index.exists());
    assert!(!stale_lease.exists());
    assert!(fresh.exists());
    assert!(other.exists());
    assert!(chunk_dir.exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("removed a staging file"));
}

/// `--once` exit codes and log flags: a table that cannot be compacted (a corrupt upload)
/// fails the cycle with exit code 1 and Loki's error line, the other tables are still
/// compacted; `-log.level=warn` hides info lines; a bad `-log.format` is exit code 2.
#[test]
fn once_exit_codes_and_log_flags() {
    let tmp = tempfile::tempdir().unwrap();
    multitenant(tmp.path());
    let cfg = tmp.path().join("loki.yaml");
    let bad = tmp
        .path()
        .join("bucket/index/index_20777/1795612053-ingester-0-1795612053460962523.tsdb.gz");
    std::fs::write(&bad, b"not an index").unwrap();
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .arg(format!("-config.file={}", cfg.display()))
            .arg("--once")
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["-log.level=warn"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("level=error") && log.contains("msg=\"failed to run compaction\""),
        "{log}"
    );
    assert!(log.contains("index_20777"), "{log}");
    assert!(!log.contains("level=info"), "{log}");
    let (per, uploads) = index_layout(&tmp.path().join("bucket"));
    assert_eq!(
        uploads,
        vec!["index_20777/1795612053-ingester-0-1795612053460962523.tsdb.gz"]
    );
    assert_eq!(per.len(), 6, "the other tables were compacted: {per:?}");
    // JSON logs: one object per line.
    let out = run(&["-log.format=json"]);
    assert_eq!(out.status.code(), Some(1));
    for l in String::from_utf8_lossy(&out.stderr).lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["level"].is_string(), "{l}");
    }
    let out = run(&["-log.format=xml"]);
    assert_eq!(out.status.code(), Some(2));
    // Fixed: exit code 0.
    std::fs::copy(
        golden("multitenant-gzip")
            .join("store/index/index_20777/1795612053-ingester-0-1795612053460962523.tsdb.gz"),
        &bad,
    )
    .unwrap();
    assert_eq!(run(&[]).status.code(), Some(0));
    let (per, uploads) = index_layout(&tmp.path().join("bucket"));
    assert!(uploads.is_empty());
    assert_eq!(per.len(), 9);
}

/// The no-compact marker as an operator sees and removes it: `-compactor.no-compact.list`
/// prints the tables and reasons, `-compactor.no-compact.remove=<table>` deletes the
/// marker (and fails for a table without one). A marked table is skipped by `--once`.
#[test]
fn no_compact_markers_listed_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    multitenant(tmp.path());
    let cfg = format!("-config.file={}", tmp.path().join("loki.yaml").display());
    let marker = tmp
        .path()
        .join("bucket")
        .join(loki_compactor::runner::NO_COMPACT_PREFIX)
        .join("index_20777");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(
        &marker,
        "table index_20777 failed 3 consecutive compactions\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([&cfg, "-compactor.no-compact.list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["table"], "index_20777", "{v}");
    assert!(v[0]["reason"].as_str().unwrap().contains("failed 3"));
    // Skipped while marked.
    assert!(Command::new(BIN)
        .args([&cfg, "--once"])
        .output()
        .unwrap()
        .status
        .success());
    let (_, uploads) = index_layout(&tmp.path().join("bucket"));
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert!(uploads[0].starts_with("index_20777/"));
    let out = Command::new(BIN)
        .args([&cfg, "-compactor.no-compact.remove=index_20777"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!marker.exists());
    assert!(!Command::new(BIN)
        .args([&cfg, "-compactor.no-compact.remove=index_20777"])
        .output()
        .unwrap()
        .status
        .success());
    assert!(Command::new(BIN)
        .args([&cfg, "--once"])
        .output()
        .unwrap()
        .status
        .success());
    let (_, uploads) = index_layout(&tmp.path().join("bucket"));
    assert!(uploads.is_empty());
}
