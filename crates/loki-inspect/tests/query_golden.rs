//! `loki-inspect query --output loki-json` (and `labels`, `series`) reproduce the golden
//! datasets' answers: Loki's raw response bodies, compared as JSON without `stats`.
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden")
}

/// Answers we do not reproduce yet, by `dataset/expected-dir/id`, with the reason.
///
/// Index stats: `loki-inspect stats` sums per day table exactly as the index reports it
/// (tsdb-index spec sections 14, 17, 19) and reproduces the answers of the tenants that had
/// not queried the same selector before (audit in multitenant-gzip and retention). The 6
/// others were asked after range metric queries over `{k8s_namespace_name=~".+"}` by the
/// same tenant (q016/q019 and equivalents, step 1h): their answers count extra stream and
/// chunk pieces (basic-snappy: 108 streams and 136 chunks where the index has 12 streams
/// and 53 chunk refs) with correspondingly more pro-rating truncation, as if stats cached
/// for the sub-ranges the earlier queries asked for (query sharding asks index stats per
/// split) were summed with the rest. That depends on the query history of a running
/// frontend, not on the bucket; no fixed split interval, offset or per-file stream count
/// reproduces them (see formats/logql.md).
const STATS_INFLATED: &str = "Loki summed stats cached by earlier queries of the tenant";
const KNOWN_MISSING: &[(&str, &str)] = &[
    ("basic-snappy/expected/q029", STATS_INFLATED),
    ("delete-request/expected/q029", STATS_INFLATED),
    ("delete-request/expected/q060", STATS_INFLATED),
    ("multitenant-gzip/expected/q029", STATS_INFLATED),
    ("multitenant-gzip/expected/q074", STATS_INFLATED),
    ("retention/expected/q029", STATS_INFLATED),
];

/// Endpoints not reproduced at all, listed here so they are not skipped silently.
const KNOWN_MISSING_ENDPOINTS: &[(&str, &str)] = &[];

/// The bucket each expected directory was produced from (see each MANIFEST.md).
fn store_for(dataset: &str, expected_dir: &str) -> &'static str {
    match (dataset, expected_dir) {
        (_, "expected-incremental") => "store-incremental-compacted",
        ("delete-request" | "retention", _) => "store-after-sweep",
        _ => "store",
    }
}

fn run_query(store: &Path, q: &Value) -> Result<Value, String> {
    let p = &q["params"];
    let s = |k: &str| p[k].as_str().map(str::to_owned).unwrap_or_default();
    let endpoint = q["endpoint"].as_str().unwrap_or("");
    let mut cmd = Command::cargo_bin("loki-inspect").map_err(|e| e.to_string())?;
    let sub = match endpoint {
        "/loki/api/v1/labels" => "labels",
        "/loki/api/v1/series" => "series",
        e if e.starts_with("/loki/api/v1/label/") => "labels",
        "/loki/api/v1/index/stats" => "stats",
        _ => "query",
    };
    cmd.arg(sub).arg("--store").arg(store);
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
        "stats" => {
            cmd.arg("--json").arg(s("query"));
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
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "exit {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("bad JSON: {e}"))?;
    if sub == "series" {
        sort_series(&mut v);
    }
    Ok(v)
}

/// Loki lists series in map order: compare them as a set.
fn sort_series(v: &mut Value) {
    if let Some(a) = v["data"].as_array_mut() {
        // Key order inside each object differs too: sort by the sorted pairs.
        a.sort_by_key(|x| {
            x.as_object()
                .map(|o| {
                    let mut kv: Vec<String> = o.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    kv.sort();
                    kv.join(",")
                })
                .unwrap_or_default()
        });
    }
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
                if let Some((_, why)) = KNOWN_MISSING_ENDPOINTS.iter().find(|(e, _)| *e == endpoint)
                {
                    eprintln!("known missing: {endpoint} ({why})");
                    skipped += 1;
                    continue;
                }
                let id = format!("{name}/{dname}/{}", q["id"].as_str().unwrap_or(""));
                let mut want: Value = serde_json::from_slice(
                    &std::fs::read(dir.join(q["file"].as_str().unwrap())).unwrap(),
                )
                .unwrap();
                // `get_mut`, not `want["data"]`: indexing would add `"data": null` to the
                // bodies that have no data (index stats).
                if let Some(d) = want.get_mut("data").and_then(Value::as_object_mut) {
                    d.remove("stats");
                }
                if endpoint == "/loki/api/v1/series" {
                    // serde_json objects compare regardless of key order; sort the list.
                    sort_series(&mut want);
                }
                let ok = match run_query(&store, &q) {
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
        "golden answers: {passed} reproduced, {known} known-missing, {skipped} of known-missing endpoints"
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
    assert!(passed > 200, "too few golden answers checked: {passed}");
}
