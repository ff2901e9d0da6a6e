//! `loki-inspect query --output loki-json` reproduces every query_range / query answer of
//! every golden dataset (Loki's raw response bodies, compared as JSON without `stats`).
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden")
}

/// Answers we do not reproduce yet, by `dataset/expected-dir/id`, with the reason.
const KNOWN_MISSING: &[(&str, &str)] = &[];

/// The bucket each expected directory was produced from (see each MANIFEST.md).
fn store_for(dataset: &str, expected_dir: &str) -> &'static str {
    match (dataset, expected_dir) {
        (_, "expected-incremental") => "store-incremental-compacted",
        ("delete-request" | "retention", _) => "store-after-sweep",
        _ => "store",
    }
}

fn run_query(dir: &Path, store: &Path, q: &Value) -> Result<Value, String> {
    let p = &q["params"];
    let s = |k: &str| p[k].as_str().map(str::to_owned);
    let mut cmd = Command::cargo_bin("loki-inspect").map_err(|e| e.to_string())?;
    cmd.arg("query").arg("--store").arg(store);
    cmd.args(["--tenant", q["tenant"].as_str().unwrap_or("fake")]);
    if q["endpoint"] == "/loki/api/v1/query" {
        cmd.args(["--time", &s("time").unwrap_or_default()]);
    } else {
        cmd.args([
            "--from",
            &s("start").unwrap_or_default(),
            "--to",
            &s("end").unwrap_or_default(),
        ]);
        for k in ["limit", "direction", "step"] {
            if let Some(v) = s(k) {
                cmd.arg(format!("--{k}")).arg(v);
            }
        }
    }
    if q["headers"]["X-Loki-Response-Encoding-Flags"] == "categorize-labels" {
        cmd.arg("--categorize-labels");
    }
    cmd.arg(s("query").unwrap_or_default());
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "exit {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let _ = dir;
    serde_json::from_slice(&out.stdout).map_err(|e| format!("bad JSON: {e}"))
}

fn subdirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn expected_dirs(p: &Path) -> Vec<PathBuf> {
    subdirs(p)
        .into_iter()
        .filter(|d| d.join("queries.json").is_file())
        .collect()
}

#[test]
fn golden_query_answers() {
    let mut datasets: Vec<(String, PathBuf)> = Vec::new();
    for top in subdirs(&golden()) {
        let name = top.file_name().unwrap().to_string_lossy().into_owned();
        if expected_dirs(&top).is_empty() {
            // `codecs/<codec>/` holds one dataset per codec.
            for sub in subdirs(&top) {
                let sname = format!("{name}/{}", sub.file_name().unwrap().to_string_lossy());
                datasets.push((sname, sub));
            }
        } else {
            datasets.push((name, top));
        }
    }
    let (mut passed, mut failed, mut known, mut skipped) = (0, Vec::new(), 0, 0);
    let mut unexpectedly_passing = Vec::new();
    for (name, ds) in datasets {
        for dir in expected_dirs(&ds) {
            let dname = dir.file_name().unwrap().to_string_lossy().into_owned();
            let store = ds.join(store_for(&name, &dname));
            assert!(store.is_dir(), "{}", store.display());
            let queries: Vec<Value> =
                serde_json::from_slice(&std::fs::read(dir.join("queries.json")).unwrap()).unwrap();
            for q in queries {
                let endpoint = q["endpoint"].as_str().unwrap_or("");
                if endpoint != "/loki/api/v1/query_range" && endpoint != "/loki/api/v1/query" {
                    // labels / series / index stats are not `query` answers.
                    skipped += 1;
                    continue;
                }
                let id = format!("{name}/{dname}/{}", q["id"].as_str().unwrap_or(""));
                let mut want: Value = serde_json::from_slice(
                    &std::fs::read(dir.join(q["file"].as_str().unwrap())).unwrap(),
                )
                .unwrap();
                if let Some(d) = want["data"].as_object_mut() {
                    d.remove("stats");
                }
                let ok = match run_query(&dir, &store, &q) {
                    Ok(got) => got == want,
                    Err(e) => {
                        eprintln!("{id}: {e}");
                        false
                    }
                };
                let is_known = KNOWN_MISSING.iter().any(|(k, _)| *k == id);
                match (ok, is_known) {
                    (true, false) => passed += 1,
                    (true, true) => unexpectedly_passing.push(id),
                    (false, true) => known += 1,
                    (false, false) => failed.push(format!("{id}: {}", q["params"]["query"])),
                }
            }
        }
    }
    eprintln!(
        "golden queries: {passed} reproduced, {known} known-missing, {skipped} non-query endpoints not checked here"
    );
    assert!(
        failed.is_empty(),
        "answers differ from Loki's:\n{}",
        failed.join("\n")
    );
    assert!(
        unexpectedly_passing.is_empty(),
        "now passing, remove from KNOWN_MISSING: {unexpectedly_passing:?}"
    );
    assert!(passed > 150, "too few golden queries checked: {passed}");
}
