//! `loki-inspect query` and `export` end to end (index read, chunk fetch and decode,
//! LogQL, output) over a bucket built from real Loki chunk objects: one bucket per codec.
//!
//! Chunks: `$LOKI_BENCH_CORPUS/chunks` (the shared bench corpus: 4 chunks per codec) or,
//! by default, `testdata/chunk/bench-sample` (1 chunk per codec). Throughput is counted in
//! payload bytes (line text plus structured metadata) of all chunks, like Loki's figures;
//! entries/s = bytes/s × entries / payload, printed at start-up.
#[path = "support/store.rs"]
mod store;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loki_chunk::ChunkObject;

/// The three queries measured, by name.
const QUERIES: [(&str, &str); 3] = [
    (
        "line-filter",
        r#"{cluster="prod-eu-1"} |= "POST" != "/health""#,
    ),
    (
        "json-label-filter",
        r#"{cluster="prod-eu-1"} | json | __error__="" | status >= 500"#,
    ),
    (
        "metric",
        r#"sum by (app) (count_over_time({cluster="prod-eu-1"} |= "GET" [1m]))"#,
    ),
];

struct Store {
    codec: String,
    _dir: tempfile::TempDir,
    root: PathBuf,
    /// Time range covering every chunk (ms).
    from_ms: i64,
    to_ms: i64,
    entries: u64,
    payload: u64,
}

fn chunks_dir() -> PathBuf {
    match std::env::var_os("LOKI_BENCH_CORPUS") {
        Some(d) => PathBuf::from(d).join("chunks"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/chunk/bench-sample"),
    }
}

fn build(codec: &str) -> Store {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut w = store::StoreWriter::default();
    let (mut from_ms, mut to_ms, mut entries, mut payload) = (i64::MAX, i64::MIN, 0, 0);
    let mut paths: Vec<_> = std::fs::read_dir(chunks_dir().join(codec))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for p in paths {
        let obj = ChunkObject::decode(std::fs::read(&p).unwrap()).unwrap();
        let chunk = obj.chunk().unwrap();
        let key = obj.key();
        from_ms = from_ms.min(key.from_ms);
        to_ms = to_ms.max(key.through_ms + 1);
        entries += chunk.num_entries();
        payload += chunk.uncompressed_size();
        w.add(&root, &obj, chunk.uncompressed_size(), chunk.num_entries());
    }
    w.finish(&root);
    eprintln!("{codec}: {entries} entries, {payload} payload bytes");
    Store {
        codec: codec.to_owned(),
        _dir: dir,
        root,
        from_ms,
        to_ms,
        entries,
        payload,
    }
}

fn inspect(args: &[&str], store: &Path) {
    let ok = Command::new(env!("CARGO_BIN_EXE_loki-inspect"))
        .args(args)
        .arg("--store")
        .arg(store)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "loki-inspect {args:?} failed");
}

fn stores() -> Vec<Store> {
    ["snappy", "gzip", "zstd", "lz4"]
        .iter()
        .map(|c| build(c))
        .collect()
}

fn query(c: &mut Criterion) {
    let stores = stores();
    for (name, q) in QUERIES {
        let mut g = c.benchmark_group(format!("query/{name}"));
        g.sample_size(10);
        for s in &stores {
            g.throughput(Throughput::Bytes(s.payload));
            let (from, to) = (
                (s.from_ms * 1_000_000).to_string(),
                (s.to_ms * 1_000_000).to_string(),
            );
            let mut args = vec![
                "query", "--tenant", "tenant-a", "--from", &from, "--to", &to, "--limit", "5000",
            ];
            if name == "metric" {
                args.extend(["--step", "60"]);
            }
            args.push(q);
            g.bench_function(&s.codec, |b| b.iter(|| inspect(&args, &s.root)));
        }
        g.finish();
    }
    let mut g = c.benchmark_group("export");
    g.sample_size(10);
    for s in &stores {
        g.throughput(Throughput::Bytes(s.payload));
        let out = tempfile::tempdir().unwrap();
        let (from, to) = (
            (s.from_ms * 1_000_000).to_string(),
            (s.to_ms * 1_000_000).to_string(),
        );
        let out_s = out.path().join("x").to_string_lossy().into_owned();
        g.bench_function(&s.codec, |b| {
            b.iter(|| {
                let _ = std::fs::remove_dir_all(&out_s);
                inspect(
                    &[
                        "export",
                        "--tenant",
                        "tenant-a",
                        "--from",
                        &from,
                        "--to",
                        &to,
                        "--format",
                        "ndjson",
                        "--out",
                        &out_s,
                        r#"{cluster="prod-eu-1"}"#,
                    ],
                    &s.root,
                )
            })
        });
    }
    g.finish();
    for s in &stores {
        eprintln!(
            "{}: {} entries per {} payload bytes (entries/s = bytes/s × {:.6})",
            s.codec,
            s.entries,
            s.payload,
            s.entries as f64 / s.payload as f64
        );
    }
}

criterion_group!(benches, query);
criterion_main!(benches);
