//! Spilling postings to scratch runs does not change a single byte of the index.
use loki_tsdb::{ChunkMeta, FormatVersion, IndexReader, IndexWriter};

fn write(limit: usize) -> Vec<u8> {
    let mut symbols: Vec<String> = ["app", "env", "pod", "team", "zone"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for i in 0..400 {
        symbols.push(format!("v{i:04}"));
    }
    symbols.sort();
    symbols.dedup();
    let idx = |s: &str| symbols.binary_search_by(|x| x.as_str().cmp(s)).unwrap() as u32;
    let names = ["app", "env", "pod", "team", "zone"].map(idx);
    let mut w = IndexWriter::new(Vec::new(), FormatVersion::V3, symbols.clone()).unwrap();
    w.set_postings_memory_limit(limit);
    for s in 0..3000u64 {
        let labels: Vec<(u32, u32)> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| s % (*i as u64 + 2) != 1)
            .map(|(i, &n)| (n, idx(&format!("v{:04}", (s * 7 + i as u64 * 13) % 400))))
            .collect();
        let chunk = ChunkMeta {
            min_time: s as i64,
            max_time: s as i64 + 10,
            checksum: s as u32,
            kb: 1,
            entries: 2,
            ingested_at: 0,
        };
        w.add_series(s * 1_000_003, &labels, &[chunk]).unwrap();
    }
    w.finish().unwrap().0
}

#[test]
fn spilled_postings_give_identical_bytes() {
    let in_memory = write(usize::MAX);
    for limit in [1, 17, 5000] {
        assert_eq!(write(limit), in_memory, "limit {limit}");
    }
    let r = IndexReader::from_bytes(in_memory).unwrap();
    r.verify().unwrap();
}
