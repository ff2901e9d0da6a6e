//! Shared by the maintenance CLI tests: golden stores, tree copies, and Loki's recorded
//! answers replayed through `loki-inspect query`/`labels`/`series`.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

pub fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden")
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// (table, tenant) pairs with a per-tenant index in `store`.
pub fn per_tenant_indexes(store: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(store.join("index")).unwrap().flatten() {
        for u in std::fs::read_dir(t.path()).unwrap().flatten() {
            if u.file_type().unwrap().is_dir() {
                out.push((
                    t.file_name().to_string_lossy().into_owned(),
                    u.file_name().to_string_lossy().into_owned(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Loki lists series in map order: compare them as a set.
pub fn sort_series(v: &mut Value) {
    if let Some(a) = v["data"].as_array_mut() {
        a.sort_by_key(|x| {
            let mut kv: Vec<String> = x
                .as_object()
                .map(|o| o.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            kv.sort();
            kv.join(",")
        });
    }
}

/// Runs one golden query against `store` (with `extra` flags, e.g. `--endpoint`) the way
/// `query_golden.rs` does.
pub fn run_query(store: &str, extra: &[&str], q: &Value) -> Value {
    let p = &q["params"];
    let s = |k: &str| p[k].as_str().map(str::to_owned).unwrap_or_default();
    let endpoint = q["endpoint"].as_str().unwrap_or("");
    let sub = match endpoint {
        "/loki/api/v1/labels" => "labels",
        "/loki/api/v1/series" => "series",
        e if e.starts_with("/loki/api/v1/label/") => "labels",
        _ => "query",
    };
    let mut cmd = Command::cargo_bin("loki-inspect").unwrap();
    cmd.arg(sub).arg("--store").arg(store).args(extra);
    cmd.args(["--tenant", q["tenant"].as_str().unwrap_or("fake")]);
    if endpoint == "/loki/api/v1/query" {
        cmd.args(["--time", &s("time")]);
    } else {
        cmd.args(["--from", &s("start"), "--to", &s("end")]);
    }
    match sub {
        "labels" => {
            if let Some(name) = endpoint.strip_prefix("/loki/api/v1/label/") {
                cmd.args(["--values", name.trim_end_matches("/values")]);
            }
        }
        "series" => {
            cmd.arg(s("match[]"));
        }
        _ => {
            for k in ["limit", "direction", "step"] {
                if p[k].is_string() {
                    cmd.arg(format!("--{k}")).arg(s(k));
                }
            }
            if q["headers"]["X-Loki-Response-Encoding-Flags"] == "categorize-labels" {
                cmd.arg("--categorize-labels");
            }
            cmd.arg(s("query"));
        }
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        q["id"],
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
    if sub == "series" {
        sort_series(&mut v);
    }
    v
}

/// Checks every golden answer of `dataset/expected` (except index/stats, not reproduced by
/// `query_golden.rs` either) against `store`, for `tenants` (all when empty). Returns the
/// number of answers checked.
pub fn check_answers(dataset: &str, store: &str, extra: &[&str], tenants: &[&str]) -> usize {
    let dir = golden().join(dataset).join("expected");
    let queries: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("queries.json")).unwrap()).unwrap();
    let mut checked = 0;
    for q in queries {
        if q["endpoint"] == "/loki/api/v1/index/stats" {
            continue;
        }
        let tenant = q["tenant"].as_str().unwrap_or("fake");
        if !tenants.is_empty() && !tenants.contains(&tenant) {
            continue;
        }
        let mut want: Value =
            serde_json::from_slice(&std::fs::read(dir.join(q["file"].as_str().unwrap())).unwrap())
                .unwrap();
        if let Some(d) = want["data"].as_object_mut() {
            d.remove("stats");
        }
        if q["endpoint"] == "/loki/api/v1/series" {
            sort_series(&mut want);
        }
        let got = run_query(store, extra, &q);
        assert!(
            got == want,
            "{dataset} {} on {store}: answer differs from Loki's",
            q["id"]
        );
        checked += 1;
    }
    checked
}
