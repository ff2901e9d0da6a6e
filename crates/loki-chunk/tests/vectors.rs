//! The spec's binary vectors (written by Loki's own code) decode to Loki's reader output, and
//! re-encode byte-identically where the codec allows it.
mod common;

use std::path::PathBuf;

use bytes::Bytes;
use loki_chunk::{
    Chunk, ChunkKey, ChunkObject, ChunkWriter, Encoding, FormatVersion, Labels, ObjectMeta,
    WriterOptions,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/chunk/vectors")
}

fn records() -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join("expected.json")).unwrap();
    serde_json::from_str::<Vec<Value>>(&text).unwrap()
}

type Pairs = Vec<(String, String)>;

fn expected_entries(v: &Value) -> Vec<(i64, String, Pairs)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let sm = match &e["structured_metadata"] {
                Value::Array(a) => a
                    .iter()
                    .map(|p| {
                        (
                            p["name"].as_str().unwrap().to_string(),
                            p["value"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (
                e["ts_ns"].as_i64().unwrap(),
                e["line"].as_str().unwrap().to_string(),
                sm,
            )
        })
        .collect()
}

fn decoded(chunk: &Chunk) -> Vec<(i64, String, Pairs)> {
    chunk
        .entries()
        .map(|e| {
            let e = e.unwrap();
            let sm = e
                .structured_metadata
                .iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8(n.to_vec()).unwrap(),
                        String::from_utf8(v.to_vec()).unwrap(),
                    )
                })
                .collect();
            (
                e.timestamp_ns,
                String::from_utf8(e.line.to_vec()).unwrap(),
                sm,
            )
        })
        .collect()
}

