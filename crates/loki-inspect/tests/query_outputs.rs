//! `query` output formats, time formats and errors on a golden store.
use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

fn store() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden/basic-snappy/store")
}

fn query(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("loki-inspect")
        .unwrap()
        .arg("query")
        .arg("--store")
        .arg(store())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn time_formats_agree() {
    let q = r#"sum(count_over_time({stream="stderr"}[1h]))"#;
    let a = query(&[
        "--from",
        "1794960000",
        "--to",
        "1795046400",
        "--step",
        "1h",
        q,
    ]);
    let b = query(&[
        "--from",
        "2026-11-18T00:00:00Z",
        "--to",
        "2026-11-19T00:00:00.000Z",
        "--step",
        "3600",
        q,
    ]);
    let c = query(&[
        "--from",
        "1794960000000000000",
        "--to",
        "1795046400.0",
        "--step",
        "60m",
        q,
    ]);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout, c.stdout);
}

#[test]
fn jsonl_and_raw_outputs() {
    let q = r#"{stream="stderr"} |= "panic:""#;
    let range = [
        "--from",
        "1794960000",
        "--to",
        "1795132800",
        "--direction",
        "forward",
        "--limit",
        "5",
    ];
    let json = query(&[&range[..], &[q]].concat());
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    let n: usize = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(n, 5);
    let jsonl = query(&[&range[..], &["--output", "jsonl", q]].concat());
    let lines: Vec<Value> = String::from_utf8(jsonl.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert!(lines
        .iter()
        .all(|l| l["line"].as_str().unwrap().contains("panic:")));
    let raw = query(&[&range[..], &["--output", "raw", q]].concat());
    assert_eq!(
        String::from_utf8(raw.stdout)
            .unwrap()
            .matches("panic:")
            .count(),
        5
    );
}

#[test]
fn bad_query_names_the_position() {
    let o = query(&[
        "--from",
        "1794960000",
        "--to",
        "1795132800",
        r#"{stream="stderr"} | nope"#,
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("position 20"), "{err}");
}

#[test]
fn config_file_gives_the_same_answer_as_store_url() {
    // loki.yaml points its filesystem store at ./bucket, relative to the working directory.
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(store(), tmp.path().join("bucket")).unwrap();
    let cfg = store().parent().unwrap().join("loki.yaml");
    let args = [
        "--from",
        "1794960000",
        "--to",
        "1795132800",
        "--limit",
        "20",
        r#"{stream="stderr"}"#,
    ];
    let by_cfg = Command::cargo_bin("loki-inspect")
        .unwrap()
        .current_dir(tmp.path())
        .arg("query")
        .arg(format!("-config.file={}", cfg.display()))
        .args(args)
        .output()
        .unwrap();
    assert!(
        by_cfg.status.success(),
        "{}",
        String::from_utf8_lossy(&by_cfg.stderr)
    );
    assert_eq!(by_cfg.stdout, query(&args).stdout);
}
