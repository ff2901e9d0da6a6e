//! Opening an index from a stream (as the compactor does for large downloads) gives the
//! same reader as opening its bytes, for raw and gzipped Loki files, and a damaged gzip
//! stream is an error naming the gzip section.
use std::path::Path;

use loki_tsdb::{gzip, IndexReader};

fn vectors() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tsdb/vectors");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsdb"))
        .collect();
    v.sort();
    assert!(v.len() >= 3, "vectors missing");
    v
}

fn content(r: &IndexReader) -> (usize, Vec<String>, Vec<loki_tsdb::Series>) {
    let symbols = r.symbols().map(str::to_owned).collect();
    let mut series = Vec::new();
    let mut cursor = r.series().unwrap();
    while cursor.advance().unwrap() {
        series.push(cursor.to_series());
    }
    (r.len(), symbols, series)
}

#[test]
fn streamed_open_equals_bytes_open() {
    let scratch = tempfile::tempdir().unwrap();
    for path in vectors() {
        let raw = std::fs::read(&path).unwrap();
        let want = content(&IndexReader::from_bytes(raw.clone()).unwrap());
        for input in [raw.clone(), gzip(&raw)] {
            let r = IndexReader::from_gzip_reader_in(&input[..], scratch.path()).unwrap();
            r.verify().unwrap();
            assert_eq!(content(&r), want, "{}", path.display());
        }
    }
}

#[test]
fn truncated_gzip_stream_is_an_error() {
    let scratch = tempfile::tempdir().unwrap();
    let raw = std::fs::read(&vectors()[0]).unwrap();
    let gz = gzip(&raw);
    let Err(err) = IndexReader::from_gzip_reader_in(&gz[..gz.len() / 2], scratch.path()) else {
        panic!("a truncated gzip stream must not open");
    };
    assert!(err.to_string().contains("gzip"), "{err}");
}
