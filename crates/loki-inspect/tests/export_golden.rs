//! `loki-inspect export` of golden stores gives back `inputs.jsonl` (per stream, in time
//! order), resumes after an interruption, and `chunks-for` lists the chunk objects.
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn golden(ds: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/golden")
        .join(ds)
}

type Row = (i64, String, String);

/// An object as sorted `name=value` text (key order in files does not matter).
fn canon(v: &Value) -> String {
    let m: BTreeMap<&str, &str> = v
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    format!("{m:?}")
}

fn row(j: &Value) -> (String, Row) {
    let labels = canon(&j["labels"]);
    let sm = canon(&j["structured_metadata"]);
    let ts: i64 = j["ts_ns"].as_str().unwrap().parse().unwrap();
    (labels, (ts, j["line"].as_str().unwrap().to_owned(), sm))
}

/// inputs.jsonl of one tenant, per stream, sorted, without exact repeats.
fn inputs(ds: &str, tenant: &str) -> BTreeMap<String, Vec<Row>> {
    rows_of(&golden(ds).join("inputs.jsonl"), tenant)
}

fn rows_of(file: &Path, tenant: &str) -> BTreeMap<String, Vec<Row>> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out: BTreeMap<String, BTreeSet<Row>> = BTreeMap::new();
    for l in text.lines() {
        let j: Value = serde_json::from_str(l).unwrap();
        if j["tenant"] == tenant {
            let (k, r) = row(&j);
            out.entry(k).or_default().insert(r);
        }
    }
    out.into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

fn export(store: &Path, tenant: &str, format: &str, out: &Path) -> String {
    let o = Command::cargo_bin("loki-inspect")
        .unwrap()
        .args([
            "export",
            "--tenant",
            tenant,
            "--from",
            "0",
            "--to",
            "2000000000",
            "--format",
            format,
        ])
        .arg("--store")
        .arg(store)
        .arg("--out")
        .arg(out)
        .arg(r#"{k8s_namespace_name=~".+"}"#)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exported rows per stream, checking each file is in time order.
fn exported(dir: &Path) -> BTreeMap<String, Vec<Row>> {
    let mut out: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for f in std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = if name.ends_with(".ndjson.gz") {
            let mut s = String::new();
            flate2::read::GzDecoder::new(std::fs::File::open(&f).unwrap())
                .read_to_string(&mut s)
                .unwrap();
            s
        } else if name.ends_with(".ndjson") {
            std::fs::read_to_string(&f).unwrap()
        } else {
            continue;
        };
        let mut prev = i64::MIN;
        for l in text.lines() {
            let (k, r) = row(&serde_json::from_str(l).unwrap());
            assert!(r.0 >= prev, "{name}: not in time order");
            prev = r.0;
            out.entry(k).or_default().push(r);
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

#[test]
fn export_equals_inputs() {
    for (ds, tenant) in [
        ("basic-snappy", "fake"),
        ("multitenant-gzip", "game-platform"),
        ("multitenant-gzip", "team-b"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        export(&golden(ds).join("store"), tenant, "ndjson", tmp.path());
        let want = inputs(ds, tenant);
        assert!(!want.is_empty());
        let got = exported(tmp.path());
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{ds}/{tenant}"
        );
        for (k, w) in &want {
            let g = &got[k];
            let first_diff = g.iter().zip(w).position(|(a, b)| a != b);
            assert!(
                g.len() == w.len() && first_diff.is_none(),
                "{ds}/{tenant} {k}: {} exported vs {} pushed, first difference at {first_diff:?}",
                g.len(),
                w.len()
            );
        }
    }
}

#[test]
fn export_applies_pending_deletes() {
    let ds = golden("delete-request");
    let db = ds.join("delete-requests/store-after-submit/index/delete_requests/delete_requests.gz");
    for tenant in ["game-platform", "team-b"] {
        let tmp = tempfile::tempdir().unwrap();
        let o = Command::cargo_bin("loki-inspect")
            .unwrap()
            .args([
                "export",
                "--tenant",
                tenant,
                "--from",
                "0",
                "--to",
                "2000000000",
                "--quiet",
            ])
            .arg("--delete-requests")
            .arg(&db)
            .arg("--store")
            .arg(ds.join("store-compacted"))
            .arg("--out")
            .arg(tmp.path())
            .arg(r#"{k8s_namespace_name=~".+"}"#)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let want = rows_of(&ds.join("expected-remaining.jsonl"), tenant);
        assert!(
            exported(tmp.path()) == want,
            "{tenant}: export minus deletes differs from expected-remaining.jsonl"
        );
        assert!(
            want != inputs("delete-request", tenant),
            "{tenant}: the requests delete nothing"
        );
    }
}

#[test]
fn export_gz_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let store = golden("basic-snappy").join("store");
    export(&store, "fake", "gz", tmp.path());
    let first = exported(tmp.path());
    assert!(
        first == inputs("basic-snappy", "fake"),
        "gz export differs from inputs.jsonl"
    );
    // Interrupt: one stream's file missing, a stale partial file left behind.
    let victim = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".ndjson.gz"))
        .unwrap();
    std::fs::remove_file(&victim).unwrap();
    std::fs::write(victim.with_extension("partial"), b"garbage").unwrap();
    let log = export(&store, "fake", "gz", tmp.path());
    assert!(log.contains("exported 1 streams"), "{log}");
    assert!(exported(tmp.path()) == first, "resumed export differs");
}

#[test]
fn chunks_for_lists_existing_objects() {
    let store = golden("basic-snappy").join("store");
    let o = Command::cargo_bin("loki-inspect")
        .unwrap()
        .args([
            "chunks-for",
            "--tenant",
            "fake",
            "--from",
            "0",
            "--to",
            "2000000000",
            "--store",
        ])
        .arg(&store)
        .arg(r#"{k8s_namespace_name=~".+"}"#)
        .output()
        .unwrap();
    assert!(o.status.success());
    let keys: BTreeSet<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    // Every chunk object of the tenant is referenced by the index: the lists agree.
    let mut on_disk = BTreeSet::new();
    for fp in std::fs::read_dir(store.join("fake")).unwrap().flatten() {
        for c in std::fs::read_dir(fp.path()).unwrap().flatten() {
            on_disk.insert(format!(
                "fake/{}/{}",
                fp.file_name().to_string_lossy(),
                c.file_name().to_string_lossy()
            ));
        }
    }
    assert_eq!(keys, on_disk);
    // A narrow selector and range needs fewer.
    let o = Command::cargo_bin("loki-inspect")
        .unwrap()
        .args([
            "chunks-for",
            "--tenant",
            "fake",
            "--from",
            "1794960000",
            "--to",
            "1794963600",
            "--store",
        ])
        .arg(&store)
        .arg(r#"{stream="stderr"}"#)
        .output()
        .unwrap();
    let few = String::from_utf8(o.stdout).unwrap().lines().count();
    assert!(few > 0 && few < keys.len(), "{few}");
}