fn check_decoded(rec: &Value, chunk: &Chunk) {
    let file = rec["file"].as_str().unwrap();
    let got = decoded(chunk);
    assert_eq!(
        got.len() as u64,
        rec["decoded_entry_count"].as_u64().unwrap(),
        "{file}"
    );
    if let Some(sha) = rec.get("decoded_entries_sha256").and_then(Value::as_str) {
        let mut h = Sha256::new();
        for (ts, line, _) in &got {
            h.update(format!("{ts}\t{line}\n"));
        }
        assert_eq!(hex::encode(h.finalize()), sha, "{file}");
    } else {
        assert_eq!(got, expected_entries(&rec["decoded_entries"]), "{file}");
    }
    let blocks = rec["blocks"].as_array().unwrap();
    assert_eq!(chunk.blocks().len(), blocks.len(), "{file}");
    for (b, want) in chunk.blocks().iter().zip(blocks) {
        assert_eq!(
            b.num_entries,
            want["num_entries"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(b.min_time_ns, want["mint_ns"].as_i64().unwrap(), "{file}");
        assert_eq!(b.max_time_ns, want["maxt_ns"].as_i64().unwrap(), "{file}");
        assert_eq!(b.offset as u64, want["offset"].as_u64().unwrap(), "{file}");
        assert!(b.crc_ok);
    }
    assert_eq!(
        chunk.version().as_u8() as u64,
        rec["format_version"].as_u64().unwrap()
    );
    assert_eq!(chunk.encoding().name(), rec["codec"].as_str().unwrap());
}

/// Re-appends the vector's inputs and returns our chunk.
fn rewrite(rec: &Value, chunk: &Chunk) -> Bytes {
    let version = match rec["format_version"].as_u64().unwrap() {
        3 => FormatVersion::V3,
        _ => FormatVersion::V4,
    };
    let opts = WriterOptions {
        version,
        encoding: chunk.encoding(),
        block_size: rec["block_size"].as_u64().unwrap() as usize,
        target_size: rec["target_size"].as_u64().unwrap() as usize,
    };
    let entries = match &rec["appended_entries_in_order"] {
        Value::Array(_) => expected_entries(&rec["appended_entries_in_order"]),
        _ => decoded(chunk),
    };
    let mut w = ChunkWriter::new(opts);
    for (ts, line, sm) in &entries {
        w.append(*ts, line.as_bytes(), sm).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn every_vector_decodes_to_lokis_output() {
    let mut n = 0;
    for rec in records() {
        let file = rec["file"].as_str().unwrap();
        let path = dir().join(file);
        match rec["kind"].as_str().unwrap() {
            "memchunk" => {
                let chunk = Chunk::parse(std::fs::read(&path).unwrap()).unwrap();
                check_decoded(&rec, &chunk);
            }
            "object" => {
                let bytes = std::fs::read(&path).unwrap();
                let obj = ChunkObject::decode(bytes.clone()).unwrap();
                assert_eq!(
                    format!("{:08x}", obj.checksum).trim_start_matches('0'),
                    rec["checksum_hex"].as_str().unwrap()
                );
                let key = obj.key();
                assert_eq!(key.to_key(13), rec["object_key_v13"].as_str().unwrap());
                assert_eq!(key.to_key(11), rec["object_key_v11"].as_str().unwrap());
                assert_eq!(
                    key.to_filesystem_path(13),
                    rec["object_key_v13_filesystem"].as_str().unwrap()
                );
                if let Some(fs11) = rec.get("object_key_v11_filesystem").and_then(Value::as_str) {
                    assert_eq!(key.to_filesystem_path(11), fs11);
                }
                assert_eq!(
                    format!("{:x}", obj.meta.fingerprint),
                    rec["fingerprint_hex"].as_str().unwrap()
                );
                assert_eq!(obj.meta.from_ms, rec["from_ms"].as_i64().unwrap());
                assert_eq!(obj.meta.through_ms, rec["through_ms"].as_i64().unwrap());
                assert_eq!(
                    obj.meta.to_json(),
                    rec["metadata_json"].as_str().unwrap().as_bytes(),
                    "{file}"
                );
                // Loki's own checks when fetching by key pass.
                let parsed_key = ChunkKey::parse(rec["object_key_v13"].as_str().unwrap()).unwrap();
                ChunkObject::decode_with_key(bytes.clone(), &parsed_key).unwrap();
                // The fingerprint of the stream labels is the one Loki computed.
                assert_eq!(obj.meta.stream_labels().fingerprint(), obj.meta.fingerprint);
                let chunk = obj.chunk().unwrap();
                check_decoded(&rec, &chunk);
                if let Some(inner) = rec.get("inner_memchunk_file").and_then(Value::as_str) {
                    assert_eq!(obj.chunk_bytes(), std::fs::read(dir().join(inner)).unwrap());
                }
                // Re-wrapping gives the identical object.
                let again = ChunkObject::encode(&obj.meta, &obj.chunk_bytes()).unwrap();
                assert_eq!(again.object_bytes()[..], bytes[..], "{file} re-wrap");
            }
            "wal-checkpoint" => continue,
            other => panic!("unknown kind {other}"),
        }
        n += 1;
    }
    assert_eq!(n, 42);
}

#[test]
fn writer_reproduces_every_vector() {
    let mut identical = 0;
    for rec in records() {
        if rec["kind"] != "memchunk" || rec["format_version"].as_u64().unwrap() < 3 {
            continue;
        }
        let file = rec["file"].as_str().unwrap();
        let original = std::fs::read(dir().join(file)).unwrap();
        let theirs = Chunk::parse(original.clone()).unwrap();
        let ours_bytes = rewrite(&rec, &theirs);
        let ours = Chunk::parse(ours_bytes.clone()).unwrap();
        if theirs.encoding() == Encoding::None {
            assert_eq!(
                ours_bytes[..],
                original[..],
                "{file} must re-encode byte-identically"
            );
            identical += 1;
        }
        common::assert_same_blocks(&ours, &theirs, file);
    }
    assert_eq!(
        identical, 5,
        "v4_none, _nosm, _big, _multiblock and v3_none"
    );
}

#[test]
fn object_for_stream_matches_loki_metadata() {
    let stream = Labels::new([("app", "foo"), ("env", "dev")]);
    let meta = ObjectMeta::for_stream(
        "fake",
        &stream,
        1_700_000_000_000_000_000,
        1_700_000_000_500_000_123,
    );
    let chunk = std::fs::read(dir().join("v4_none.chunk")).unwrap();
    let obj = ChunkObject::encode(&meta, &chunk).unwrap();
    assert_eq!(
        obj.object_bytes()[..],
        std::fs::read(dir().join("v4_none.object")).unwrap()[..]
    );
    assert_eq!(
        obj.key().to_key(13),
        "fake/10530763924b4da6/18bcfe56800:18bcfe569f5:16dff7d1"
    );
}
