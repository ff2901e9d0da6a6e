//! `rebuild_index` against stores written by real Loki (testdata/golden): for every table
//! and tenant, the index rebuilt from the chunk objects alone holds exactly the series,
//! fingerprints and chunk refs (times, checksum, KB, entries) that Loki indexed, and for
//! compacted stores it is byte-identical to the file Loki's compactor wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use loki_maint::error::MaintError;
use loki_maint::rebuild::{rebuild_index, RebuildOptions};
use loki_maint::target::Target;
use loki_maint::verify::NoProgress;
use loki_tsdb::{IndexReader, IndexView};

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Series as comparable content: labels → (fingerprint, chunk metas).
type Content = BTreeMap<Vec<(String, String)>, (u64, Vec<loki_tsdb::ChunkMeta>)>;

fn content(views: &[IndexView<'_>]) -> Content {
    let mut out = Content::new();
    for v in views {
        let mut cur = v.series().unwrap();
        while cur.advance().unwrap() {
            let s = cur.to_series();
            let labels = s
                .labels
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            let e = out.entry(labels).or_insert((s.fingerprint, Vec::new()));
            assert_eq!(e.0, s.fingerprint);
            e.1.extend(s.chunks);
        }
    }
    for (_, cs) in out.values_mut() {
        cs.sort_by_key(|c| (c.min_time, c.max_time, c.checksum));
        cs.dedup_by_key(|c| (c.min_time, c.max_time, c.checksum));
    }
    out
}

/// (table, tenant) → the index content Loki wrote for them, from every file of the table.
fn loki_index(store: &Path) -> BTreeMap<(String, String), (Content, Option<PathBuf>)> {
    let mut out = BTreeMap::new();
    for table in std::fs::read_dir(store.join("index")).unwrap().flatten() {
        let tname = table.file_name().to_string_lossy().into_owned();
        if !tname.starts_with("index_") {
            continue;
        }
        let mut readers: Vec<(Option<String>, PathBuf, IndexReader)> = Vec::new();
        for f in files_under(&table.path()) {
            let rel = f.strip_prefix(table.path()).unwrap();
            let tenant = (rel.components().count() == 2)
                .then(|| rel.iter().next().unwrap().to_string_lossy().into_owned());
            readers.push((tenant, f.clone(), IndexReader::open(&f).unwrap()));
        }
        let mut tenants: Vec<String> = Vec::new();
        for (t, _, r) in &readers {
            match t {
                Some(t) => tenants.push(t.clone()),
                None => tenants.extend(r.tenants().into_iter().map(str::to_owned)),
            }
        }
        tenants.sort();
        tenants.dedup();
        for tenant in tenants {
            let views: Vec<IndexView<'_>> = readers
                .iter()
                .filter_map(|(t, _, r)| match t {
                    None => Some(r.tenant_view(&tenant)),
                    Some(t) if *t == tenant => Some(r.view()),
                    Some(_) => None,
                })
                .collect();
            let own: Vec<&PathBuf> = readers
                .iter()
                .filter(|(t, _, _)| t.as_deref() == Some(tenant.as_str()))
                .map(|(_, p, _)| p)
                .collect();
            let single = (own.len() == 1 && readers.iter().all(|(t, _, _)| t.is_some()))
                .then(|| own[0].clone());
            out.insert((tname.clone(), tenant), (content(&views), single));
        }
    }
    out
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn open(dir: &Path) -> Target {
    rt().block_on(Target::from_url(
        &dir.display().to_string(),
        None,
        Default::default(),
        Vec::new(),
    ))
    .unwrap()
}

fn opts(tenant: &str, table: &str) -> RebuildOptions {
    RebuildOptions {
        tenant: tenant.into(),
        table: table.into(),
        replace: false,
        dry_run: false,
        concurrency: 4,
        created_ns: Some(1_800_000_000_000_000_000),
    }
}

/// Rebuilds every (table, tenant) of `golden_store` in a temp copy and checks the result.
/// Returns (checked, byte-identical).
fn check_store(golden_store: &Path) -> (usize, usize) {
    let want = loki_index(golden_store);
    assert!(!want.is_empty(), "{}", golden_store.display());
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(golden_store, tmp.path());
    let rt = rt();
    let (mut checked, mut identical) = (0, 0);
    for ((table, tenant), (want, single)) in &want {
        // Lose the tenant's per-tenant index of the table (ingester uploads stay: they are
        // not the tenant's own, and the rebuilt file must match them too).
        let tdir = tmp.path().join("index").join(table).join(tenant);
        let _ = std::fs::remove_dir_all(&tdir);
        let store = open(tmp.path());
        let report = rt
            .block_on(rebuild_index(&store, &opts(tenant, table), &NoProgress))
            .unwrap();
        let key = report.uploaded.clone().expect("an index was written");
        assert!(
            key.starts_with(&format!(
                "index/{table}/{tenant}/1800000000000000000-compactor-"
            )),
            "{key}"
        );
        let path = tmp.path().join(&key);
        let got = IndexReader::open(&path).unwrap();
        assert_eq!(
            got.version(),
            loki_tsdb::FormatVersion::V3,
            "schema v13 → TSDB format V3"
        );
        got.verify().unwrap();
        let got_content = content(&[got.view()]);
        assert_eq!(
            &got_content,
            want,
            "{}: {table}/{tenant}: rebuilt index differs from Loki's",
            golden_store.display()
        );
        // The name carries the TOC bounds and checksum of the content.
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let toc = got.toc();
        assert!(
            name.ends_with(&format!(
                "-{}-{}-{:x}.tsdb.gz",
                toc.from, toc.through, toc.checksum
            )),
            "{name}"
        );
        if let Some(orig) = single {
            // Loki's compactor output for this tenant: same bytes once gunzipped.
            let orig_raw = loki_tsdb::gunzip(&std::fs::read(orig).unwrap()).unwrap();
            let ours = loki_tsdb::gunzip(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(orig_raw, ours, "{key} vs {}", orig.display());
            identical += 1;
        }
        checked += 1;
    }
    (checked, identical)
}

#[test]
fn rebuilt_compacted_indexes_are_lokis_byte_for_byte() {
    let mut total = (0, 0);
    for s in [
        "basic-snappy/store-compacted",
        "multitenant-gzip/store-compacted",
        "multitenant-gzip/store-incremental-compacted",
        "delete-request/store-after-sweep",
        "retention/store-after-sweep",
    ] {
        let (c, i) = check_store(&golden().join(s));
        eprintln!("{s}: {c} (table, tenant) indexes rebuilt, {i} byte-identical");
        total.0 += c;
        total.1 += i;
    }
    assert!(total.0 >= 20 && total.1 == total.0, "{total:?}");
}

#[test]
fn rebuilt_indexes_match_ingester_uploads() {
    let mut n = 0;
    for s in [
        "basic-snappy/store",
        "multitenant-gzip/store",
        "delete-request/store",
        "retention/store",
        "codecs/none/store",
        "codecs/gzip/store",
        "codecs/zstd/store",
        "codecs/lz4-64k/store",
        "codecs/flate/store",
    ] {
        let (c, _) = check_store(&golden().join(s));
        n += c;
    }
    assert!(n >= 15, "{n}");
}

#[test]
fn refuses_to_overwrite_and_replaces_upload_first() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&golden().join("basic-snappy/store-compacted"), tmp.path());
    let store = open(tmp.path());
    let rt = rt();
    let old = files_under(&tmp.path().join("index/index_20775/fake"));
    assert_eq!(old.len(), 1);
    let err = rt
        .block_on(rebuild_index(
            &store,
            &opts("fake", "index_20775"),
            &NoProgress,
        ))
        .unwrap_err();
    assert!(matches!(err, MaintError::Unsafe(_)), "{err}");
    assert!(err.to_string().contains("--replace"), "{err}");
    assert_eq!(files_under(&tmp.path().join("index/index_20775/fake")), old);

    // Dry run: reports the plan, writes nothing.
    let mut o = opts("fake", "index_20775");
    o.dry_run = true;
    let r = rt.block_on(rebuild_index(&store, &o, &NoProgress)).unwrap();
    assert!(r.uploaded.is_some() && r.deleted.is_empty());
    assert_eq!(files_under(&tmp.path().join("index/index_20775/fake")), old);

    // A stray object among the chunks is reported, left alone, and not indexed.
    std::fs::write(tmp.path().join("fake/stray.txt"), b"not a chunk").unwrap();
    let mut o = opts("fake", "index_20775");
    o.replace = true;
    let r = rt.block_on(rebuild_index(&store, &o, &NoProgress)).unwrap();
    assert_eq!(r.not_chunks, 1);
    assert_eq!(r.not_chunks_examples, vec!["fake/stray.txt".to_string()]);
    assert!(tmp.path().join("fake/stray.txt").exists());
    let now = files_under(&tmp.path().join("index/index_20775/fake"));
    assert_eq!(now.len(), 1);
    assert_ne!(now, old);
    assert_eq!(r.deleted.len(), 1);
    assert_eq!(
        r.existing,
        vec![old[0]
            .strip_prefix(tmp.path())
            .unwrap()
            .to_string_lossy()
            .into_owned()]
    );
    assert_eq!(
        r.chunks, 20,
        "chunk refs in Loki's index_20775 file for fake"
    );
    assert_eq!(r.series, 12);

    // Bad table names and unknown tenants are clear errors / empty results.
    let err = rt
        .block_on(rebuild_index(&store, &opts("fake", "idx_1"), &NoProgress))
        .unwrap_err();
    assert!(err.to_string().contains("idx_1"), "{err}");
    let r = rt
        .block_on(rebuild_index(
            &store,
            &opts("nobody", "index_20775"),
            &NoProgress,
        ))
        .unwrap();
    assert!(r.uploaded.is_none() && r.chunks == 0);
}

#[test]
fn corrupt_chunk_is_named_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&golden().join("basic-snappy/store-compacted"), tmp.path());
    std::fs::remove_dir_all(tmp.path().join("index/index_20775/fake")).unwrap();
    let victim = files_under(&tmp.path().join("fake"))[0].clone();
    let mut b = std::fs::read(&victim).unwrap();
    let n = b.len();
    b[n - 20] ^= 0xff;
    std::fs::write(&victim, b).unwrap();
    let store = open(tmp.path());
    let err = rt()
        .block_on(rebuild_index(
            &store,
            &opts("fake", "index_20775"),
            &NoProgress,
        ))
        .unwrap_err();
    let rel = victim
        .strip_prefix(tmp.path())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(err.to_string().contains(&rel), "{err}");
    assert!(
        !tmp.path().join("index/index_20775/fake").exists(),
        "nothing uploaded"
    );
}

