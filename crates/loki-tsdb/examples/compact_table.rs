//! Compacts one table directory of an object-store tree the way Loki's
//! compactor does (uploads + existing per-tenant files → one file per
//! tenant), writing `<out>/<tenant>/<name>.tsdb.gz`. Used to measure wall
//! time and peak RSS on the bench corpus:
//!
//! `cargo run --release -p loki-tsdb --example compact_table -- <table dir> <out dir>`

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use loki_tsdb::{merge, FormatVersion, IndexFileName, IndexReader, IndexView};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (table, out) = match args.as_slice() {
        [_, t, o] => (PathBuf::from(t), PathBuf::from(o)),
        _ => return Err("usage: compact_table <table dir> <out dir>".into()),
    };
    let start = std::time::Instant::now();
    let mut common = Vec::new();
    let mut per_tenant: Vec<(String, IndexReader)> = Vec::new();
    for p in files(&table) {
        if p.is_dir() {
            let tenant = p.file_name().unwrap().to_string_lossy().into_owned();
            for f in files(&p) {
                per_tenant.push((tenant.clone(), IndexReader::open(&f)?));
            }
        } else {
            common.push(IndexReader::open(&p)?);
        }
    }
    let tenants: BTreeSet<String> = common
        .iter()
        .flat_map(|r| r.tenants().into_iter().map(str::to_owned))
        .collect();
    for tenant in &tenants {
        let mut views: Vec<IndexView<'_>> = common.iter().map(|r| r.tenant_view(tenant)).collect();
        views.extend(
            per_tenant
                .iter()
                .filter(|(t, _)| t == tenant)
                .map(|(_, r)| r.view()),
        );
        let (bytes, summary) = merge(&views, FormatVersion::V3, Vec::new())?;
        let name = IndexFileName::compacted(0, &summary);
        let dir = out.join(tenant);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("{name}.gz")), loki_tsdb::gzip(&bytes))?;
        eprintln!(
            "{tenant}: {} series, {} chunk refs, {} bytes, {name}",
            summary.series, summary.chunks, summary.bytes
        );
    }
    eprintln!(
        "compacted {} inputs in {:?}",
        common.len() + per_tenant.len(),
        start.elapsed()
    );
    Ok(())
}
