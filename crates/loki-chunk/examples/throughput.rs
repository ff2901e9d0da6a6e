//! Single-thread decode/encode throughput on the bench corpus, in *thread CPU time*, next to
//! Loki's Go figures from the corpus README. CPU time keeps the ratios meaningful on a shared,
//! busy machine, where criterion's wall-clock numbers drift with the neighbours' load.
//!
//! `cargo run --release -p loki-chunk --example throughput [CORPUS_DIR] [ROUNDS]`
use std::path::PathBuf;

use bytes::Bytes;
use cpu_time::ThreadTime;
use loki_chunk::{ChunkObject, ChunkWriter, FormatVersion, ObjectMeta, WriterOptions};

/// Loki's medians on the same files (M entries/s and MB/s): decode, then encode.
const LOKI: [(&str, f64, f64, f64, f64); 4] = [
    ("snappy", 1.05, 386.0, 0.86, 315.0),
    ("gzip", 0.61, 225.0, 0.33, 120.0),
    ("zstd", 0.94, 348.0, 0.45, 167.0),
    ("lz4", 1.22, 449.0, 0.71, 261.0),
];

fn best_of<F: FnMut() -> usize>(rounds: usize, mut f: F) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = ThreadTime::now();
        std::hint::black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench-corpus")
        });
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(15);
    println!("| codec | decode M entries/s | decode MB/s | vs Loki | decompress only MB/s | decode/decompress | encode M entries/s | encode MB/s | vs Loki |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (codec, _, loki_dec, _, loki_enc) in LOKI {
        let mut objects: Vec<Bytes> = Vec::new();
        let mut paths: Vec<_> = std::fs::read_dir(root.join("chunks").join(codec))
            .expect("corpus dir")
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for p in paths {
            objects.push(std::fs::read(p).unwrap().into());
        }
        let mut entries = 0u64;
        let mut payload = 0u64;
        let mut streams = Vec::new();
        for o in &objects {
            let obj = ChunkObject::decode(o.clone()).unwrap();
            let chunk = obj.chunk().unwrap();
            let mut es = Vec::new();
            for e in chunk.entries() {
                let e = e.unwrap();
                entries += 1;
                payload += e.line.len() as u64;
                payload += e
                    .structured_metadata
                    .iter()
                    .map(|(n, v)| (n.len() + v.len()) as u64)
                    .sum::<u64>();
                es.push(e);
            }
            streams.push((obj.meta.clone(), chunk.encoding(), es));
        }
        let decode = best_of(rounds, || {
            let mut n = 0;
            for o in &objects {
                for e in ChunkObject::decode(o.clone())
                    .unwrap()
                    .chunk()
                    .unwrap()
                    .entries()
                {
                    n += e.unwrap().line.len();
                }
            }
            n
        });
        let chunks: Vec<_> = objects
            .iter()
            .map(|o| ChunkObject::decode(o.clone()).unwrap().chunk().unwrap())
            .collect();
        let decompress = best_of(rounds, || {
            let mut n = 0;
            for c in &chunks {
                for i in 0..c.blocks().len() {
                    n += c.block_bytes(i).unwrap().len();
                }
            }
            n
        });
        let encode = best_of(rounds.div_ceil(3), || {
            let mut n = 0;
            for (meta, encoding, es) in &streams {
                let mut w = ChunkWriter::new(WriterOptions {
                    version: FormatVersion::V4,
                    encoding: *encoding,
                    ..Default::default()
                });
                for e in es {
                    w.append(e.timestamp_ns, &e.line, &e.structured_metadata)
                        .unwrap();
                }
                w.close().unwrap();
                let (f, t) = w.bounds().unwrap();
                let m = ObjectMeta::for_stream(&meta.tenant, &meta.stream_labels(), f, t);
                n += ChunkObject::encode(&m, &w.to_bytes().unwrap())
                    .unwrap()
                    .object_bytes()
                    .len();
            }
            n
        });
        let mbs = |secs: f64| payload as f64 / secs / 1e6;
        let meps = |secs: f64| entries as f64 / secs / 1e6;
        println!(
            "| {codec} | {:.2} | {:.0} | {:.1}x | {:.0} | {:.2} | {:.2} | {:.0} | {:.1}x |",
            meps(decode),
            mbs(decode),
            mbs(decode) / loki_dec,
            mbs(decompress),
            decode / decompress,
            meps(encode),
            mbs(encode),
            mbs(encode) / loki_enc
        );
    }
}
