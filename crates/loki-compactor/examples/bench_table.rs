//! Compacts the bench corpus table `index_20777` (48 multi-tenant uploads → 2 tenant files)
//! with the full compactor path (filesystem bucket, listing, merge, gzip, upload, delete)
//! and checks the result against Loki's compacted files. Skips if the corpus is absent.
//!
//! `cargo run --release -p loki-compactor --example bench_table [-- <corpus dir> <runs>]`
//! (peak RSS: run it under `/usr/bin/time -v`; each run uses a fresh copy).

use std::path::{Path, PathBuf};
use std::time::Instant;

use loki_compactor::runner::{Compactor, Options};
use loki_config::LokiConfig;

fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dst.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to)?;
        } else {
            std::fs::copy(e.path(), &to)?;
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let corpus = args.get(1).map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench-corpus/tsdb")
    });
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let uploads = corpus.join("uploads");
    if !uploads.exists() {
        eprintln!("SKIPPED: bench corpus not found at {}", corpus.display());
        return Ok(());
    }
    let rt = tokio::runtime::Runtime::new()?;
    let mut times = Vec::new();
    for run in 0..runs {
        let tmp = tempfile::tempdir()?;
        let bucket = tmp.path().join("bucket");
        copy_dir(&uploads, &bucket)?;
        let yaml = format!(
            "schema_config:\n  configs:\n    - from: \"2026-01-01\"\n      store: tsdb\n      object_store: filesystem\n      schema: v13\n      index: {{ prefix: index_, period: 24h }}\nstorage_config:\n  filesystem:\n    directory: {}\ncompactor:\n  working_directory: {}\n",
            bucket.display(),
            tmp.path().join("wd").display()
        );
        let cfg = LokiConfig::from_yaml(&yaml, &tmp.path().join("loki.yaml"), false)?;
        let c = Compactor::new(cfg, Options::default())?;
        let t0 = Instant::now();
        let r = rt.block_on(c.run_once())?;
        let dt = t0.elapsed();
        times.push(dt.as_secs_f64());
        let uploaded: usize = r.pass.tables.iter().map(|(_, t)| t.uploaded.len()).sum();
        eprintln!("run {run}: {dt:?}, {uploaded} tenant files uploaded");
        if run == 0 {
            // Same bytes (after gunzip) as Loki's compacted files.
            for tenant in ["tenant-a", "tenant-b"] {
                let dir = |root: &Path| root.join("index/index_20777").join(tenant);
                let first = |d: PathBuf| -> anyhow::Result<Vec<u8>> {
                    let f = std::fs::read_dir(&d)?
                        .next()
                        .ok_or_else(|| anyhow::anyhow!("no file in {}", d.display()))??;
                    Ok(loki_tsdb::gunzip(&std::fs::read(f.path())?)?)
                };
                let same = first(dir(&bucket))? == first(dir(&corpus.join("compacted")))?;
                eprintln!("{tenant}: identical to Loki's file after gunzip: {same}");
                anyhow::ensure!(same, "{tenant} differs from Loki's compacted file");
            }
        }
    }
    times.sort_by(f64::total_cmp);
    eprintln!(
        "index_20777: median {:.3} s, min {:.3} s, max {:.3} s over {runs} runs (Loki: 1.17 s, 244 MiB peak RSS)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    Ok(())
}
