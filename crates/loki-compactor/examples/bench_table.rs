//! Compacts the bench corpus table `index_20777` (48 multi-tenant uploads → 2 tenant files)
//! with the full compactor path (filesystem bucket, listing, merge, gzip, upload, delete)
//! and checks the result against Loki's compacted files. Skips if the corpus is absent.
//!
//! `cargo run --release -p loki-compactor --example bench_table [-- <corpus dir> <runs>]`
//! Each run uses a fresh copy of the corpus; wall and CPU time (all threads, from
//! `/proc/self/stat`) are reported per run, and the process's peak RSS (`VmHWM`) at the end.
//! Loki's figure is per process, so compare peak RSS with `<runs>` = 1.

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

/// CPU time (user + system, all threads) of this process in seconds, from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    ticks as f64 / 100.0
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
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
    let mut cpus = Vec::new();
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
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let r = rt.block_on(c.run_once())?;
        let (dt, cpu) = (t0.elapsed(), cpu_seconds() - c0);
        times.push(dt.as_secs_f64());
        cpus.push(cpu);
        let uploaded: usize = r.pass.tables.iter().map(|(_, t)| t.uploaded.len()).sum();
        eprintln!("run {run}: {dt:?} wall, {cpu:.2} s CPU, {uploaded} tenant files uploaded");
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
    cpus.sort_by(f64::total_cmp);
    eprintln!(
        "index_20777: median {:.3} s wall (min {:.3}, max {:.3}), median {:.2} s CPU over {runs} runs; \
         peak RSS {} MiB (Loki: 1.17 s wall, 1.47 s CPU, 244 MiB peak RSS)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        cpus[cpus.len() / 2],
        peak_rss_kib() >> 10
    );
    Ok(())
}
