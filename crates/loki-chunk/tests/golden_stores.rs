//! Every chunk object Loki wrote in the golden stores decodes with valid checksums, and each
//! dataset's `store/` holds exactly the entries that were pushed (`inputs.jsonl`).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use loki_chunk::{ChunkKey, ChunkObject};
use serde_json::Value;

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden")
}

/// (tenant, labels, ts, line, structured metadata), comparable and hashable.
type Row = (
    String,
    BTreeMap<String, String>,
    i64,
    String,
    BTreeMap<String, String>,
);

fn store_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    let mut stack = vec![golden()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if !p.is_dir() {
                continue;
            }
            let name = p.file_name().unwrap().to_str().unwrap();
            if name.starts_with("store") {
                roots.push(p);
            } else if name != "expected" && name != "delete-requests" {
                stack.push(p);
            }
        }
    }
    roots.sort();
    roots
}

fn chunk_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for tenant in std::fs::read_dir(root).unwrap() {
        let tenant = tenant.unwrap().path();
        if tenant.file_name().unwrap() == "index" || !tenant.is_dir() {
            continue;
        }
        for fp in std::fs::read_dir(&tenant).unwrap() {
            for f in std::fs::read_dir(fp.unwrap().path()).unwrap() {
                out.push(f.unwrap().path());
            }
        }
    }
    out.sort();
    out
}

fn decode_store(root: &Path) -> BTreeSet<Row> {
    let mut rows = BTreeSet::new();
    let files = chunk_files(root);
    assert!(!files.is_empty(), "{}", root.display());
    for f in files {
        let rel = f.strip_prefix(root).unwrap().to_str().unwrap().to_string();
        let key = ChunkKey::parse_filesystem_path(&rel).unwrap();
        let bytes = std::fs::read(&f).unwrap();
        // Loki's fetch-time checks: object CRC == key checksum, metadata == key.
        let obj = ChunkObject::decode_with_key(bytes, &key)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let chunk = obj
            .chunk()
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(chunk.checksums_ok());
        let labels: BTreeMap<String, String> = obj
            .meta
            .stream_labels()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            obj.meta.stream_labels().fingerprint(),
            key.fingerprint,
            "{rel}"
        );
        let (from, through) = (chunk.min_time_ns().unwrap(), chunk.max_time_ns().unwrap());
        assert_eq!(loki_chunk::ns_to_ms_floor(from), key.from_ms, "{rel}");
        assert_eq!(loki_chunk::ns_to_ms_ceil(through), key.through_ms, "{rel}");
        for e in chunk.entries() {
            let e = e.unwrap();
            let sm = e
                .structured_metadata
                .iter()
                .map(|(n, v)| (utf8(n), utf8(v)))
                .collect();
            rows.insert((
                obj.meta.tenant.clone(),
                labels.clone(),
                e.timestamp_ns,
                utf8(&e.line),
                sm,
            ));
        }
    }
    rows
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

fn inputs(path: &Path) -> BTreeSet<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["tenant"].as_str().unwrap().to_string(),
                map(&v["labels"]),
                v["ts_ns"].as_str().unwrap().parse().unwrap(),
                v["line"].as_str().unwrap().to_string(),
                map(&v["structured_metadata"]),
            )
        })
        .collect()
}

#[test]
fn every_golden_chunk_decodes_with_valid_checksums() {
    let roots = store_roots();
    assert!(roots.len() >= 20, "found {} store trees", roots.len());
    let mut objects = 0;
    for root in &roots {
        objects += chunk_files(root).len();
        decode_store(root);
    }
    assert!(objects > 1500, "{objects}");
}

#[test]
fn each_store_holds_exactly_the_pushed_entries() {
    let mut datasets = 0;
    for root in store_roots() {
        if root.file_name().unwrap() != "store" {
            continue;
        }
        let dataset = root.parent().unwrap();
        // The codecs dataset shares one inputs file among its per-codec stores.
        let input = [
            dataset.join("inputs.jsonl"),
            dataset.parent().unwrap().join("inputs.jsonl"),
        ]
        .into_iter()
        .find(|p| p.exists())
        .unwrap();
        let want = inputs(&input);
        let got = decode_store(&root);
        let missing: Vec<_> = want.difference(&got).take(3).collect();
        let extra: Vec<_> = got.difference(&want).take(3).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: {} missing (e.g. {missing:?}), {} unexpected (e.g. {extra:?})",
            root.display(),
            want.difference(&got).count(),
            got.difference(&want).count()
        );
        datasets += 1;
    }
    assert_eq!(datasets, 13, "4 datasets + 9 codecs");
}
