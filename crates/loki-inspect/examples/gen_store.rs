//! Writes a filesystem bucket for query/export measurements.
//!
//! ```text
//! # real Loki chunk objects (e.g. the bench corpus), indexed per day table
//! cargo run --release -p loki-inspect --example gen_store -- corpus <chunks dir> <out dir>
//! # synthetic: <lines> logfmt lines over <streams> streams (tenant `fake`), snappy chunks
//! # cut as the ingester cuts them (256 KiB blocks, 1.5 MiB target)
//! cargo run --release -p loki-inspect --example gen_store -- synthetic <out dir> 10000000 16
//! ```
#[path = "../benches/support/store.rs"]
mod store;

use std::path::{Path, PathBuf};

use loki_chunk::{
    ChunkObject, ChunkWriter, Encoding, FormatVersion, Labels, ObjectMeta, WriterOptions,
};
use store::StoreWriter;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    match a.get(1).map(String::as_str) {
        Some("corpus") if a.len() == 4 => corpus(Path::new(&a[2]), Path::new(&a[3])),
        Some("synthetic") if a.len() >= 4 => {
            let streams = a.get(4).map(|s| s.parse()).transpose()?.unwrap_or(16);
            synthetic(Path::new(&a[2]), a[3].parse()?, streams)
        }
        _ => anyhow::bail!(
            "usage: gen_store corpus <chunks dir> <out> | gen_store synthetic <out> <lines> [streams]"
        ),
    }
}

/// Copies every chunk object found under `dir` (recursively) into a bucket at `out`.
fn corpus(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_none_or(|x| x != "json") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut w = StoreWriter::default();
    for p in files {
        let obj = ChunkObject::decode(std::fs::read(&p)?)?;
        let chunk = obj.chunk()?;
        w.add(out, &obj, chunk.uncompressed_size(), chunk.num_entries());
    }
    w.finish(out);
    Ok(())
}

/// A small deterministic generator (xorshift) for varied field values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn synthetic(out: &Path, lines: u64, streams: u64) -> anyhow::Result<()> {
    const LEVELS: [&str; 4] = ["info", "info", "warn", "error"];
    const PATHS: [&str; 5] = ["/api/items", "/api/users", "/health", "/login", "/api/cart"];
    let opts = WriterOptions {
        version: FormatVersion::V4,
        encoding: Encoding::Snappy,
        ..WriterOptions::default()
    };
    // 2026-11-20T00:00:00Z; one line per stream every 5 ms.
    let start_ns: i64 = 1_795_132_800_000_000_000;
    let per_stream = lines.div_ceil(streams);
    let mut w = StoreWriter::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut total, mut chunks) = (0u64, 0u64);
    for s in 0..streams {
        let labels = Labels::new([
            ("app", format!("app-{}", s % 4)),
            ("job", "synthetic".to_owned()),
            ("pod", format!("pod-{s:03}")),
        ]);
        let mut cw = ChunkWriter::new(opts);
        let mut first = None;
        let mut last = 0;
        let mut flush = |cw: &mut ChunkWriter, first: i64, last: i64| -> anyhow::Result<()> {
            cw.close()?;
            let meta = ObjectMeta::for_stream("fake", &labels, first, last);
            let obj = ChunkObject::encode(&meta, &cw.to_bytes()?)?;
            let chunk = obj.chunk()?;
            w.add(out, &obj, chunk.uncompressed_size(), chunk.num_entries());
            chunks += 1;
            Ok(())
        };
        for i in 0..per_stream.min(lines - total) {
            let ts = start_ns + i as i64 * 5_000_000;
            let r = rng.next();
            let line = format!(
                "level={} method=GET path={}/{} status={} duration={}ms bytes={} trace_id={:016x}",
                LEVELS[(r % 4) as usize],
                PATHS[((r >> 8) % 5) as usize],
                (r >> 16) % 10_000,
                if r % 97 == 0 { 500 } else { 200 },
                (r >> 32) % 900,
                (r >> 40) % 50_000,
                rng.next(),
            );
            if !cw.has_space_for::<&str, &str>(line.as_bytes(), &[]) {
                flush(&mut cw, first.unwrap_or(ts), last)?;
                cw = ChunkWriter::new(opts);
                first = None;
            }
            cw.append::<&str, &str>(ts, line.as_bytes(), &[])?;
            first.get_or_insert(ts);
            last = ts;
        }
        if let Some(f) = first {
            flush(&mut cw, f, last)?;
        }
        total += per_stream.min(lines - total);
    }
    w.finish(out);
    eprintln!(
        "{total} lines, {chunks} chunks, {streams} streams in {}",
        out.display()
    );
    Ok(())
}
