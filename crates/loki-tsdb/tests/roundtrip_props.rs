//! Property tests: write → read is the identity, and merging files equals
//! writing the union of their series.

use std::collections::BTreeMap;

use loki_tsdb::{merge, ChunkMeta, FormatVersion, IndexBuilder, IndexReader, Labels, Series};
use proptest::prelude::*;

const DAY: i64 = 86_400_000;
const BASE: i64 = 1_705_276_800_000;

fn chunk() -> impl Strategy<Value = ChunkMeta> {
    // Small value pools so that duplicates and overlaps actually happen.
    (
        0i64..200,
        0i64..50,
        0u32..6,
        any::<u32>(),
        any::<u32>(),
        0i64..4,
    )
        .prop_map(|(start, len, checksum, kb, entries, ing)| ChunkMeta {
            min_time: BASE + start * 60_000,
            max_time: BASE + (start + len) * 60_000,
            checksum,
            kb,
            entries,
            // V4 stores day precision: use midnights so the round trip is exact.
            ingested_at: if ing == 0 { 0 } else { BASE + ing * DAY },
        })
}

fn labels() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map(
        prop::sample::select(vec!["app", "env", "team", "Zone", "_x", "pod"]),
        prop::sample::select(vec!["api", "web", "db", "prod", "dev", "a-1", "ü"]),
        1..4,
    )
    .prop_map(Labels::new)
}

type Input = Vec<(Labels, Vec<ChunkMeta>)>;

fn series_set() -> impl Strategy<Value = Input> {
    prop::collection::vec((labels(), prop::collection::vec(chunk(), 0..40)), 0..25)
}

fn version() -> impl Strategy<Value = FormatVersion> {
    prop::sample::select(vec![
        FormatVersion::V2,
        FormatVersion::V3,
        FormatVersion::V4,
    ])
}

/// What a correct reader must return for `input`: one series per label
/// set, chunks sorted and de-duplicated, ordered by (fingerprint, labels).
fn model(input: &Input, v: FormatVersion) -> Vec<Series> {
    let mut by_labels: BTreeMap<Labels, BTreeMap<(i64, i64, u32), ChunkMeta>> = BTreeMap::new();
    for (l, cs) in input {
        let e = by_labels.entry(l.clone()).or_default();
        for c in cs {
            let mut c = *c;
            if v != FormatVersion::V4 {
                c.ingested_at = 0;
            }
            e.entry(c.key()).or_insert(c);
        }
    }
    let mut out: Vec<Series> = by_labels
        .into_iter()
        .map(|(labels, cs)| Series {
            fingerprint: labels.fingerprint(),
            labels,
            chunks: cs.into_values().collect(),
        })
        .collect();
    out.sort_by(|a, b| (a.fingerprint, &a.labels).cmp(&(b.fingerprint, &b.labels)));
    out
}

fn build(input: &Input, v: FormatVersion) -> Vec<u8> {
    let mut b = IndexBuilder::new(v);
    for (l, cs) in input {
        b.add_series(l.clone(), l.fingerprint(), cs.iter().copied());
    }
    b.build().unwrap().0
}

fn read_all(bytes: Vec<u8>) -> Vec<Series> {
    let r = IndexReader::from_bytes(bytes).unwrap();
    r.verify().unwrap();
    let mut out = Vec::new();
    let mut cur = r.series().unwrap();
    while cur.advance().unwrap() {
        out.push(cur.to_series());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn write_then_read_returns_the_model(input in series_set(), v in version()) {
        let bytes = build(&input, v);
        prop_assert_eq!(read_all(bytes), model(&input, v));
    }

    #[test]
    fn merge_of_two_files_equals_writing_their_union(
        a in series_set(), b in series_set(), v in version(),
    ) {
        let (fa, fb) = (build(&a, v), build(&b, v));
        let (ra, rb) = (IndexReader::from_bytes(fa).unwrap(), IndexReader::from_bytes(fb).unwrap());
        let (merged, _) = merge(&[ra.view(), rb.view()], v, Vec::new()).unwrap();
        let union: Input = a.iter().chain(&b).cloned().collect();
        prop_assert!(merged == build(&union, v));
    }

    /// A multi-tenant upload viewed as one tenant and merged with that
    /// tenant's existing file equals that tenant's series written directly.
    #[test]
    fn tenant_merge_equals_writing_that_tenants_series(
        a in series_set(), other in series_set(), b in series_set(),
    ) {
        let v = FormatVersion::V3;
        let mut up = IndexBuilder::new(v);
        for (tenant, set) in [("t1", &a), ("t2", &other)] {
            for (l, cs) in set {
                let with_tenant = Labels::new(
                    l.iter().chain([("__loki_tenant__", tenant)]).map(|(n, v)| (n.to_owned(), v.to_owned())),
                );
                // The fingerprint is computed without the tenant label.
                up.add_series(with_tenant, l.fingerprint(), cs.iter().copied());
            }
        }
        let upload = IndexReader::from_bytes(up.build().unwrap().0).unwrap();
        let existing = IndexReader::from_bytes(build(&b, v)).unwrap();
        let (merged, _) =
            merge(&[upload.tenant_view("t1"), existing.view()], v, Vec::new()).unwrap();
        let union: Input = a.iter().chain(&b).cloned().collect();
        prop_assert!(merged == build(&union, v));
    }
}
