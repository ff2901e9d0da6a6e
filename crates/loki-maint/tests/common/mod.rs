//! Fault planting in copies of golden stores.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

use loki_bucket::BucketOptions;
use loki_maint::report::VerifyReport;
use loki_maint::target::Target;
use loki_maint::verify::{verify, NoProgress, VerifyOptions};

pub fn golden(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/golden")
        .join(rel)
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// A temp copy of a golden store.
pub fn store_copy(rel: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&golden(rel), tmp.path());
    tmp
}

/// Every file under `dir` whose path relative to `dir` starts with `prefix`, sorted.
pub fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .starts_with(prefix)
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap().to_string_lossy().into_owned()
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn target(rt: &tokio::runtime::Runtime, dir: &Path) -> Target {
    rt.block_on(Target::from_url(
        &dir.display().to_string(),
        None,
        BucketOptions::default(),
        Vec::new(),
    ))
    .unwrap()
}

pub fn opts() -> VerifyOptions {
    VerifyOptions {
        orphan_min_age: std::time::Duration::ZERO,
        ..Default::default()
    }
}

pub fn run_verify(rt: &tokio::runtime::Runtime, dir: &Path) -> VerifyReport {
    verify(&target(rt, dir), &opts(), rt.handle(), &NoProgress).unwrap()
}

/// (kind, subject) of every finding, sorted.
pub fn kinds(r: &VerifyReport) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = r
        .findings
        .iter()
        .map(|f| (f.kind().to_owned(), f.subject().to_owned()))
        .collect();
    v.sort();
    v
}

/// The five planted faults of the issue, in a copy of multitenant-gzip's compacted store:
/// chunk faults in tenant `audit`, the truncated index is `team-b`'s file of one table (so
/// the two do not hide each other), the orphan is a real Loki chunk of tenant `fake` from
/// another store. Keys are relative to the store.
pub struct Planted {
    pub dir: tempfile::TempDir,
    pub flipped: String,
    pub deleted: String,
    pub emptied: String,
    pub truncated: String,
    pub orphan: String,
}

pub fn plant_all() -> Planted {
    let dir = store_copy("multitenant-gzip/store-compacted");
    let d = dir.path();
    let chunks = files(d, "audit/");
    assert!(chunks.len() > 10, "{} chunks", chunks.len());
    // A flipped byte in the middle of a chunk object (inside its compressed blocks).
    let flipped = chunks[0].clone();
    let mut b = std::fs::read(&flipped).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x40;
    std::fs::write(&flipped, b).unwrap();
    let deleted = chunks[3].clone();
    std::fs::remove_file(&deleted).unwrap();
    let emptied = chunks[6].clone();
    std::fs::write(&emptied, b"").unwrap();
    let idx = files(d, "index/index_20778/team-b/");
    assert_eq!(idx.len(), 1);
    let truncated = idx[0].clone();
    let b = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &b[..b.len() / 2]).unwrap();
    let zstd = golden("codecs/zstd/store");
    let foreign = files(&zstd, "fake/");
    let orphan_rel = rel(&zstd, &foreign[0]);
    let orphan = d.join(&orphan_rel);
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::copy(&foreign[0], &orphan).unwrap();
    Planted {
        flipped: rel(d, &flipped),
        deleted: rel(d, &deleted),
        emptied: rel(d, &emptied),
        truncated: rel(d, &truncated),
        orphan: orphan_rel,
        dir,
    }
}
