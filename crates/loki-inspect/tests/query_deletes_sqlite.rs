//! Delete requests created through `loki-compactor`'s API (stored in the bucket in Loki's
//! SQLite layout, no BoltDB file) are applied by `loki-inspect query` exactly like Loki's
//! queriers do: the golden requests, submitted over the API against the compacted store,
//! give Loki's answers after deletion.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use assert_cmd::Command;
use loki_bucket::{Bucket, BucketOptions};
use loki_compactor::deletes::api::{ApiConfig, DeleteApi};
use loki_compactor::deletes::{DeleteStore, StoreConfig};
use serde_json::Value;

fn ds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden/delete-request")
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// Submits the golden requests over the API into `store_dir`'s bucket.
fn submit(store_dir: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let bucket = Bucket::from_url(
            &format!("file://{}", store_dir.display()),
            None,
            BucketOptions::default(),
        )
        .unwrap();
        let local = tempfile::tempdir().unwrap();
        let store = DeleteStore::open(
            bucket,
            StoreConfig {
                key_prefix: "index/".into(),
                local_dir: local.path().to_path_buf(),
                querytime_propagation_ms: 900_000,
            },
            loki_compactor::Clock::system(),
        )
        .await
        .unwrap();
        let api = DeleteApi::new(
            store,
            ApiConfig {
                auth_enabled: true,
                no_auth_tenant: "fake".into(),
                cancel_period_ms: 86_400_000,
                delete_max_interval_ms: 86_400_000,
                redaction_enabled: false,
            },
            Arc::new(|_: &str| loki_config::DeletionMode::FilterAndDelete),
            Arc::new(loki_compactor::metrics::Metrics::new()),
            loki_compactor::Clock::system(),
        );
        let submitted: Vec<Value> = serde_json::from_slice(
            &std::fs::read(ds().join("delete-requests/requests-submitted.json")).unwrap(),
        )
        .unwrap();
        for r in submitted {
            let p = &r["params"];
            let q: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("query", p["query"].as_str().unwrap())
                .append_pair("start", p["start"].as_str().unwrap())
                .append_pair("end", p["end"].as_str().unwrap())
                .finish();
            let resp = api
                .handle("POST", "/loki/api/v1/delete", &q, r["tenant"].as_str())
                .await;
            assert_eq!(resp.status, 204, "{}", resp.body);
        }
    });
}

#[test]
fn requests_created_through_the_api_hide_lines_as_loki_does() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    copy_dir(&ds().join("store-compacted"), &store);
    submit(&store);
    assert!(store
        .join("index/delete_requests/delete_requests.sqlite.gz")
        .exists());
    assert!(!store
        .join("index/delete_requests/delete_requests.gz")
        .exists());
    let dir = ds().join("expected");
    let queries: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("queries.json")).unwrap()).unwrap();
    let (mut checked, mut failed) = (0, Vec::new());
    for q in &queries {
        let ep = q["endpoint"].as_str().unwrap();
        if ep != "/loki/api/v1/query_range" {
            continue;
        }
        let p = &q["params"];
        let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
        let mut cmd = Command::cargo_bin("loki-inspect").unwrap();
        cmd.arg("query").arg("--store").arg(&store);
        cmd.args(["--tenant", q["tenant"].as_str().unwrap()]);
        cmd.args(["--from", &s("start"), "--to", &s("end")]);
        for k in ["limit", "direction", "step"] {
            if p[k].is_string() {
                cmd.arg(format!("--{k}")).arg(s(k));
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
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut want: Value =
            serde_json::from_slice(&std::fs::read(dir.join(q["file"].as_str().unwrap())).unwrap())
                .unwrap();
        want["data"].as_object_mut().unwrap().remove("stats");
        if got != want {
            failed.push(format!("{} {}", q["id"], q["params"]["query"]));
        }
        checked += 1;
    }
    assert!(
        failed.is_empty(),
        "differ from Loki:\n{}",
        failed.join("\n")
    );
    assert!(checked >= 20, "{checked}");
}
