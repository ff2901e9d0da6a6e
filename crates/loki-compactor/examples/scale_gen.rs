//! Writes a synthetic table for memory-scaling measurements: `uploads` multi-tenant
//! uploads in table `index_20777` of a filesystem bucket, together holding `series` series
//! of one tenant with `chunks` chunk refs each (every upload holds every series with its
//! share of the chunks, as ingesters flushing in turn would), plus a `loki.yaml`. With a
//! fifth argument `retention`, the config also enables retention with a 24h
//! `retention_stream` rule on `namespace="ns-0"` (1 series in 13 expires whole; the rest is
//! kept forever), so the run rewrites the merged index without them.
//!
//! ```text
//! cargo run --release -p loki-compactor --example scale_gen -- /tmp/scale 1000000 10 4
//! /usr/bin/time -v target/release/loki-compactor -config.file=/tmp/scale/loki.yaml --once
//! ```

use std::path::PathBuf;

use loki_tsdb::{gzip, ChunkMeta, FormatVersion, IndexBuilder, Labels};

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        a.len() >= 4,
        "usage: scale_gen <dir> <series> <chunks per series> [uploads]"
    );
    let root = PathBuf::from(&a[1]);
    let series: u64 = a[2].parse()?;
    let chunks: u64 = a[3].parse()?;
    let uploads: u64 = a.get(4).map(|s| s.parse()).transpose()?.unwrap_or(4).max(1);
    let retention = match a.get(5).map(String::as_str) {
        None => false,
        Some("retention") => true,
        Some(other) => anyhow::bail!("unknown mode `{other}` (expected `retention`)"),
    };
    let table = root.join("bucket/index/index_20777");
    std::fs::create_dir_all(&table)?;
    let day_ms: i64 = 20_777 * 86_400_000;
    for u in 0..uploads {
        let mut b = IndexBuilder::new(FormatVersion::V3);
        for s in 0..series {
            let labels = Labels::new([
                ("__loki_tenant__", "tenant-a".to_owned()),
                ("app", format!("app-{}", s % 97)),
                ("namespace", format!("ns-{}", s % 13)),
                ("pod", format!("pod-{s:08}")),
            ]);
            let fp = Labels::new([
                ("app", format!("app-{}", s % 97)),
                ("namespace", format!("ns-{}", s % 13)),
                ("pod", format!("pod-{s:08}")),
            ])
            .fingerprint();
            let metas: Vec<ChunkMeta> = (0..chunks)
                .filter(|c| c % uploads == u)
                .map(|c| {
                    let from = day_ms + (c as i64) * 600_000 + (s % 1000) as i64;
                    ChunkMeta {
                        min_time: from,
                        max_time: from + 599_000,
                        checksum: (s as u32).wrapping_mul(2_654_435_761) ^ c as u32,
                        kb: 256,
                        entries: 1000,
                        ingested_at: 0,
                    }
                })
                .collect();
            if !metas.is_empty() {
                b.add_series(labels, fp, metas);
            }
        }
        let (bytes, summary) = b.build()?;
        let name = format!(
            "{}-ingester-{u}-{}.tsdb.gz",
            1_795_132_800 + u,
            1_794_873_600_000_000_000u64 + u
        );
        std::fs::write(table.join(&name), gzip(&bytes))?;
        eprintln!(
            "{name}: {} series, {} chunk refs, {} bytes raw",
            summary.series, summary.chunks, summary.bytes
        );
    }
    let mut yaml = format!(
        "schema_config:\n  configs:\n    - from: \"2026-01-01\"\n      store: tsdb\n      object_store: filesystem\n      schema: v13\n      index: {{ prefix: index_, period: 24h }}\nstorage_config:\n  filesystem:\n    directory: {}\ncompactor:\n  working_directory: {}\n",
        root.join("bucket").display(),
        root.join("wd").display()
    );
    if retention {
        yaml.push_str(
            "  retention_enabled: true\n  delete_request_store: filesystem\nlimits_config:\n  retention_period: 0s\n  retention_stream:\n    - selector: '{namespace=\"ns-0\"}'\n      priority: 1\n      period: 24h\n",
        );
    }
    std::fs::write(root.join("loki.yaml"), yaml)?;
    Ok(())
}
