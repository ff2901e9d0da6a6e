//! A merge large enough to take every on-disk path (inputs with sampled
//! symbol tables, symbol maps in mapped scratch files, the output symbol
//! table and postings offset table spilled to scratch) writes the same bytes
//! as the in-memory builder, reads back the same, and leaves no scratch file
//! behind.
use loki_tsdb::{gzip, merge_in, ChunkMeta, FormatVersion, IndexBuilder, IndexReader, Labels};

/// Above the reader's full symbol index (64 Ki symbols) and with values
/// long enough that the output symbol table exceeds the 1 MiB spill limit.
const SERIES: u64 = 66_000;

fn labels(s: u64) -> Labels {
    Labels::new([
        ("app", format!("app-{}", s % 17)),
        ("pod", format!("pod-with-a-long-name-{s:08}")),
    ])
}

fn chunk(s: u64, j: u64) -> ChunkMeta {
    ChunkMeta {
        min_time: 1_000 + j as i64 * 100,
        max_time: 1_050 + j as i64 * 100,
        checksum: (s * 7 + j) as u32,
        kb: 1,
        entries: 3,
        ingested_at: 0,
    }
}

#[test]
fn large_merge_matches_the_builder_and_cleans_up() {
    // Both inputs hold every series (so each has more than 64 Ki symbols),
    // with one chunk of their own and one replica the merge de-duplicates.
    let mut inputs = Vec::new();
    let mut all = IndexBuilder::new(FormatVersion::V3);
    for i in 0..2u64 {
        let mut b = IndexBuilder::new(FormatVersion::V3);
        for s in 0..SERIES {
            let l = labels(s);
            let fp = l.fingerprint();
            b.add_series(l.clone(), fp, [chunk(s, i), chunk(s, 9)]);
            all.add_series(l, fp, [chunk(s, i), chunk(s, 9)]);
        }
        // Gzipped and opened through a scratch file, as the compactor does.
        let (raw, _) = b.build().unwrap();
        inputs.push(gzip(&raw));
    }
    let scratch = tempfile::tempdir().unwrap();
    let readers: Vec<IndexReader> = inputs
        .iter()
        .map(|gz| IndexReader::from_gzip_in(gz, scratch.path()).unwrap())
        .collect();
    let views: Vec<_> = readers.iter().map(IndexReader::view).collect();
    let (merged, summary) =
        merge_in(&views, FormatVersion::V3, Vec::new(), scratch.path()).unwrap();
    let (expected, _) = all.build().unwrap();
    assert_eq!(summary.series, SERIES);
    assert!(merged == expected, "merged bytes differ from the builder's");
    let r = IndexReader::from_bytes(merged).unwrap();
    r.verify().unwrap();
    let hit = r
        .view()
        .query(
            &loki_tsdb::parse_selector(r#"{pod="pod-with-a-long-name-00065999"}"#).unwrap(),
            0,
            i64::MAX,
            None,
        )
        .unwrap();
    assert_eq!(hit.len(), 1);
    assert_eq!(hit[0].chunks.len(), 3);
    drop(readers);
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
}