#[test]
fn schema_v14_period_gets_a_v4_index_with_ingestion_days() {
    use loki_chunk::{ChunkObject, ChunkWriter, Labels, ObjectMeta, WriterOptions};
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    let day = 20_777i64;
    let t0 = day * 86_400_000_000_000 + 3_600_000_000_000; // 01:00 on that day, ns
    let ingested_ms = (day + 2) * 86_400_000 + 5_000; // two days later, 00:00:05
    let mut want = Vec::new();
    for (i, app) in ["api", "web"].into_iter().enumerate() {
        let mut w = ChunkWriter::new(WriterOptions::default());
        for j in 0..10i64 {
            let ts = t0 + (i as i64) * 1_000_000_000 + j * 60_000_000_000;
            w.append(
                ts,
                format!("line {j} of {app}").as_bytes(),
                &[("trace_id", "t")],
            )
            .unwrap();
        }
        w.close().unwrap();
        let (from, through) = w.bounds().unwrap();
        let labels = Labels::new([("app", app), ("__backfill__", "true")]);
        let mut meta = ObjectMeta::for_stream("tenant-x", &labels, from, through);
        meta.ingested_at_ms = Some(ingested_ms);
        let obj = ChunkObject::encode(&meta, &w.to_bytes().unwrap()).unwrap();
        let c = loki_bucket::ChunkRef::from(obj.key());
        let key =
            loki_bucket::KeyCodec::Filesystem.chunk_object(&c, loki_config::SchemaVersion::V14);
        let path = bucket.join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, obj.object_bytes()).unwrap();
        want.push(c);
    }
    let yaml = format!(
        r#"
schema_config:
  configs:
    - from: "2026-01-01"
      store: tsdb
      object_store: filesystem
      schema: v14
      index: {{ prefix: idx_v14_, period: 24h }}
storage_config:
  filesystem:
    directory: {}
"#,
        bucket.display()
    );
    let cfg = loki_config::LokiConfig::from_yaml(&yaml, Path::new("v14.yaml"), false).unwrap();
    let target = Target::from_config(&cfg, &Default::default()).unwrap();
    let table = format!("idx_v14_{day}");
    let r = rt()
        .block_on(rebuild_index(
            &target,
            &opts("tenant-x", &table),
            &NoProgress,
        ))
        .unwrap();
    assert_eq!((r.chunks, r.series, r.format_version), (2, 2, 4));
    let got = IndexReader::open(tmp.path().join("bucket").join(r.uploaded.unwrap())).unwrap();
    assert_eq!(got.version(), loki_tsdb::FormatVersion::V4);
    let c = content(&[got.view()]);
    for (labels, (_, chunks)) in &c {
        assert!(labels.iter().any(|(n, _)| n == "__backfill__"));
        // V4 stores ingestion time rounded up to the next midnight.
        assert_eq!(chunks[0].ingested_at, (day + 3) * 86_400_000);
        assert_eq!(chunks[0].entries, 10);
        assert!(want.iter().any(|w| w.checksum == chunks[0].checksum));
    }
}
