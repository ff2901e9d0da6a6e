//! Compacts one table directory of an object-store tree the way Loki's
//! compactor does (uploads + existing per-tenant files → one file per
//! tenant), writing `<out>/<tenant>/<name>.tsdb.gz`. Used to measure wall
//! time, CPU time and peak RSS on the bench corpus:
//!
//! `cargo run --release -p loki-tsdb --example compact_table -- <table dir> <out dir> [threads]`
//!
//! With `threads` > 1 the uploads are decompressed, and the tenants merged,
//! by that many worker threads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use loki_tsdb::{merge, FormatVersion, IndexFileName, IndexReader, IndexView};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn open_all(paths: &[PathBuf], threads: usize) -> Result<Vec<IndexReader>, Error> {
    let mut slots: Vec<Option<Result<IndexReader, Error>>> =
        (0..paths.len()).map(|_| None).collect();
    let per = paths.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (slot, part) in slots.chunks_mut(per).zip(paths.chunks(per)) {
            s.spawn(move || {
                for (r, p) in slot.iter_mut().zip(part) {
                    *r = Some(IndexReader::open(p).map_err(Error::from));
                }
            });
        }
    });
    slots.into_iter().flatten().collect()
}

fn compact_tenant(
    tenant: &str,
    common: &[IndexReader],
    per_tenant: &[(String, IndexReader)],
    out: &Path,
) -> Result<(), Error> {
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
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let (table, out, threads) = match args.as_slice() {
        [_, t, o] => (PathBuf::from(t), PathBuf::from(o), 1),
        [_, t, o, n] => (
            PathBuf::from(t),
            PathBuf::from(o),
            n.parse::<usize>()?.max(1),
        ),
        _ => return Err("usage: compact_table <table dir> <out dir> [threads]".into()),
    };
    let start = std::time::Instant::now();
    let mut common_paths = Vec::new();
    let mut per_tenant: Vec<(String, IndexReader)> = Vec::new();
    for p in files(&table) {
        if p.is_dir() {
            let tenant = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            for f in files(&p) {
                per_tenant.push((tenant.clone(), IndexReader::open(&f)?));
            }
        } else {
            common_paths.push(p);
        }
    }
    let common = open_all(&common_paths, threads)?;
    let opened = start.elapsed();
    let tenants: Vec<String> = common
        .iter()
        .flat_map(|r| r.tenants().into_iter().map(str::to_owned))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (common_ref, per_ref, out_ref) = (&common, &per_tenant, &out);
    std::thread::scope(|s| -> Result<(), Error> {
        let jobs: Vec<_> = tenants
            .chunks(tenants.len().div_ceil(threads).max(1))
            .map(|ts| {
                s.spawn(move || -> Result<(), Error> {
                    for t in ts {
                        compact_tenant(t, common_ref, per_ref, out_ref)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for j in jobs {
            j.join().map_err(|_| "worker panicked")??;
        }
        Ok(())
    })?;
    eprintln!(
        "compacted {} inputs in {:?} (open + gunzip {:?}, {threads} thread(s))",
        common.len() + per_tenant.len(),
        start.elapsed(),
        opened
    );
    Ok(())
}
