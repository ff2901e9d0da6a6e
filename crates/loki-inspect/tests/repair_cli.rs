//! `loki-inspect verify` / `repair` end to end on a faulted copy of a golden store: exit
//! codes, JSON reports, and query answers of streams the faults did not touch unchanged.
#[path = "../../loki-maint/tests/common/mod.rs"]
mod common;

use std::path::Path;

use assert_cmd::Command;
use common::*;
use serde_json::Value;

fn inspect(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("loki-inspect")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

fn store_args(d: &Path) -> Vec<String> {
    vec![
        "--store".into(),
        d.display().to_string(),
        "--orphan-min-age".into(),
        "0s".into(),
    ]
}

fn run(sub: &str, d: &Path, extra: &[&str]) -> std::process::Output {
    let mut a: Vec<String> = vec![sub.into()];
    a.extend(store_args(d));
    a.extend(extra.iter().map(|s| s.to_string()));
    inspect(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The golden range queries of `tenant`, answered from `store`.
fn answers(store: &Path, tenant: &str) -> Vec<Value> {
    let qs: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(golden("multitenant-gzip/expected/queries.json")).unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    for q in qs
        .iter()
        .filter(|q| q["tenant"] == tenant && q["endpoint"] == "/loki/api/v1/query_range")
    {
        let p = &q["params"];
        let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
        let mut args = vec![
            "query".to_owned(),
            "--store".into(),
            store.display().to_string(),
            "--tenant".into(),
            tenant.into(),
            "--from".into(),
            s("start"),
            "--to".into(),
            s("end"),
        ];
        for k in ["limit", "direction", "step"] {
            if p[k].is_string() {
                args.push(format!("--{k}"));
                args.push(s(k));
            }
        }
        args.push(s("query"));
        let o = inspect(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut v: Value = serde_json::from_slice(&o.stdout).unwrap();
        if let Some(d) = v.get_mut("data") {
            d.as_object_mut().map(|d| d.remove("stats"));
        }
        out.push(v);
    }
    assert!(out.len() > 5, "{tenant}: {} queries", out.len());
    out
}

#[test]
fn verify_exit_codes_and_json() {
    let pristine = golden("multitenant-gzip/store-compacted");
    let o = run("verify", &pristine, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("OK: no problems found"));
    let p = plant_all();
    let o = run("verify", p.dir.path(), &["--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["findings"]["missing_chunk"], 1);
    assert_eq!(v["summary"]["findings"]["empty_chunk"], 1);
    assert_eq!(v["summary"]["findings"]["corrupt_chunk"], 1);
    assert_eq!(v["summary"]["findings"]["corrupt_index"], 1);
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"orphan_chunk"));
}

#[test]
fn repair_then_verify_is_clean_and_unaffected_answers_are_unchanged() {
    let pristine = store_copy("multitenant-gzip/store-compacted");
    let p = plant_all();
    let d = p.dir.path();
    let o = run("repair", d, &[]);
    assert!(!o.status.success(), "needs --dry-run or --apply");
    let o = run("repair", d, &["--dry-run"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("repair (would do)"));
    let o = run("repair", d, &["--apply", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["applied"], true);
    assert!(v["quarantine"].as_str().unwrap().starts_with("quarantine/"));
    let o = run("verify", d, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // game-platform had no fault; team-b lost an index file whose chunks repair indexed
    // again: both answer exactly as before.
    for tenant in ["game-platform", "team-b"] {
        assert_eq!(
            answers(d, tenant),
            answers(pristine.path(), tenant),
            "{tenant}"
        );
    }
}
