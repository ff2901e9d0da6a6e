//! Pending delete requests applied at query time: querying the delete-request dataset's
//! bucket *before* the compactor processed the requests, with the requests as submitted,
//! gives Loki's answers after the deletion (expected/ was made from store-after-sweep).
use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

fn ds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden/delete-request")
}

fn run(q: &Value, deletes: bool) -> Value {
    let p = &q["params"];
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
    let mut cmd = Command::cargo_bin("loki-inspect").unwrap();
    cmd.arg("query")
        .arg("--store")
        .arg(ds().join("store-compacted"));
    cmd.args(["--tenant", q["tenant"].as_str().unwrap()]);
    if deletes {
        cmd.arg("--delete-requests").arg(
            ds().join(
                "delete-requests/store-after-submit/index/delete_requests/delete_requests.gz",
            ),
        );
    } else {
        cmd.arg("--no-deletes");
    }
    if q["endpoint"] == "/loki/api/v1/query" {
        cmd.args(["--time", &s("time")]);
    } else {
        cmd.args(["--from", &s("start"), "--to", &s("end")]);
        for k in ["limit", "direction", "step"] {
            if p[k].is_string() {
                cmd.arg(format!("--{k}")).arg(s(k));
            }
        }
    }
    if q["headers"]["X-Loki-Response-Encoding-Flags"] == "categorize-labels" {
        cmd.arg("--categorize-labels");
    }
    let out = cmd.arg(s("query")).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn pending_deletes_hide_lines_as_loki_does() {
    let dir = ds().join("expected");
    let queries: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("queries.json")).unwrap()).unwrap();
    let (mut checked, mut differ_without) = (0, 0);
    let mut failed = Vec::new();
    for q in &queries {
        let ep = q["endpoint"].as_str().unwrap();
        if ep != "/loki/api/v1/query_range" && ep != "/loki/api/v1/query" {
            continue;
        }
        let mut want: Value =
            serde_json::from_slice(&std::fs::read(dir.join(q["file"].as_str().unwrap())).unwrap())
                .unwrap();
        want["data"].as_object_mut().unwrap().remove("stats");
        if run(q, true) != want {
            failed.push(format!("{} {}", q["id"], q["params"]["query"]));
        }
        if run(q, false) != want {
            differ_without += 1;
        }
        checked += 1;
    }
    assert!(
        failed.is_empty(),
        "differ from Loki after deletion:\n{}",
        failed.join("\n")
    );
    assert!(checked >= 40, "{checked}");
    // The requests matter: without them many answers still show the deleted lines.
    assert!(differ_without >= 10, "{differ_without}");
}
