//! `export` merges a stream's overlapping chunks in time order, writes entries repeated by
//! overlapping chunks once, and does so whatever the fetch batch size.
#[path = "../benches/support/store.rs"]
mod store;

use assert_cmd::Command;
use loki_chunk::{ChunkObject, ChunkWriter, Labels, ObjectMeta, WriterOptions};

const S: i64 = 1_000_000_000;
/// 2026-11-20T00:00:00Z.
const T0: i64 = 1_795_132_800 * S;

fn chunk(labels: &Labels, entries: &[(i64, &str)]) -> ChunkObject {
    let mut w = ChunkWriter::new(WriterOptions::default());
    for (ts, line) in entries {
        w.append::<&str, &str>(T0 + ts * S, line.as_bytes(), &[])
            .unwrap();
    }
    w.close().unwrap();
    let (first, last) = (entries[0].0, entries[entries.len() - 1].0);
    let meta = ObjectMeta::for_stream("fake", labels, T0 + first * S, T0 + last * S);
    ChunkObject::encode(&meta, &w.to_bytes().unwrap()).unwrap()
}

#[test]
fn overlapping_chunks_are_merged_in_order_and_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bucket");
    let labels = Labels::new([("app", "a")]);
    let chunks = [
        chunk(&labels, &[(0, "a0"), (2, "a2"), (4, "a4"), (6, "a6")]),
        // Overlaps the first chunk, repeats its entry at 4 s.
        chunk(&labels, &[(1, "b1"), (4, "a4"), (5, "b5"), (9, "b9")]),
        // Overlaps the second only.
        chunk(&labels, &[(8, "c8"), (10, "c10")]),
        // After a gap.
        chunk(&labels, &[(20, "d20"), (21, "d21")]),
    ];
    let mut w = store::StoreWriter::default();
    for c in &chunks {
        let n = c.chunk().unwrap().num_entries();
        w.add(&root, c, 100, n);
    }
    w.finish(&root);
    let want: Vec<&str> = vec![
        "a0", "b1", "a2", "a4", "b5", "a6", "c8", "b9", "c10", "d20", "d21",
    ];
    for concurrency in ["1", "2", "16"] {
        let out = dir.path().join(format!("out-{concurrency}"));
        Command::cargo_bin("loki-inspect")
            .unwrap()
            .args([
                "export",
                "--quiet",
                "--format",
                "text",
                "--concurrency",
                concurrency,
            ])
            .arg("--store")
            .arg(&root)
            .args([
                "--from",
                "2026-11-20T00:00:00Z",
                "--to",
                "2026-11-21T00:00:00Z",
            ])
            .arg("--out")
            .arg(&out)
            .arg(r#"{app="a"}"#)
            .assert()
            .success();
        let file = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "txt"))
            .unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().map(|l| l.split_once(' ').unwrap().1).collect();
        assert_eq!(lines, want, "--concurrency {concurrency}");
    }
}
