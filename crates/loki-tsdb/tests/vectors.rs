//! Spec vectors: every file reads to what Loki's reader returned
//! (`*.expected.json`) and re-encodes to the identical bytes.

use std::path::{Path, PathBuf};

use loki_tsdb::{
    ChunkMeta, FormatVersion, IndexBuilder, IndexReader, IndexView, Labels, Series, Shard,
};
use serde_json::{json, Value};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tsdb/vectors")
}

fn chunk_json(c: &ChunkMeta) -> Value {
    json!({
        "min_time": c.min_time, "max_time": c.max_time,
        "checksum_hex": format!("{:08x}", c.checksum),
        "kb": c.kb, "entries": c.entries, "ingested_at": c.ingested_at,
    })
}

fn labels_json<'a>(it: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(it.map(|(n, v)| (n.to_owned(), json!(v))).collect())
}

/// Our reader's answers in the layout of `*.expected.json`.
fn describe(r: &IndexReader) -> Value {
    let toc = r.toc();
    let mut series = Vec::new();
    let mut cur = r.series().unwrap();
    while cur.advance().unwrap() {
        series.push(json!({
            "series_ref": cur.series_ref(),
            "byte_offset": cur.series_ref() * 16,
            "fingerprint_hex": format!("{:016x}", cur.fingerprint()),
            "labels": labels_json(cur.labels()),
            "chunks": cur.chunks().iter().map(chunk_json).collect::<Vec<_>>(),
        }));
    }
    let names = r.label_names();
    let postings: Vec<Value> = r
        .postings_entries()
        .map(|(n, v, off)| {
            json!({"name": n, "value": v, "postings_offset": off,
                   "series_refs": r.postings(n, v).unwrap()})
        })
        .collect();
    json!({
        "size": r.len(),
        "version": r.version().as_u8(),
        "toc": {
            "symbols": toc.symbols, "series": toc.series, "label_indices": toc.label_indices,
            "label_indices_table": toc.label_indices_table, "postings": toc.postings,
            "postings_table": toc.postings_table, "fingerprint_offsets": toc.fingerprint_offsets,
        },
        "bounds_from": toc.from,
        "bounds_through": toc.through,
        "toc_crc32c_hex": format!("{:08x}", toc.checksum),
        "symbols": r.symbols().collect::<Vec<_>>(),
        "label_names": names,
        "label_values": Value::Object(names.iter().map(|n| (n.to_string(), json!(r.label_values(n)))).collect()),
        "postings_offset_table": postings,
        "fingerprint_offsets_ref_fp": r.fingerprint_samples().iter()
            .map(|(rf, fp)| json!([rf.to_string(), format!("{fp:016x}")])).collect::<Vec<_>>(),
        "series": series,
    })
}

