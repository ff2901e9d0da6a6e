//! Profiling helper: re-encodes one corpus codec's chunks in a loop (`perf record` target).
//! `cargo run --release -p loki-chunk --example perf_encode CORPUS_DIR CODEC`
use loki_chunk::{ChunkObject, ChunkWriter, ObjectMeta, WriterOptions};
fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("corpus dir"))
        .join("chunks")
        .join(args.next().expect("codec"));
    let mut streams = Vec::new();
    for f in std::fs::read_dir(dir).unwrap() {
        let obj = ChunkObject::decode(std::fs::read(f.unwrap().path()).unwrap()).unwrap();
        let chunk = obj.chunk().unwrap();
        let es: Vec<_> = chunk.entries().map(|e| e.unwrap()).collect();
        streams.push((obj.meta.clone(), chunk.encoding(), es));
    }
    let mut n = 0;
    for _ in 0..20 {
        for (meta, encoding, es) in &streams {
            let mut w = ChunkWriter::new(WriterOptions {
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
    }
    println!("{n}");
}
