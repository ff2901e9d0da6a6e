//! Delete processing end to end: the compactor processes Loki's three recorded requests on
//! a copy of the `delete-request` store as ingested; then
//! * every query of Loki's `expected/` (made from Loki's own store after deletion), run over
//!   our processed store with no query-time filtering, gives Loki's answer;
//! * `loki-inspect deletes audit` lists what was removed, per request and tenant.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use assert_cmd::Command;
use loki_compactor::deletes::DeleteDb;
use loki_compactor::purge::{MemorySource, PurgeRequest};
use loki_compactor::runner::{Compactor, Options};
use serde_json::Value;

fn ds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden/delete-request")
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// Copies the store, processes the requests; returns the config path.
fn processed(root: &Path) -> PathBuf {
    copy_dir(&ds().join("store"), &root.join("bucket"));
    let text = std::fs::read_to_string(ds().join("loki-delete.yaml"))
        .unwrap()
        .replace("./bucket", &root.join("bucket").display().to_string())
        .replace("./data", &root.join("data").display().to_string());
    let cfg_path = root.join("loki.yaml");
    std::fs::write(&cfg_path, &text).unwrap();
    let cfg = loki_config::LokiConfig::from_yaml(&text, &cfg_path, false).unwrap();
    let gz = std::fs::read(
        ds().join("delete-requests/store-after-submit/index/delete_requests/delete_requests.gz"),
    )
    .unwrap();
    let db = DeleteDb::parse(&loki_tsdb::gunzip(&gz).unwrap()).unwrap();
    let requests = PurgeRequest::from_delete_db(&db);
    let created = requests.iter().map(|r| r.created_ms).max().unwrap();
    let source = Arc::new(MemorySource::new(requests));
    let c = Compactor::new(
        cfg,
        Options {
            clock: loki_compactor::Clock::fixed((created + 600_000) * 1_000_000),
            ..Default::default()
        },
    )
    .unwrap();
    c.set_purge_source(source.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(c.pass(true)).unwrap();
    assert_eq!(source.processed().len(), 3);
    cfg_path
}

fn query(bucket: &Path, q: &Value) -> Value {
    let p = &q["params"];
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
    let mut cmd = Command::cargo_bin("loki-inspect").unwrap();
    cmd.arg("query")
        .arg("--store")
        .arg(bucket)
        .arg("--no-deletes");
    cmd.args(["--tenant", q["tenant"].as_str().unwrap()]);
    if q["endpoint"] == "/loki/api/v1/query" {
        cmd.args(["--time", &s("time")]);
    } else {
        cmd.args(["--from", &s("start"), "--to", &s("end")]);
        for k in ["limit", "direction", "step"] {
            if p[k].is_string() {
                cmd.arg(format!("--{k}")).arg(s(k));
            }
        }
    }
    if q["headers"]["X-Loki-Response-Encoding-Flags"] == "categorize-labels" {
        cmd.arg("--categorize-labels");
    }
    let out = cmd.arg(s("query")).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn audit(args: &[&str]) -> String {
    let out = Command::cargo_bin("loki-inspect")
        .unwrap()
        .args(["deletes", "audit"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn processed_store_answers_like_loki_and_audit_lists_the_removals() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = processed(tmp.path());
    let bucket = tmp.path().join("bucket");

    let dir = ds().join("expected");
    let queries: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("queries.json")).unwrap()).unwrap();
    let mut failed = Vec::new();
    let mut checked = 0;
    for q in &queries {
        let ep = q["endpoint"].as_str().unwrap();
        if ep != "/loki/api/v1/query_range" && ep != "/loki/api/v1/query" {
            continue;
        }
        let mut want: Value =
            serde_json::from_slice(&std::fs::read(dir.join(q["file"].as_str().unwrap())).unwrap())
                .unwrap();
        want["data"].as_object_mut().unwrap().remove("stats");
        if query(&bucket, q) != want {
            failed.push(format!("{} {}", q["id"], q["params"]["query"]));
        }
        checked += 1;
    }
    assert!(
        failed.is_empty(),
        "differ from Loki:\n{}",
        failed.join("\n")
    );
    assert!(checked >= 40, "{checked}");

    // The audit log, from the store URL and from the config.
    let store = bucket.display().to_string();
    let json = audit(&["--store", &store, "--json"]);
    let records: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        records.len(),
        26,
        "one record per removed or rewritten chunk"
    );
    let mut removed: BTreeMap<String, u64> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for r in &records {
        *removed
            .entry(r["tenant"].as_str().unwrap().to_owned())
            .or_default() += r["lines_removed"].as_u64().unwrap();
        for id in r["request_ids"].as_array().unwrap() {
            ids.insert(id.as_str().unwrap().to_owned());
        }
    }
    // Inputs minus Loki's survivors: 1612 − 1581 and 927 − 888.
    assert_eq!(removed["game-platform"], 31);
    assert_eq!(removed["team-b"], 39);
    assert_eq!(
        ids,
        BTreeSet::from(["0ccbe1c8".into(), "27481822".into(), "f3161056".into()])
    );
    let cfg = cfg.display().to_string();
    assert_eq!(audit(&["--config.file", &cfg, "--json"]), json);
    let team_b = audit(&["--store", &store, "--json", "--tenant", "team-b"]);
    assert!(team_b.lines().all(|l| l.contains("\"tenant\":\"team-b\"")));
    assert_eq!(
        team_b.lines().count(),
        20,
        "team-b chunks in Loki's markers"
    );
    let one = audit(&["--store", &store, "--json", "--request", "27481822"]);
    assert!(one.lines().count() >= 1);
    assert!(one.lines().all(|l| l.contains("27481822")));
    let text = audit(&["--store", &store]);
    assert!(text.starts_with("TIME"), "{text}");
    assert!(
        text.contains("rewritten") && text.contains("team-b"),
        "{text}"
    );
}
