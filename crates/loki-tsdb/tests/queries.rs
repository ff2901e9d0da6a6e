//! Queries on the spec vectors: matcher semantics, time ranges, shards,
//! label names/values, stats, tenant views and names (`names.json`).

use std::path::{Path, PathBuf};

use loki_tsdb::{
    parse_selector, IndexFileName, IndexObjectKey, IndexReader, IndexView, Shard, TablePeriod,
};
use serde_json::Value;

const BASE: i64 = 1_705_276_800_000;
const H: i64 = 3_600_000;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tsdb/vectors")
}

fn open(name: &str) -> IndexReader {
    IndexReader::open(dir().join(name)).unwrap()
}

/// Fingerprints (hex) of the series a selector returns.
fn fps(v: &IndexView<'_>, sel: &str, from: i64, through: i64, shard: Option<&str>) -> Vec<String> {
    let shard = shard.map(|s| Shard::parse(s).unwrap());
    v.query(&parse_selector(sel).unwrap(), from, through, shard)
        .unwrap()
        .iter()
        .map(|s| format!("{:016x}", s.fingerprint))
        .collect()
}

// v3_three_series: A {app=api,env=prod} 5fd6…, B {app=web,env=dev,team=core}
// 7e98…, C {app=web,env=prod} 852a… (see the vector README for chunk times).
const A: &str = "5fd68e2544215f6c";
const B: &str = "7e986a1ad895bd69";
const C: &str = "852af07b66acc10f";