/// Loki's Go JSON writes `null` for empty slices.
fn null_is_empty(v: &Value) -> Value {
    match v {
        Value::Null => json!([]),
        Value::Array(a) => Value::Array(a.iter().map(null_is_empty).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), null_is_empty(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn check_queries(r: &IndexReader, exp: &Value) {
    let Some(q) = exp.get("series_and_stats_in_range") else {
        return;
    };
    let (from, through) = (q["from"].as_i64().unwrap(), q["through"].as_i64().unwrap());
    let expected_results = q["results"].as_array().unwrap();
    let mut cur = r.series().unwrap();
    let mut got = Vec::new();
    while cur.advance().unwrap() && got.len() < expected_results.len() {
        let in_range: Vec<ChunkMeta> = cur
            .chunks()
            .iter()
            .filter(|c| c.overlaps(from, through))
            .copied()
            .collect();
        let (n, kb, e) = IndexView::series_stats(&in_range, from, through);
        got.push(json!({
            "chunks": in_range.iter().map(chunk_json).collect::<Vec<_>>(),
            "fingerprint_hex": format!("{:016x}", cur.fingerprint()),
            "series_ref": cur.series_ref(),
            "stats": {"Chunks": n, "KB": kb, "Entries": e},
        }));
    }
    assert_eq!(
        json!(got),
        null_is_empty(&q["results"]),
        "series_and_stats_in_range"
    );
    let sharded = r
        .view()
        .shard_window_refs(Shard::parse("0_of_2").unwrap())
        .unwrap();
    if let Some(count) = exp.get("sharded_all_postings_0_of_2_count") {
        assert_eq!(count, &json!(sharded.len()));
    } else {
        assert_eq!(json!(sharded), exp["sharded_all_postings_0_of_2"]);
    }
}

fn check_against_expected(file: &Path, expected: &Path) {
    let exp: Value = serde_json::from_slice(&std::fs::read(expected).unwrap()).unwrap();
    let bytes = std::fs::read(file).unwrap();
    for r in [
        IndexReader::from_bytes(bytes.clone()).unwrap(),
        IndexReader::open(file).unwrap(),
    ] {
        r.verify().unwrap();
        let got = describe(&r);
        let exp_obj = exp.as_object().unwrap();
        let mut compared = 0;
        for (k, v) in exp_obj {
            if let Some(g) = got.get(k) {
                assert_eq!(g, &null_is_empty(v), "{}: field {k}", file.display());
                compared += 1;
            }
        }
        assert!(
            compared >= 7,
            "{}: compared only {compared} fields",
            file.display()
        );
        if let Some(q) = exp.get("queries") {
            check_queries(&r, q);
        }
        // The reduced many-series vector lists every series compactly.
        if let Some(list) = exp.get("series_ref_fp_instance") {
            let s = got["series"].as_array().unwrap();
            let mine: Vec<Value> = s
                .iter()
                .map(|x| {
                    json!([
                        x["series_ref"],
                        x["fingerprint_hex"],
                        x["labels"]["instance"]
                    ])
                })
                .collect();
            assert_eq!(&json!(mine), list);
            assert_eq!(exp["symbols_count"], json!(r.symbols().count()));
            assert_eq!(
                exp["postings_offset_table_count"],
                json!(r.postings_entries().count())
            );
        }
    }
}

#[test]
fn every_vector_reads_to_its_expected_json() {
    let mut n = 0;
    for e in std::fs::read_dir(dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "tsdb") {
            let exp = p.with_extension("expected.json");
            check_against_expected(&p, &exp);
            n += 1;
        }
    }
    assert_eq!(n, 8);
}

#[test]
fn gzip_vector_reads_like_the_plain_one() {
    let gz = IndexReader::open(dir().join("v3_three_series.tsdb.gz")).unwrap();
    let plain = IndexReader::open(dir().join("v3_three_series.tsdb")).unwrap();
    assert_eq!(describe(&gz), describe(&plain));
    let scratch = tempfile::tempdir().unwrap();
    let spilled =
        IndexReader::open_spilled(dir().join("v3_three_series.tsdb.gz"), scratch.path()).unwrap();
    assert_eq!(describe(&spilled), describe(&plain));
    // The scratch copy is unlinked once mapped.
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
}

#[test]
fn loki_e2e_objects_read_to_their_expected_json() {
    let base = dir().join("loki-e2e");
    let mut n = 0;
    for exp in std::fs::read_dir(&base).unwrap() {
        let exp = exp.unwrap().path();
        let Some(name) = exp
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_suffix(".expected.json")
        else {
            continue;
        };
        let gz = walk(&base.join("index"))
            .into_iter()
            .find(|p| p.file_name().unwrap().to_str().unwrap() == format!("{name}.tsdb.gz"))
            .unwrap();
        let raw = loki_tsdb::gunzip(&std::fs::read(&gz).unwrap()).unwrap();
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), &raw).unwrap();
        check_against_expected(tmp.path(), &exp);
        n += 1;
    }
    assert_eq!(n, 3);
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn builder_from_input(input: &Value) -> IndexBuilder {
    let v = FormatVersion::try_from(input["version"].as_u64().unwrap() as u8).unwrap();
    let mut b = IndexBuilder::new(v);
    for s in input["series"].as_array().into_iter().flatten() {
        let labels = Labels::new(
            s["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())),
        );
        let fp = u64::from_str_radix(s["fingerprint_hex"].as_str().unwrap(), 16).unwrap();
        let chunks = s["chunks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| ChunkMeta {
                min_time: c["min_time"].as_i64().unwrap(),
                max_time: c["max_time"].as_i64().unwrap(),
                checksum: c["checksum"].as_u64().unwrap() as u32,
                kb: c["kb"].as_u64().unwrap() as u32,
                entries: c["entries"].as_u64().unwrap() as u32,
                ingested_at: c["ingested_at"].as_i64().unwrap(),
            });
        b.add_series(labels, fp, chunks);
    }
    b
}

#[test]
fn every_vector_input_encodes_to_the_identical_bytes() {
    let mut n = 0;
    for e in std::fs::read_dir(dir()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(stem) = name.strip_suffix(".input.json") else {
            continue;
        };
        let input: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let (bytes, summary) = builder_from_input(&input).build().unwrap();
        let want = std::fs::read(dir().join(format!("{stem}.tsdb"))).unwrap();
        assert!(bytes == want, "{stem}: re-encoded bytes differ");
        assert_eq!(summary.bytes as usize, want.len());
        n += 1;
    }
    assert_eq!(n, 7);
}

#[test]
fn many_series_vector_encodes_from_its_formula() {
    let base = 1_705_276_800_000i64;
    let mut b = IndexBuilder::new(FormatVersion::V3);
    for n in 0..1030i64 {
        let l = Labels::new([("app", "svc".to_owned()), ("instance", format!("i-{n:04}"))]);
        let fp = l.fingerprint();
        b.add_series(
            l,
            fp,
            [ChunkMeta {
                min_time: base + n,
                max_time: base + n + 60_000,
                checksum: n as u32,
                kb: 1,
                entries: 1,
                ingested_at: 0,
            }],
        );
    }
    let (bytes, _) = b.build().unwrap();
    assert!(bytes == std::fs::read(dir().join("v3_many_series.tsdb")).unwrap());
}

/// Reading then writing back reproduces every file, including real Loki
/// objects (this is the read half of a compaction round trip).
#[test]
fn read_then_write_is_the_identity_on_every_vector() {
    let mut files: Vec<PathBuf> = walk(&dir())
        .into_iter()
        .filter(|p| {
            let n = p.to_str().unwrap();
            n.ends_with(".tsdb") || n.ends_with(".tsdb.gz")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 12);
    for p in files {
        let r = IndexReader::open(&p).unwrap();
        let mut b = IndexBuilder::new(r.version());
        let mut cur = r.series().unwrap();
        while cur.advance().unwrap() {
            let Series {
                fingerprint,
                labels,
                chunks,
            } = cur.to_series();
            b.add_series(labels, fingerprint, chunks);
        }
        let (bytes, summary) = b.build().unwrap();
        let raw = loki_tsdb::gunzip(&std::fs::read(&p).unwrap())
            .unwrap_or_else(|_| std::fs::read(&p).unwrap());
        assert!(bytes == raw, "{}: round trip differs", p.display());
        assert_eq!(summary.checksum, r.toc().checksum);
    }
}
