//! `loki-inspect replicate` end to end: golden stores copied filesystem → filesystem and
//! filesystem → S3 → S3 (local S3 server from `.ci/s3.sh`; skipped without
//! `LOKI_TEST_S3_ENDPOINT`), then Loki's recorded answers replayed against the copies.
mod maint;

use std::path::Path;

use assert_cmd::Command;
use maint::*;
use serde_json::Value;

fn replicate(args: &[&str]) -> Value {
    let out = Command::cargo_bin("loki-inspect")
        .unwrap()
        .arg("replicate")
        .args(args)
        .args(["--json", "--quiet"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replicate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn full_copy_filesystem_answers_like_loki_and_reruns_copy_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("copy");
    let src = golden().join("basic-snappy/store");
    let r = replicate(&["--from-store", &s(&src), "--to-store", &s(&dst)]);
    assert_eq!(r["chunks"]["copied"], 41);
    assert_eq!(r["index_files"]["copied"], 3);
    assert!(check_answers("basic-snappy", &s(&dst), &[], &[]) >= 25);
    let again = replicate(&["--from-store", &s(&src), "--to-store", &s(&dst)]);
    assert_eq!(again["chunks"]["copied"], 0);
    assert_eq!(again["chunks"]["skipped_existing"], 41);
    assert_eq!(again["index_files"]["skipped_existing"], 3);
}

#[test]
fn one_tenant_from_config_answers_like_loki() {
    // The compliance CronJob's shape: source from Loki's config, one tenant.
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    copy_tree(&golden().join("multitenant-gzip/store"), &bucket);
    let yaml = std::fs::read_to_string(golden().join("multitenant-gzip/loki.yaml")).unwrap();
    let config = tmp.path().join("loki.yaml");
    std::fs::write(
        &config,
        yaml.replace("dir: ./bucket", &format!("dir: {}", bucket.display())),
    )
    .unwrap();
    let dst = tmp.path().join("compliance/audit");
    let r = replicate(&[
        &format!("-config.file={}", config.display()),
        "--tenant=audit",
        &format!("--to-store={}", dst.display()),
    ]);
    assert_eq!(r["tenant_slices"]["copied"], 3, "{r}");
    let n = check_answers("multitenant-gzip", &s(&dst), &[], &["audit"]);
    assert!(n >= 10, "{n}");
    // Other tenants' streams are absent from the copy.
    let out = Command::cargo_bin("loki-inspect")
        .unwrap()
        .args(["labels", "--store", &s(&dst), "--tenant", "team-b"])
        .args(["--from", "1795000000", "--to", "1795400000"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"], serde_json::json!([]), "{v}");
}

#[test]
fn filesystem_to_s3_streamed_then_s3_to_s3_server_side() {
    let Ok(endpoint) = std::env::var("LOKI_TEST_S3_ENDPOINT") else {
        eprintln!(
            "SKIPPED: LOKI_TEST_S3_ENDPOINT not set (start the local S3 server with .ci/s3.sh)"
        );
        return;
    };
    let bucket = std::env::var("LOKI_TEST_S3_BUCKET").unwrap_or_else(|_| "loki-test".into());
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let a = format!("s3://{bucket}/replicate{run}/a");
    let b = format!("s3://{bucket}/replicate{run}/b");
    let src = golden().join("multitenant-gzip/store-compacted");

    // Interrupted first copy: --to bounds it to the first day, so only part is there.
    let first = replicate(&[
        "--from-store",
        &s(&src),
        "--to-store",
        &a,
        "--to-endpoint",
        &endpoint,
        "--to",
        "2026-11-20T00:00:00Z",
    ]);
    assert_eq!(first["server_side_copy"], false);
    let part = first["chunks"]["copied"].as_u64().unwrap();
    assert!(part > 0);
    let full = replicate(&[
        "--from-store",
        &s(&src),
        "--to-store",
        &a,
        "--to-endpoint",
        &endpoint,
    ]);
    assert_eq!(full["chunks"]["skipped_existing"].as_u64().unwrap(), part);
    assert_eq!(
        full["chunks"]["copied"].as_u64().unwrap() + part,
        full["chunks"]["selected"].as_u64().unwrap()
    );
    assert_eq!(full["failed_count"], 0);

    // Same S3 bucket on both sides: server-side copies.
    let copy = replicate(&[
        "--from-store",
        &a,
        "--from-endpoint",
        &endpoint,
        "--to-store",
        &b,
        "--to-endpoint",
        &endpoint,
    ]);
    assert_eq!(copy["server_side_copy"], true, "{copy}");
    assert_eq!(copy["chunks"]["copied"], full["chunks"]["selected"]);
    let n = check_answers("multitenant-gzip", &b, &["--endpoint", &endpoint], &[]);
    assert!(n >= 60, "{n}");
}

#[test]
fn help_snapshot_used_by_deploy_checks_is_current() {
    // deploy/tests/test_wiring.py checks the compliance CronJob's arguments against this
    // snapshot (the deploy checks run without building Rust).
    let out = Command::cargo_bin("loki-inspect")
        .unwrap()
        .args(["replicate", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let snapshot = golden().join("../../deploy/tests/loki-inspect-replicate.help");
    let want = std::fs::read_to_string(&snapshot).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        want,
        "regenerate with: loki-inspect replicate --help > deploy/tests/loki-inspect-replicate.help"
    );
}