#[test]
fn matcher_semantics_follow_prometheus() {
    let r = open("v3_three_series.tsdb");
    let v = r.view();
    let all = (i64::MIN, i64::MAX);
    let q = |sel: &str| fps(&v, sel, all.0, all.1, None);
    assert_eq!(q(r#"{app="web"}"#), [B, C]);
    // An absent label has the empty value.
    assert_eq!(q(r#"{team!="core"}"#), [A, C]);
    assert_eq!(q(r#"{team=""}"#), [A, C]);
    assert_eq!(q(r#"{team=~".+"}"#), [B]);
    assert_eq!(q(r#"{app=~"w.*", env!~"d.*"}"#), [C]);
    // Regexes are anchored and case-sensitive.
    assert!(q(r#"{app=~"WEB"}"#).is_empty());
    assert!(q(r#"{app=~"we"}"#).is_empty());
    assert_eq!(q(r#"{env=~"prod|dev"}"#), [A, B, C]);
    assert_eq!(q(r#"{nothere=~".*"}"#), [A, B, C]);
    assert!(q(r#"{app="nope"}"#).is_empty());
}

#[test]
fn time_ranges_use_the_overlap_rule() {
    let r = open("v3_three_series.tsdb");
    let v = r.view();
    // A's last chunk ends at base+2h (inclusive); B's first starts at base+12h.
    assert!(fps(&v, "{}", BASE + 2 * H + 1, BASE + 12 * H, None).is_empty());
    assert_eq!(fps(&v, "{}", BASE + 2 * H, BASE + 12 * H, None), [A]);
    assert_eq!(
        fps(&v, "{}", BASE + 2 * H + 1, BASE + 12 * H + 1, None),
        [B]
    );
    let hits = v
        .query(&parse_selector("{}").unwrap(), BASE + H, BASE + 2 * H, None)
        .unwrap();
    // Only overlapping chunks come back: A both, C its second chunk.
    let n: Vec<usize> = hits.iter().map(|s| s.chunks.len()).collect();
    assert_eq!(n, [2, 1]);
}

#[test]
fn shards_split_by_fingerprint_top_bits() {
    let r = open("v3_three_series.tsdb");
    let v = r.view();
    let all = (i64::MIN, i64::MAX);
    assert_eq!(fps(&v, "{}", all.0, all.1, Some("0_of_2")), [A, B]);
    assert_eq!(fps(&v, "{}", all.0, all.1, Some("1_of_2")), [C]);
    assert_eq!(fps(&v, "{}", all.0, all.1, Some("2_of_4")), [C]);
    assert!(fps(&v, "{}", all.0, all.1, Some("3_of_4")).is_empty());
}

#[test]
fn label_names_values_and_stats_for_a_range() {
    let r = open("v3_three_series.tsdb");
    let v = r.view();
    assert_eq!(v.label_names(BASE, BASE + H).unwrap(), ["app", "env"]);
    assert_eq!(
        v.label_names(i64::MIN, i64::MAX).unwrap(),
        ["app", "env", "team"]
    );
    assert_eq!(
        v.label_values("env", BASE + 12 * H, BASE + 13 * H).unwrap(),
        ["dev"]
    );
    assert_eq!(
        v.label_values("env", i64::MIN, i64::MAX).unwrap(),
        ["dev", "prod"]
    );
    let st = v
        .stats(
            &parse_selector(r#"{app="web"}"#).unwrap(),
            BASE + H,
            BASE + 2 * H,
            None,
        )
        .unwrap();
    // C's second chunk is half inside the range (Loki's numbers in the vector).
    assert_eq!(
        (st.streams, st.chunks, st.kb, st.entries),
        (1, 1, 1024, 75000)
    );
}

#[test]
fn tenant_views_hide_the_tenant_label() {
    let r = open("v3_multitenant.tsdb");
    assert!(r.is_multi_tenant());
    assert_eq!(r.tenants(), ["tenant-a", "tenant-b"]);
    let a = r.tenant_view("tenant-a");
    let all = (i64::MIN, i64::MAX);
    assert_eq!(
        fps(&a, "{}", all.0, all.1, None),
        ["3d6a4369d232828c", "5fd68e2544215f6c"]
    );
    assert_eq!(a.label_names(all.0, all.1).unwrap(), ["app", "env"]);
    assert!(a
        .label_values("__loki_tenant__", all.0, all.1)
        .unwrap()
        .is_empty());
    assert!(fps(&a, r#"{__loki_tenant__="tenant-b"}"#, all.0, all.1, None).is_empty());
    let b = r.tenant_view("tenant-b");
    let s = b
        .query(
            &parse_selector(r#"{app="api"}"#).unwrap(),
            all.0,
            all.1,
            None,
        )
        .unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].labels.to_string(), r#"{app="api", env="prod"}"#);
    assert_eq!(s[0].chunks[0].checksum, 0xb000_0001);
    let refs = b
        .chunk_refs(&parse_selector("{}").unwrap(), all.0, all.1, None)
        .unwrap();
    assert_eq!(
        refs[0].object_key("tenant-b"),
        format!(
            "tenant-b/5fd68e2544215f6c/{:x}:{:x}:b0000001",
            BASE + 10 * H,
            BASE + 11 * H
        )
    );
    assert!(fps(&r.tenant_view("nobody"), "{}", all.0, all.1, None).is_empty());
    // The whole-file view keeps the label.
    let whole = r
        .view()
        .query(
            &parse_selector(r#"{__loki_tenant__="tenant-b"}"#).unwrap(),
            all.0,
            all.1,
            None,
        )
        .unwrap();
    assert_eq!(whole[0].labels.get("__loki_tenant__"), Some("tenant-b"));
}

#[test]
fn names_match_loki_identifier_code() {
    let names: Value =
        serde_json::from_slice(&std::fs::read(dir().join("names.json")).unwrap()).unwrap();
    let n = &names["_names"];
    let r = open("v3_three_series.tsdb");
    let name = IndexFileName::Compacted {
        ts: 1_705_400_000_123_456_789,
        from: r.toc().from,
        through: r.toc().through,
        checksum: r.toc().checksum,
    };
    assert_eq!(name.to_string(), n["single_tenant_name"].as_str().unwrap());
    let secs = IndexFileName::parse(n["single_tenant_name_secs"].as_str().unwrap()).unwrap();
    assert!(matches!(
        secs,
        IndexFileName::Compacted {
            ts: 1_705_400_000,
            ..
        }
    ));
    let mt = IndexFileName::parse(n["multitenant_name"].as_str().unwrap()).unwrap();
    assert_eq!(
        mt,
        IndexFileName::MultiTenant {
            ts: 1_705_312_800,
            uploader: n["multitenant_parsed_node"].as_str().unwrap().to_owned()
        }
    );
    let p = TablePeriod::daily("index_");
    // 2024-01-15T05:00Z
    assert_eq!(
        p.table_for(1_705_294_800),
        n["table_for_2024-01-15T05:00Z"].as_str().unwrap()
    );
    for key in ["compacted_object_key", "ingester_object_key"] {
        let k = n[key].as_str().unwrap();
        assert_eq!(IndexObjectKey::parse("index/", k).unwrap().to_string(), k);
    }
    let built = IndexObjectKey::per_tenant("index/", "index_19737", "tenant-a", name);
    assert_eq!(
        built.to_string(),
        n["compacted_object_key"].as_str().unwrap()
    );
    // Per-vector checksums as Loki formats them in names (%x, unpadded).
    for (file, meta) in names
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.ends_with(".tsdb"))
    {
        let r = open(file);
        assert_eq!(
            format!("{:08x}", r.toc().checksum),
            meta["toc_crc_hex"].as_str().unwrap()
        );
        assert_eq!(r.toc().from, meta["from"].as_i64().unwrap());
    }
}
