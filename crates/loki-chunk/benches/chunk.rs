//! Decode and encode throughput on the shared bench corpus (real Loki chunk objects).
//!
//! Throughput is reported in payload bytes (line text plus structured-metadata names and
//! values), the unit of Loki's own figures in the corpus README. Entries/s = MB/s × entries /
//! payload bytes, printed once per codec at start-up.
//!
//! Corpus location: `$LOKI_BENCH_CORPUS` or `../shared/bench-corpus` next to the repository.
use std::hint::black_box;
use std::path::PathBuf;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loki_chunk::{ChunkObject, ChunkWriter, FormatVersion, Labels, ObjectMeta, WriterOptions};

struct Corpus {
    codec: String,
    objects: Vec<Bytes>,
    entries: u64,
    payload: u64,
}

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("LOKI_BENCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench-corpus")
        });
    dir.join("chunks").is_dir().then_some(dir.join("chunks"))
}

fn load() -> Vec<Corpus> {
    let Some(dir) = corpus_dir() else {
        eprintln!("bench corpus not found; set LOKI_BENCH_CORPUS");
        return Vec::new();
    };
    let mut out = Vec::new();
    for codec in ["snappy", "gzip", "zstd", "lz4"] {
        let mut objects = Vec::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir.join(codec))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        let (mut entries, mut payload) = (0, 0);
        for p in paths {
            let b = Bytes::from(std::fs::read(&p).unwrap());
            let chunk = ChunkObject::decode(b.clone()).unwrap().chunk().unwrap();
            for e in chunk.entries() {
                let e = e.unwrap();
                entries += 1;
                payload += e.line.len() as u64;
                payload += e
                    .structured_metadata
                    .iter()
                    .map(|(n, v)| (n.len() + v.len()) as u64)
                    .sum::<u64>();
            }
            objects.push(b);
        }
        eprintln!(
            "{codec}: {} objects, {entries} entries, {payload} payload bytes",
            objects.len()
        );
        out.push(Corpus {
            codec: codec.to_string(),
            objects,
            entries,
            payload,
        });
    }
    out
}

fn decode(c: &mut Criterion) {
    let corpus = load();
    let mut g = c.benchmark_group("decode");
    for k in &corpus {
        g.throughput(Throughput::Bytes(k.payload));
        g.bench_function(&k.codec, |b| {
            b.iter(|| {
                let mut n = 0usize;
                for o in &k.objects {
                    let chunk = ChunkObject::decode(o.clone()).unwrap().chunk().unwrap();
                    for e in chunk.entries() {
                        let e = e.unwrap();
                        n += e.line.len() + e.structured_metadata.len();
                    }
                }
                black_box(n)
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("decompress_only");
    for k in &corpus {
        g.throughput(Throughput::Bytes(k.payload));
        let chunks: Vec<_> = k
            .objects
            .iter()
            .map(|o| ChunkObject::decode(o.clone()).unwrap().chunk().unwrap())
            .collect();
        g.bench_function(&k.codec, |b| {
            b.iter(|| {
                let mut n = 0usize;
                for ch in &chunks {
                    for i in 0..ch.blocks().len() {
                        n += ch.block_bytes(i).unwrap().len();
                    }
                }
                black_box(n)
            })
        });
    }
    g.finish();
}

type Stream = (Labels, String, Vec<(i64, Bytes, Vec<(Bytes, Bytes)>)>);

fn encode(c: &mut Criterion) {
    let corpus = load();
    let mut g = c.benchmark_group("encode");
    for k in &corpus {
        let streams: Vec<Stream> = k
            .objects
            .iter()
            .map(|o| {
                let obj = ChunkObject::decode(o.clone()).unwrap();
                let entries = obj
                    .chunk()
                    .unwrap()
                    .entries()
                    .map(|e| {
                        e.map(|e| (e.timestamp_ns, e.line, e.structured_metadata))
                            .unwrap()
                    })
                    .collect();
                (obj.meta.stream_labels(), obj.meta.tenant.clone(), entries)
            })
            .collect();
        let encoding = ChunkObject::decode(k.objects[0].clone())
            .unwrap()
            .chunk()
            .unwrap()
            .encoding();
        g.throughput(Throughput::Bytes(k.payload));
        g.bench_function(&k.codec, |b| {
            b.iter(|| {
                let mut total = 0;
                for (labels, tenant, entries) in &streams {
                    let mut w = ChunkWriter::new(WriterOptions {
                        version: FormatVersion::V4,
                        encoding,
                        ..Default::default()
                    });
                    for (ts, line, sm) in entries {
                        w.append(*ts, line, sm).unwrap();
                    }
                    w.close().unwrap();
                    let (f, t) = w.bounds().unwrap();
                    let meta = ObjectMeta::for_stream(tenant, labels, f, t);
                    let obj = ChunkObject::encode(&meta, &w.to_bytes().unwrap()).unwrap();
                    total += obj.object_bytes().len();
                }
                black_box(total)
            })
        });
        let _ = k.entries;
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = decode, encode
}
criterion_main!(benches);
