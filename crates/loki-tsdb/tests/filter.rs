//! The streaming filter writes exactly what the in-memory builder writes
//! for the surviving series: on every golden index (whole files and tenant
//! views of uploads), on the spec vectors, on random indexes with random
//! pure filters, and on an index large enough for every scratch-file path.

use std::cell::Cell;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use loki_tsdb::{
    filter_in, gzip, ChunkFilter, ChunkMeta, FormatVersion, IndexBuilder, IndexError, IndexReader,
    IndexView, Labels, Section,
};
use proptest::prelude::*;

const VERSIONS: [FormatVersion; 3] = [FormatVersion::V2, FormatVersion::V3, FormatVersion::V4];

/// What the filter must produce: the view's series read through its
/// cursor, filtered, and written by the in-memory builder.
fn expected(view: &IndexView<'_>, v: FormatVersion, f: &dyn ChunkFilter) -> Vec<u8> {
    let mut b = IndexBuilder::new(v);
    let mut cur = view.series().unwrap();
    let mut ordinal = 0;
    while cur.advance().unwrap() {
        let labels: Vec<(&str, &str)> = cur.labels().collect();
        let mut chunks = cur.chunks().to_vec();
        f.retain(ordinal, &labels, cur.fingerprint(), &mut chunks);
        ordinal += 1;
        if !chunks.is_empty() {
            b.add_series(Labels::new(labels), cur.fingerprint(), chunks);
        }
    }
    b.build().unwrap().0
}

fn filtered(view: IndexView<'_>, v: FormatVersion, f: &dyn ChunkFilter) -> (Vec<u8>, u64) {
    let scratch = tempfile::tempdir().unwrap();
    let (out, summary) = filter_in(view, v, Vec::new(), scratch.path(), f).unwrap();
    assert_eq!(summary.bytes, out.len() as u64);
    IndexReader::from_bytes(out.clone())
        .unwrap()
        .verify()
        .unwrap();
    (out, summary.series)
}

/// The filters of a retention or delete pass.
#[derive(Debug)]
enum Rule {
    KeepAll,
    /// Keeps chunks ending at or after the cutoff.
    Cutoff(i64),
    /// Drops whole series carrying this label.
    DropLabel(String, String),
    DropAll,
}

impl ChunkFilter for Rule {
    fn retain(&self, _: u64, labels: &[(&str, &str)], _: u64, chunks: &mut Vec<ChunkMeta>) {
        match self {
            Rule::KeepAll => {}
            Rule::Cutoff(t) => chunks.retain(|c| c.max_time >= *t),
            Rule::DropLabel(n, v) => {
                if labels.iter().any(|&(ln, lv)| ln == n && lv == v) {
                    chunks.clear();
                }
            }
            Rule::DropAll => chunks.clear(),
        }
    }
}

fn rules(view: &IndexView<'_>) -> Vec<Rule> {
    let toc = view.reader().toc();
    let mut out = vec![
        Rule::KeepAll,
        Rule::Cutoff(toc.from + (toc.through - toc.from) / 2),
        Rule::DropAll,
    ];
    let mut cur = view.series().unwrap();
    if cur.advance().unwrap() {
        if let Some((n, v)) = cur.labels().last() {
            out.push(Rule::DropLabel(n.to_owned(), v.to_owned()));
        }
    }
    out
}

fn walk(d: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Every view of a file a compactor would filter: the whole file, and
/// each tenant of a multi-tenant one.
fn views(r: &IndexReader) -> Vec<IndexView<'_>> {
    let mut out = vec![r.view()];
    out.extend(r.tenants().into_iter().map(|t| r.tenant_view(t)));
    out
}

