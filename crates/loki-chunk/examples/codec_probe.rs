//! Compression ratio and speed of the codec settings we use, against the sizes Loki's Go
//! libraries reached on the same blocks of the bench corpus. This is how the levels in
//! `fast_encode.rs` were chosen.
//!
//! `cargo run --release -p loki-chunk --example codec_probe [CORPUS_DIR]`
//! (default: `../shared/bench-corpus` next to the repository).
use loki_chunk::ChunkObject;
use std::time::Instant;
fn main() {
    let root = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/bench-corpus")
        });
    let dir = root.join("chunks");
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let mut blocks = Vec::new();
        let mut loki = 0usize;
        for f in std::fs::read_dir(dir.join(codec)).unwrap() {
            let c = ChunkObject::decode(std::fs::read(f.unwrap().path()).unwrap())
                .unwrap()
                .chunk()
                .unwrap();
            for (i, b) in c.blocks().iter().enumerate() {
                loki += b.len;
                blocks.push(c.block_bytes(i).unwrap());
            }
        }
        let raw: usize = blocks.iter().map(|b| b.len()).sum();
        println!(
            "{codec}: raw {raw} loki {loki} ratio {:.3}",
            raw as f64 / loki as f64
        );
        if codec == "gzip" {
            for lvl in [1, 2, 3, 4, 5, 6] {
                let mut c =
                    libdeflater::Compressor::new(libdeflater::CompressionLvl::new(lvl).unwrap());
                let t = Instant::now();
                let mut n = 0;
                for b in &blocks {
                    let mut out = vec![0; c.gzip_compress_bound(b.len())];
                    n += c.gzip_compress(b, &mut out).unwrap();
                }
                let el = t.elapsed().as_secs_f64();
                println!(
                    "  libdeflate {lvl}: {n} ratio {:.3} {:.0} MB/s",
                    raw as f64 / n as f64,
                    raw as f64 / el / 1e6
                );
            }
            for lvl in [1, 3, 6] {
                let t = Instant::now();
                let mut n = 0;
                for b in &blocks {
                    let mut out = Vec::new();
                    let mut e =
                        flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(lvl));
                    std::io::Write::write_all(&mut e, b).unwrap();
                    e.finish().unwrap();
                    n += out.len();
                }
                let el = t.elapsed().as_secs_f64();
                println!(
                    "  flate2 {lvl}: {n} ratio {:.3} {:.0} MB/s",
                    raw as f64 / n as f64,
                    raw as f64 / el / 1e6
                );
            }
        }
        if codec == "zstd" {
            for lvl in [1, 2, 3] {
                let mut c = zstd::bulk::Compressor::new(lvl).unwrap();
                c.include_checksum(true).unwrap();
                let t = Instant::now();
                let mut n = 0;
                for b in &blocks {
                    n += c.compress(b).unwrap().len();
                }
                let el = t.elapsed().as_secs_f64();
                println!(
                    "  zstd {lvl}: {n} ratio {:.3} {:.0} MB/s",
                    raw as f64 / n as f64,
                    raw as f64 / el / 1e6
                );
            }
        }
        if codec == "snappy" {
            let mut e = snap::raw::Encoder::new();
            let t = Instant::now();
            let mut n = 0;
            for b in &blocks {
                for ch in b.chunks(65536) {
                    n += e.compress_vec(ch).unwrap().len();
                }
            }
            let el = t.elapsed().as_secs_f64();
            println!(
                "  snap raw: {n} ratio {:.3} {:.0} MB/s",
                raw as f64 / n as f64,
                raw as f64 / el / 1e6
            );
        }
        if codec == "lz4" {
            let t = Instant::now();
            let mut n = 0;
            for b in &blocks {
                n += lz4_flex::block::compress(b).len();
            }
            let el = t.elapsed().as_secs_f64();
            println!(
                "  lz4_flex block: {n} ratio {:.3} {:.0} MB/s",
                raw as f64 / n as f64,
                raw as f64 / el / 1e6
            );
            let t = Instant::now();
            let mut out = vec![0u8; 300_000];
            let mut m = 0;
            let comp: Vec<_> = blocks
                .iter()
                .map(|b| lz4_flex::block::compress(b))
                .collect();
            let t2 = Instant::now();
            for c in &comp {
                m += lz4_flex::block::decompress_into(c, &mut out).unwrap();
            }
            println!(
                "  lz4_flex block decompress {:.0} MB/s ({m}) {:?}",
                raw as f64 / t2.elapsed().as_secs_f64() / 1e6,
                t.elapsed()
            );
        }
    }
}
