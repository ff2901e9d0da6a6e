//! `replicate` between local stores: a full copy equals the source file for file; a run
//! interrupted by failing PUTs (fault injection) leaves no index behind and is resumed by
//! running it again; tenant and time filters; large objects are streamed in parts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use loki_bucket::{BucketOptions, Fault, FaultInjector, FaultRule, Op};
use loki_maint::replicate::{replicate, Destination, ReplicateOptions};
use loki_maint::target::Target;
use loki_maint::verify::NoProgress;

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Relative path → content of every file under `dir`.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            } else {
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn source(dir: &Path) -> Target {
    rt().block_on(Target::from_url(
        &dir.display().to_string(),
        None,
        BucketOptions::default(),
        Vec::new(),
    ))
    .unwrap()
}

fn opts() -> ReplicateOptions {
    ReplicateOptions {
        concurrency: 4,
        ..Default::default()
    }
}

#[test]
fn interrupted_copy_resumes_and_ends_identical() {
    let src_dir = golden().join("multitenant-gzip/store-incremental");
    let src = source(&src_dir);
    let tmp = tempfile::tempdir().unwrap();
    let dst_dir = tmp.path().join("copy");
    let faults = FaultInjector::new();
    // Every PUT of one stream's chunks fails (permanently, so retries do not hide it).
    faults.add(
        FaultRule::new(Fault::PermissionDenied)
            .on(&[Op::Put])
            .key_contains("audit/"),
    );
    let dst = Destination::from_url(
        &dst_dir.display().to_string(),
        None,
        BucketOptions {
            faults: Some(faults.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let rt = rt();
    let first = rt
        .block_on(replicate(&src, &dst, &opts(), &NoProgress))
        .unwrap();
    assert!(first.failed_count > 0 && first.failed_count < first.chunks.selected);
    assert!(
        first.failed[0].key.starts_with("audit/"),
        "{:?}",
        first.failed
    );
    assert!(first.index_skipped);
    assert!(
        !dst_dir.join("index").exists(),
        "no index may reach the destination before all its chunks"
    );
    let copied_first = first.chunks.copied;
    assert_eq!(copied_first + first.failed_count, first.chunks.selected);

    // Run again without faults: what is there is skipped, the rest is copied.
    faults.clear();
    let second = rt
        .block_on(replicate(&src, &dst, &opts(), &NoProgress))
        .unwrap();
    assert_eq!(second.failed_count, 0);
    assert_eq!(second.chunks.skipped_existing, copied_first);
    assert_eq!(second.chunks.copied, first.failed_count);
    assert_eq!(second.index_files.selected, 10);
    assert_eq!(second.index_files.copied, 10);
    assert_eq!(tree(&dst_dir), tree(&src_dir));

    // A third run finds everything in place.
    let third = rt
        .block_on(replicate(&src, &dst, &opts(), &NoProgress))
        .unwrap();
    assert_eq!(third.chunks.copied + third.index_files.copied, 0);
    assert_eq!(third.chunks.skipped_existing, third.chunks.selected);
}

#[test]
fn tenant_and_time_filters_and_dry_run() {
    let src_dir = golden().join("multitenant-gzip/store-compacted");
    let src = source(&src_dir);
    let tmp = tempfile::tempdir().unwrap();
    let dst_dir = tmp.path().join("audit");
    let dst =
        Destination::from_url(&dst_dir.display().to_string(), None, Default::default()).unwrap();
    let rt = rt();
    // 2026-11-20 only (table index_20777): chunks overlapping that day.
    let (from, to) = (20777 * 86_400_000, 20778 * 86_400_000);
    let o = ReplicateOptions {
        tenant: Some("audit".into()),
        from_ms: Some(from),
        to_ms: Some(to),
        dry_run: true,
        ..opts()
    };
    let dry = rt.block_on(replicate(&src, &dst, &o, &NoProgress)).unwrap();
    assert!(dry.chunks.copied > 0);
    assert!(tree(&dst_dir).is_empty(), "dry run writes nothing");
    let o = ReplicateOptions {
        dry_run: false,
        ..o
    };
    let r = rt.block_on(replicate(&src, &dst, &o, &NoProgress)).unwrap();
    assert_eq!(r.chunks.copied, dry.chunks.copied);
    let got = tree(&dst_dir);
    let want: BTreeMap<String, Vec<u8>> = tree(&src_dir)
        .into_iter()
        .filter(|(k, _)| {
            if let Some(rest) = k.strip_prefix("index/") {
                return rest.starts_with("index_20777/audit/");
            }
            let Some(rest) = k.strip_prefix("audit/") else {
                return false;
            };
            let c = loki_bucket::KeyCodec::Filesystem
                .parse_chunk_object(&format!("audit/{rest}"))
                .unwrap();
            c.through_ms >= from && c.from_ms < to
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    assert_eq!(got, want);
}

#[test]
fn tenant_slice_of_ingester_uploads_is_lokis_per_tenant_file() {
    // Uncompacted store: with --tenant, the tenant's slice of each upload becomes a
    // per-tenant file; its content is exactly what Loki's compactor wrote for the tenant.
    let src = source(&golden().join("multitenant-gzip/store"));
    let tmp = tempfile::tempdir().unwrap();
    let dst_dir = tmp.path().join("audit");
    let dst =
        Destination::from_url(&dst_dir.display().to_string(), None, Default::default()).unwrap();
    let o = ReplicateOptions {
        tenant: Some("audit".into()),
        ..opts()
    };
    let r = rt()
        .block_on(replicate(&src, &dst, &o, &NoProgress))
        .unwrap();
    assert_eq!(r.tenant_slices.copied, 3);
    let compacted = tree(&golden().join("multitenant-gzip/store-compacted/index"));
    for (k, v) in tree(&dst_dir.join("index")) {
        let (table, name) = k.split_once("/audit/").unwrap();
        let crc = name.rsplit('-').next().unwrap();
        let (_, loki) = compacted
            .iter()
            .find(|(ck, _)| ck.starts_with(&format!("{table}/audit/")) && ck.ends_with(crc))
            .unwrap_or_else(|| panic!("no Loki file with checksum {crc} in {table}"));
        assert_eq!(
            loki_tsdb::gunzip(&v).unwrap(),
            loki_tsdb::gunzip(loki).unwrap()
        );
    }
    // No other tenant's data.
    assert!(tree(&dst_dir)
        .keys()
        .all(|k| k.starts_with("audit/") || k.contains("/audit/")));
}

#[test]
fn large_objects_are_streamed_in_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tmp.path().join("src");
    // A chunk-shaped key (filesystem store: base64 last segment) holding 20 MiB.
    let name = "fake/10530763924b4da6/MThiY2ZlNTY4MDA6MThiY2ZlNTY5ZjU6MTZkZmY3ZDE=";
    let path = src_dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let body: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &body).unwrap();
    let src = source(&src_dir);
    let dst = Destination::from_url(
        &tmp.path().join("dst").display().to_string(),
        None,
        Default::default(),
    )
    .unwrap();
    let r = rt()
        .block_on(replicate(&src, &dst, &opts(), &NoProgress))
        .unwrap();
    assert_eq!(r.chunks.bytes_copied, body.len() as u64);
    assert_eq!(
        dst.bucket.metrics().snapshot(Op::Get).requests,
        0,
        "nothing read from the destination"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("dst").join(name)).unwrap(),
        body
    );
}

#[test]
fn refuses_to_copy_onto_itself() {
    let src_dir = golden().join("basic-snappy/store");
    let src = source(&src_dir);
    let dst =
        Destination::from_url(&src_dir.display().to_string(), None, Default::default()).unwrap();
    let err = rt()
        .block_on(replicate(&src, &dst, &opts(), &NoProgress))
        .unwrap_err();
    assert!(err.to_string().contains("overlap"), "{err}");
}