/// Checks every rule in every version on every view; returns (series
/// kept, series dropped) over all filters that drop something.
fn check_file(name: &str, r: &IndexReader, original: Option<&[u8]>, kept_dropped: &mut (u64, u64)) {
    let empty = IndexBuilder::new(FormatVersion::V3).build().unwrap().0;
    for (i, view) in views(r).into_iter().enumerate() {
        let total = view.series().unwrap().len() as u64;
        for rule in rules(&view) {
            for v in VERSIONS {
                let (got, series) = filtered(view, v, &rule);
                assert!(
                    got == expected(&view, v, &rule),
                    "{name} {rule:?} v{v}: filtered bytes differ from the builder's"
                );
                // A whole file without chunkless series comes back unchanged.
                if matches!(rule, Rule::KeepAll) && i == 0 && v == r.version() {
                    if let Some(original) = original {
                        assert!(got == original, "{name}: keep-all changed the file");
                    }
                }
                if v != FormatVersion::V3 {
                    continue;
                }
                match rule {
                    Rule::DropAll => {
                        assert_eq!(series, 0, "{name}");
                        assert!(got == empty, "{name}: drop-all is not the empty index");
                    }
                    Rule::Cutoff(_) | Rule::DropLabel(..) => {
                        kept_dropped.0 += series;
                        kept_dropped.1 += total - series;
                    }
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn golden_indexes_filter_to_the_builders_bytes() {
    let mut files = Vec::new();
    walk(&testdata().join("golden"), &mut files);
    files.retain(|p| p.to_str().unwrap().ends_with(".tsdb.gz"));
    files.sort();
    assert_eq!(files.len(), 78);
    let mut kept_dropped = (0, 0);
    let mut tenant_views = 0;
    for p in &files {
        let r = IndexReader::open(p).unwrap();
        let raw = loki_tsdb::gunzip(&std::fs::read(p).unwrap()).unwrap();
        tenant_views += r.tenants().len();
        check_file(&p.display().to_string(), &r, Some(&raw), &mut kept_dropped);
    }
    assert!(tenant_views > 20, "only {tenant_views} tenant views");
    // The cutoff and label filters really removed series, and kept some.
    assert!(
        kept_dropped.0 > 100 && kept_dropped.1 > 100,
        "{kept_dropped:?}"
    );
}

#[test]
fn spec_vectors_filter_to_the_builders_bytes() {
    let mut n = 0;
    let mut kept_dropped = (0, 0);
    for e in std::fs::read_dir(testdata().join("tsdb/vectors")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "tsdb") {
            let raw = std::fs::read(&p).unwrap();
            let r = IndexReader::from_bytes(raw.clone()).unwrap();
            // Chunkless series are dropped, so those files do change.
            let zero_chunks = p.to_str().unwrap().contains("zero_chunk");
            let orig = (!zero_chunks).then_some(raw.as_slice());
            check_file(&p.display().to_string(), &r, orig, &mut kept_dropped);
            n += 1;
        }
    }
    assert!(n >= 8, "{n} vectors");
}

#[test]
fn an_absent_tenant_filters_to_the_empty_index() {
    let raw = std::fs::read(testdata().join("tsdb/vectors/v3_multitenant.tsdb")).unwrap();
    let r = IndexReader::from_bytes(raw).unwrap();
    let (got, series) = filtered(r.tenant_view("nobody"), FormatVersion::V3, &Rule::KeepAll);
    assert_eq!(series, 0);
    assert!(got == IndexBuilder::new(FormatVersion::V3).build().unwrap().0);
}

/// Keeps everything while its first `n` calls (the symbol pass), then
/// answers differently: the filter must refuse to write.
struct Fickle {
    calls: Cell<u64>,
    n: u64,
    keep_first: bool,
}

impl ChunkFilter for Fickle {
    fn retain(&self, _: u64, _: &[(&str, &str)], _: u64, chunks: &mut Vec<ChunkMeta>) {
        self.calls.set(self.calls.get() + 1);
        if (self.calls.get() <= self.n) != self.keep_first {
            chunks.clear();
        }
    }
}

#[test]
fn an_impure_filter_is_an_error_not_a_wrong_index() {
    let raw = std::fs::read(testdata().join("tsdb/vectors/v3_three_series.tsdb")).unwrap();
    let r = IndexReader::from_bytes(raw).unwrap();
    let n = r.view().series().unwrap().len() as u64;
    let scratch = tempfile::tempdir().unwrap();
    for keep_first in [true, false] {
        let f = Fickle {
            calls: Cell::new(0),
            n,
            keep_first,
        };
        let err =
            filter_in(r.view(), FormatVersion::V3, Vec::new(), scratch.path(), &f).unwrap_err();
        assert!(
            matches!(&err, IndexError::InvalidInput(m) if m.contains("not pure")),
            "{err}"
        );
    }
}

#[test]
fn a_damaged_series_record_is_reported_with_its_offset() {
    let mut raw = std::fs::read(testdata().join("tsdb/vectors/v3_three_series.tsdb")).unwrap();
    let r = IndexReader::from_bytes(raw.clone()).unwrap();
    let at = r.view().series_refs().unwrap()[0] as usize * 16;
    drop(r);
    // The last byte of the first record's chunk list (just before its CRC).
    let len = raw[at] as usize;
    raw[at + len] ^= 0x40;
    let r = IndexReader::from_bytes(raw).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let err = filter_in(
        r.view(),
        FormatVersion::V3,
        Vec::new(),
        scratch.path(),
        &Rule::KeepAll,
    )
    .unwrap_err();
    match err {
        IndexError::Corrupt {
            section: Section::Series,
            offset,
            ..
        } => assert_eq!(offset, at as u64, "{err}"),
        other => panic!("unexpected error: {other}"),
    }
}

/// Above 64 Ki symbols (symbol maps in mapped scratch files, sampled
/// reader symbol index) and with long values (output symbol table and
/// postings offset table spilled), input gzipped and opened through a
/// scratch file as the compactor does.
#[test]
fn large_filter_matches_the_builder_and_cleans_up() {
    const SERIES: u64 = 66_000;
    let labels = |s: u64| {
        Labels::new([
            ("app", format!("app-{}", s % 17)),
            ("pod", format!("pod-with-a-long-name-{s:08}")),
        ])
    };
    let chunk = |s: u64, j: i64| ChunkMeta {
        min_time: 1_000 + j * 100,
        max_time: 1_050 + j * 100,
        checksum: (s * 7) as u32 + j as u32,
        kb: 1,
        entries: 3,
        ingested_at: 0,
    };
    // Series with pod numbers divisible by 3 go; of the others, chunk 0
    // goes, except for app-5 (which keeps both).
    let filter = |_: u64, l: &[(&str, &str)], _: u64, cs: &mut Vec<ChunkMeta>| {
        let pod: u64 = l[1].1.rsplit('-').next().unwrap().parse().unwrap();
        if pod % 3 == 0 {
            cs.clear();
        } else if l[0].1 != "app-5" {
            cs.retain(|c| c.min_time != 1_000);
        }
    };
    let mut input = IndexBuilder::new(FormatVersion::V3);
    let mut want = IndexBuilder::new(FormatVersion::V3);
    for s in 0..SERIES {
        let l = labels(s);
        let fp = l.fingerprint();
        input.add_series(l.clone(), fp, [chunk(s, 0), chunk(s, 1)]);
        if s % 3 != 0 {
            let keep = if s % 17 == 5 {
                vec![chunk(s, 0), chunk(s, 1)]
            } else {
                vec![chunk(s, 1)]
            };
            want.add_series(l, fp, keep);
        }
    }
    let gz = gzip(&input.build().unwrap().0);
    let scratch = tempfile::tempdir().unwrap();
    let r = IndexReader::from_gzip_in(&gz, scratch.path()).unwrap();
    let (got, summary) = filter_in(
        r.view(),
        FormatVersion::V3,
        Vec::new(),
        scratch.path(),
        &filter,
    )
    .unwrap();
    assert_eq!(summary.series, SERIES - SERIES / 3);
    assert!(
        got == want.build().unwrap().0,
        "filtered bytes differ from the builder's"
    );
    drop(r);
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
}

fn chunk_strategy() -> impl Strategy<Value = ChunkMeta> {
    (0i64..100, 0i64..30, 0u32..4, any::<u32>(), 0i64..3).prop_map(
        |(start, len, checksum, kb, ing)| ChunkMeta {
            min_time: 1_705_276_800_000 + start * 60_000,
            max_time: 1_705_276_800_000 + (start + len) * 60_000,
            checksum,
            kb,
            entries: kb / 3,
            ingested_at: if ing == 0 {
                0
            } else {
                1_705_276_800_000 + ing * 86_400_000
            },
        },
    )
}

type Input = Vec<(Labels, Vec<ChunkMeta>)>;

fn input_strategy() -> impl Strategy<Value = Input> {
    let labels = prop::collection::btree_map(
        prop::sample::select(vec!["app", "env", "pod", "Zone", "_x"]),
        prop::sample::select(vec!["api", "web", "db", "prod", "a-1", "ü", ""]),
        1..4,
    )
    .prop_map(Labels::new);
    prop::collection::vec(
        (labels, prop::collection::vec(chunk_strategy(), 0..12)),
        0..20,
    )
}

/// A pure filter decided by hashes of its arguments.
#[derive(Debug, Clone)]
struct Hashed {
    seed: u64,
    /// 1 in `series` series go entirely (by labels), 1 in `ordinal` by position.
    series: u64,
    ordinal: u64,
    /// 1 in `chunk` chunk refs go (by fingerprint and chunk key).
    chunk: u64,
}

fn h(x: impl Hash) -> u64 {
    let mut s = DefaultHasher::new();
    x.hash(&mut s);
    s.finish()
}

impl ChunkFilter for Hashed {
    fn retain(&self, ordinal: u64, labels: &[(&str, &str)], fp: u64, chunks: &mut Vec<ChunkMeta>) {
        if h((self.seed, labels)) % self.series == 0 || h((self.seed, ordinal)) % self.ordinal == 0
        {
            chunks.clear();
        }
        chunks.retain(|c| h((self.seed, fp, c.key())) % self.chunk != 0);
    }
}

fn hashed() -> impl Strategy<Value = Hashed> {
    (any::<u64>(), 1u64..6, 1u64..8, 1u64..4).prop_map(|(seed, series, ordinal, chunk)| Hashed {
        seed,
        series,
        ordinal,
        chunk,
    })
}

fn build(input: &Input, v: FormatVersion) -> IndexReader {
    let mut b = IndexBuilder::new(v);
    for (l, cs) in input {
        b.add_series(l.clone(), l.fingerprint(), cs.iter().copied());
    }
    IndexReader::from_bytes(b.build().unwrap().0).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_filters_write_the_builders_bytes(
        input in input_strategy(),
        f in hashed(),
        v_in in prop::sample::select(VERSIONS.to_vec()),
        v_out in prop::sample::select(VERSIONS.to_vec()),
    ) {
        let r = build(&input, v_in);
        let (got, _) = filtered(r.view(), v_out, &f);
        prop_assert!(got == expected(&r.view(), v_out, &f));
    }

    /// A tenant of a multi-tenant upload filters like that tenant's own file.
    #[test]
    fn random_filters_of_a_tenant_view_write_the_builders_bytes(
        a in input_strategy(),
        other in input_strategy(),
        f in hashed(),
        v in prop::sample::select(VERSIONS.to_vec()),
    ) {
        let mut up = IndexBuilder::new(v);
        for (tenant, set) in [("t1", &a), ("t2", &other)] {
            for (l, cs) in set {
                up.add_series(
                    Labels::new(l.iter().chain([("__loki_tenant__", tenant)])),
                    l.fingerprint(),
                    cs.iter().copied(),
                );
            }
        }
        let upload = IndexReader::from_bytes(up.build().unwrap().0).unwrap();
        let own = build(&a, v);
        let (got, _) = filtered(upload.tenant_view("t1"), v, &f);
        prop_assert!(got == expected(&upload.tenant_view("t1"), v, &f));
        // Ordinals and labels are the same in both, so the outputs are too.
        let (from_own, _) = filtered(own.view(), v, &f);
        prop_assert!(got == from_own);
    }
}
