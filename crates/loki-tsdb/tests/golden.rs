//! Golden stores written by a real Loki: every index reads, chunk objects
//! and index entries agree, and merging a store's uploads reproduces Loki's
//! compacted files byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine;
use loki_tsdb::{merge, FormatVersion, IndexFileName, IndexObjectKey, IndexReader, IndexView};

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden")
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every store directory: (dataset dir, store name, listing file).
fn stores() -> Vec<(PathBuf, String, PathBuf)> {
    let mut out = Vec::new();
    for listing in walk(&golden()) {
        let name = listing.file_name().unwrap().to_str().unwrap().to_owned();
        if let Some(store) = name
            .strip_prefix("listing-")
            .and_then(|s| s.strip_suffix(".tsv"))
        {
            out.push((
                listing.parent().unwrap().to_path_buf(),
                store.to_owned(),
                listing,
            ));
        }
    }
    out
}

/// Index objects of one store: key (relative to the store root) -> path.
fn index_objects(ds: &Path, store: &str) -> BTreeMap<String, PathBuf> {
    let root = ds.join(store);
    walk(&root.join("index"))
        .into_iter()
        .filter(|p| p.to_str().unwrap().ends_with(".tsdb.gz"))
        .map(|p| {
            (
                p.strip_prefix(&root).unwrap().to_str().unwrap().to_owned(),
                p,
            )
        })
        .collect()
}

type ChunkKey = (String, String, String, String, String);

/// Chunk object keys from a listing: `<tenant>/<fp>/<base64 of from:through:crc>`.
fn chunk_objects(listing: &Path) -> BTreeSet<ChunkKey> {
    let text = std::fs::read_to_string(listing).unwrap();
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let path = line.split('\t').next().unwrap();
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() != 3 || parts[0] == "index" {
            continue;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(parts[2])
            .unwrap();
        let decoded = String::from_utf8(decoded).unwrap();
        let f: Vec<&str> = decoded.split(':').collect();
        assert_eq!(f.len(), 3, "{path}");
        out.insert((
            parts[0].into(),
            parts[1].into(),
            f[0].into(),
            f[1].into(),
            f[2].into(),
        ));
    }
    out
}

fn refs_of_view(tenant: &str, v: &IndexView<'_>, out: &mut BTreeSet<ChunkKey>) {
    let mut cur = v.series().unwrap();
    while cur.advance().unwrap() {
        for c in cur.chunks() {
            out.insert((
                tenant.into(),
                format!("{:x}", cur.fingerprint()),
                format!("{:x}", c.min_time),
                format!("{:x}", c.max_time),
                format!("{:x}", c.checksum),
            ));
        }
    }
}

/// Chunk refs of every index file of a store, keyed like chunk objects.
fn index_refs(ds: &Path, store: &str) -> BTreeSet<ChunkKey> {
    let mut out = BTreeSet::new();
    for (key, path) in index_objects(ds, store) {
        let k = IndexObjectKey::parse("index/", &key).unwrap();
        let r = IndexReader::open(&path).unwrap();
        match &k.tenant {
            Some(t) => {
                assert!(
                    !r.is_multi_tenant(),
                    "{key}: per-tenant file with tenant label"
                );
                refs_of_view(t, &r.view(), &mut out);
            }
            None => {
                assert!(k.name.is_multi_tenant(), "{key}");
                for t in r.tenants() {
                    refs_of_view(t, &r.tenant_view(t), &mut out);
                }
            }
        }
    }
    out
}

#[test]
fn every_golden_index_file_reads_and_verifies() {
    let mut n = 0;
    for (ds, store, _) in stores() {
        for (key, path) in index_objects(&ds, &store) {
            let k = IndexObjectKey::parse("index/", &key).unwrap();
            let r = IndexReader::open(&path).unwrap_or_else(|e| panic!("{key}: {e}"));
            r.verify().unwrap_or_else(|e| panic!("{key}: {e}"));
            // Loki schema v13 everywhere in the golden data.
            assert_eq!(r.version(), FormatVersion::V3, "{key}");
            assert_eq!(r.is_multi_tenant(), k.tenant.is_none(), "{key}");
            if let IndexFileName::Compacted {
                from,
                through,
                checksum,
                ..
            } = k.name
            {
                assert_eq!(
                    (from, through, checksum),
                    (r.toc().from, r.toc().through, r.toc().checksum),
                    "{key}"
                );
            }
            n += 1;
        }
    }
    assert_eq!(n, 78, "index objects found");
}

