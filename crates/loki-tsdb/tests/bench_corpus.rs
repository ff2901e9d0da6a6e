//! Checks on the large bench corpus (`../shared/bench-corpus/tsdb`, 50 MB,
//! not copied into testdata). Ignored by default; run with
//! `cargo test -p loki-tsdb --test bench_corpus -- --ignored`.

use std::path::{Path, PathBuf};

use loki_tsdb::{merge, parse_selector, FormatVersion, IndexReader, IndexView};
use sha2::{Digest, Sha256};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench-corpus/tsdb");
    p.join("manifest.json").exists().then_some(p)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs ../shared/bench-corpus"]
fn merge_reproduces_the_compacted_corpus_and_queries_match_the_manifest() {
    let Some(root) = corpus() else {
        eprintln!("bench corpus absent, skipping");
        return;
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let uploads: Vec<IndexReader> = files(&root.join("uploads/index/index_20777"))
        .iter()
        .map(|p| IndexReader::open(p).unwrap())
        .collect();
    assert_eq!(uploads.len(), 48);
    let (from, through) = (
        manifest["query_time_range_ms"][0].as_i64().unwrap(),
        manifest["query_time_range_ms"][1].as_i64().unwrap(),
    );
    for c in manifest["compacted"].as_array().unwrap() {
        let tenant = c["tenant"].as_str().unwrap();
        let views: Vec<IndexView<'_>> = uploads.iter().map(|r| r.tenant_view(tenant)).collect();
        let (bytes, summary) = merge(&views, FormatVersion::V3, Vec::new()).unwrap();
        let want =
            loki_tsdb::gunzip(&std::fs::read(root.join(c["path"].as_str().unwrap())).unwrap())
                .unwrap();
        assert!(bytes == want, "{tenant}: merged bytes differ");
        assert_eq!(summary.series, c["series"].as_u64().unwrap());
        assert_eq!(summary.chunks, c["chunk_metas"].as_u64().unwrap());
        let r = IndexReader::from_bytes(bytes).unwrap();
        for q in c["queries"].as_array().unwrap() {
            let m = parse_selector(q["matchers"].as_str().unwrap()).unwrap();
            let refs = r.view().chunk_refs(&m, from, through, None).unwrap();
            let series = r.view().query(&m, from, through, None).unwrap();
            let mut lines: Vec<String> = refs
                .iter()
                .map(|c| {
                    format!(
                        "{:x}/{:x}:{:x}:{:x}\n",
                        c.fingerprint, c.meta.min_time, c.meta.max_time, c.meta.checksum
                    )
                })
                .collect();
            lines.sort();
            let digest: String = Sha256::digest(lines.concat())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(refs.len() as u64, q["chunk_refs"].as_u64().unwrap(), "{q}");
            assert_eq!(series.len() as u64, q["series"].as_u64().unwrap(), "{q}");
            assert_eq!(digest, q["refs_sha256"].as_str().unwrap(), "{q}");
        }
    }
}
