//! `loki-inspect chunk` on Loki-written data: the stable JSON interface and error reporting.
use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn inspect() -> Command {
    Command::cargo_bin("loki-inspect").unwrap()
}

#[test]
fn json_describes_object_and_bare_chunk() {
    let v = testdata().join("chunk/vectors");
    let out = inspect()
        .args(["chunk", "--json"])
        .arg(v.join("v4_snappy.object"))
        .arg(v.join("v3_none.chunk"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let o = &lines[0];
    assert_eq!(o["format_version"], 4);
    assert_eq!(o["encoding"], "snappy");
    assert_eq!(o["tenant"], "fake");
    assert_eq!(o["fingerprint_hex"], "10530763924b4da6");
    assert_eq!(o["labels"], serde_json::json!({"app": "foo", "env": "dev"}));
    assert_eq!(o["from_ms"], 1_700_000_000_000i64);
    assert_eq!(o["through_ms"], 1_700_000_000_501i64);
    assert_eq!(o["checksum_ok"], true);
    assert_eq!(o["entries"], 3);
    // 11 + 11 + 5 line bytes, plus trace_id/abc123/user/alice.
    assert_eq!(o["uncompressed_bytes"], 27 + 8 + 6 + 4 + 5);
    let b = &o["blocks"][0];
    assert_eq!(
        (
            b["offset"].as_u64(),
            b["len"].as_u64(),
            b["uncompressed_size"].as_u64(),
            b["entries"].as_u64()
        ),
        (Some(56), Some(85), Some(43), Some(3))
    );
    assert_eq!(b["min_ts_ns"], 1_700_000_000_000_000_000i64);
    assert_eq!(b["max_ts_ns"], 1_700_000_000_500_000_123i64);
    assert_eq!(b["crc_ok"], true);
    let bare = &lines[1];
    assert_eq!(bare["format_version"], 3);
    assert_eq!(bare["encoding"], "none");
    assert_eq!(bare["tenant"], Value::Null);
}

#[test]
fn entries_reproduce_pushed_inputs_for_a_golden_chunk() {
    let store = testdata().join("golden/basic-snappy/store/fake/36b40f1b1dfc8dee");
    let file = std::fs::read_dir(&store)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = inspect()
        .args(["chunk", "--entries"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let inputs: std::collections::HashSet<Value> =
        std::fs::read_to_string(testdata().join("golden/basic-snappy/inputs.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut n = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(inputs.contains(&v), "not pushed: {line}");
        n += 1;
    }
    assert!(n > 10);
}

#[test]
fn corrupt_input_fails_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(testdata().join("chunk/vectors/v4_none.chunk")).unwrap();
    bytes[40] ^= 0xff; // inside block 1
    let path = dir.path().join("bad.chunk");
    std::fs::write(&path, &bytes).unwrap();
    let out = inspect()
        .args(["chunk", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.chunk") && err.contains("block 0") && err.contains("offset 38"),
        "{err}"
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["checksum_ok"], false);
    assert_eq!(j["blocks"][0]["crc_ok"], false);

    bytes.truncate(100);
    std::fs::write(&path, &bytes).unwrap();
    let out = inspect().args(["chunk"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.chunk") && err.contains("offset"), "{err}");
}

#[test]
fn summary_is_readable() {
    let out = inspect()
        .arg("chunk")
        .arg(testdata().join("chunk/vectors/loki_e2e_v4_gzip.object"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("fake/5cc83687440ff003/1a212baba48:1a212bac025:1813c78"),
        "{text}"
    );
    assert!(text.contains("v4 gzip"), "{text}");
}