/// Stores whose chunk objects and index entries must agree exactly. After
/// retention marking or delete processing the index drops refs before the
/// sweeper deletes the objects, so those stores only need "index ⊆ objects".
#[test]
fn chunk_objects_are_referenced_by_exactly_the_index_entries() {
    let mut exact = 0;
    for (ds, store, listing) in stores() {
        let objects = chunk_objects(&listing);
        let refs = index_refs(&ds, &store);
        let name = format!("{}/{store}", ds.display());
        let missing: Vec<_> = refs.difference(&objects).collect();
        assert!(
            missing.is_empty(),
            "{name}: index refs without objects: {missing:?}"
        );
        if store.contains("after-delete") || store.contains("after-mark") {
            assert!(
                objects.len() > refs.len(),
                "{name}: marking removed nothing"
            );
        } else {
            let orphans: Vec<_> = objects.difference(&refs).collect();
            assert!(
                orphans.is_empty(),
                "{name}: objects no index entry references: {orphans:?}"
            );
            exact += 1;
        }
    }
    assert!(exact >= 15, "only {exact} stores checked exactly");
}

/// Runs the compactor's per-table merge on one store and compares with the
/// compacted store: same tenants, same bytes after gunzip, same name parts.
fn check_compaction(ds: &str, before: &str, after: &str) -> usize {
    let ds = golden().join(ds);
    let inputs = index_objects(&ds, before);
    let outputs = index_objects(&ds, after);
    let mut tables: BTreeMap<String, Vec<(IndexObjectKey, IndexReader)>> = BTreeMap::new();
    for (key, path) in &inputs {
        let k = IndexObjectKey::parse("index/", key).unwrap();
        tables
            .entry(k.table.clone())
            .or_default()
            .push((k, IndexReader::open(path).unwrap()));
    }
    let mut compared = 0;
    for (table, files) in &tables {
        let tenants: BTreeSet<&str> = files
            .iter()
            .filter(|(k, _)| k.tenant.is_none())
            .flat_map(|(_, r)| r.tenants())
            .collect();
        for tenant in tenants {
            let views: Vec<IndexView<'_>> = files
                .iter()
                .filter_map(|(k, r)| match &k.tenant {
                    None => Some(r.tenant_view(tenant)),
                    Some(t) if t == tenant => Some(r.view()),
                    Some(_) => None,
                })
                .collect();
            let (bytes, summary) = merge(&views, FormatVersion::V3, Vec::new()).unwrap();
            let prefix = format!("index/{table}/{tenant}/");
            let (out_key, out_path) = outputs
                .iter()
                .find(|(k, _)| k.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no compacted file for {prefix}"));
            let want = loki_tsdb::gunzip(&std::fs::read(out_path).unwrap()).unwrap();
            assert!(
                bytes == want,
                "{out_key}: merged bytes differ ({} vs {})",
                bytes.len(),
                want.len()
            );
            let k = IndexObjectKey::parse("index/", out_key).unwrap();
            let IndexFileName::Compacted { ts, .. } = k.name else {
                panic!("{out_key}")
            };
            assert_eq!(IndexFileName::compacted(ts, &summary), k.name);
            compared += 1;
        }
    }
    compared
}

#[test]
fn merging_uploads_reproduces_loki_compacted_files_byte_for_byte() {
    assert_eq!(
        check_compaction("basic-snappy", "store", "store-compacted"),
        2
    );
    assert_eq!(
        check_compaction("multitenant-gzip", "store", "store-compacted"),
        9
    );
    assert_eq!(
        check_compaction("delete-request", "store", "store-compacted"),
        4
    );
    // An upload merged into existing per-tenant files.
    assert_eq!(
        check_compaction(
            "multitenant-gzip",
            "store-incremental",
            "store-incremental-compacted"
        ),
        3
    );
}
