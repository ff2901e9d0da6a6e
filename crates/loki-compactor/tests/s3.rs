//! One cycle against the local S3 server (`.ci/s3.sh`, env `LOKI_TEST_S3_ENDPOINT`): the
//! golden multitenant-gzip store uploaded under a fresh prefix, compacted through the S3
//! backend, gives Loki's per-tenant files byte for byte. Skipped when the env is unset.

mod common;

use bytes::Bytes;
use common::*;
use loki_bucket::{Bucket, BucketOptions, KeyCodec};
use loki_compactor::runner::{Compactor, Options};
use loki_config::LokiConfig;

fn s3_config(endpoint: &str, bucket: &str, prefix: &str) -> LokiConfig {
    let (insecure, host) = match endpoint.strip_prefix("http://") {
        Some(h) => (true, h),
        None => (false, endpoint.strip_prefix("https://").unwrap_or(endpoint)),
    };
    let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "testing".into());
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "testing".into());
    let text = format!(
        r#"
auth_enabled: true
schema_config:
  configs:
    - from: "2026-01-01"
      store: tsdb
      object_store: s3
      schema: v13
      index: {{ prefix: index_, period: 24h }}
storage_config:
  use_thanos_objstore: true
  object_store:
    storage_prefix: {prefix}
    s3:
      bucket_name: {bucket}
      endpoint: {host}
      region: us-east-1
      insecure: {insecure}
      access_key_id: {key}
      secret_access_key: {secret}
compactor:
  working_directory: /tmp/unused-loki-compactor-s3
"#
    );
    LokiConfig::from_yaml(&text, std::path::Path::new("s3.yaml"), false).unwrap()
}

#[test]
fn compacts_golden_store_on_s3() {
    let Ok(endpoint) = std::env::var("LOKI_TEST_S3_ENDPOINT") else {
        eprintln!(
            "SKIPPED: LOKI_TEST_S3_ENDPOINT not set (start the local S3 server with .ci/s3.sh)"
        );
        return;
    };
    let bucket_name = std::env::var("LOKI_TEST_S3_BUCKET").unwrap_or_else(|_| "loki-test".into());
    let prefix = format!(
        "compactor{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let cfg = s3_config(&endpoint, &bucket_name, &prefix);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = cfg.period_store(0).unwrap().clone();
    let bucket = Bucket::from_spec(&spec, BucketOptions::default()).unwrap();
    let src = golden("multitenant-gzip").join("store");
    rt.block_on(async {
        for f in files(&src) {
            // The golden tree is a filesystem store: chunk names are base64 there.
            let key = if f.starts_with("index/") {
                f.clone()
            } else {
                KeyCodec::Filesystem.decode_chunk_key(&f).unwrap()
            };
            let data = std::fs::read(src.join(&f)).unwrap();
            bucket.put(&key, Bytes::from(data)).await.unwrap();
        }
    });
    let c = Compactor::new(cfg, Options::default()).unwrap();
    let report = rt.block_on(c.run_once()).unwrap();
    assert!(report.pass.failed.is_empty());
    let (want, _) = index_layout(&golden("multitenant-gzip").join("store-compacted"));
    let listed = rt.block_on(bucket.list("index/")).unwrap();
    let keys: Vec<String> = listed.iter().map(|o| o.key.clone()).collect();
    assert!(
        keys.iter().all(|k| k.split('/').count() == 4),
        "multi-tenant uploads left: {keys:?}"
    );
    assert_eq!(keys.len(), want.len(), "{keys:?}");
    for ((table, tenant), files) in want {
        let k = keys
            .iter()
            .find(|k| k.starts_with(&format!("index/{table}/{tenant}/")))
            .unwrap_or_else(|| panic!("no file for {table}/{tenant}"));
        let got = loki_tsdb::gunzip(&rt.block_on(bucket.get(k)).unwrap()).unwrap();
        let exp = loki_tsdb::gunzip(&std::fs::read(&files[0]).unwrap()).unwrap();
        assert!(got == exp, "{table}/{tenant}: bytes differ");
    }
    assert!(c
        .render_metrics()
        .contains("loki_objstore_bucket_operations_total"));
}

/// The lease on S3: create-if-absent and ETag-conditional renewals elect one holder.
#[test]
fn lease_on_s3_has_one_holder() {
    use loki_compactor::lease::{Lease, LeaseState};
    let Ok(endpoint) = std::env::var("LOKI_TEST_S3_ENDPOINT") else {
        eprintln!(
            "SKIPPED: LOKI_TEST_S3_ENDPOINT not set (start the local S3 server with .ci/s3.sh)"
        );
        return;
    };
    let bucket_name = std::env::var("LOKI_TEST_S3_BUCKET").unwrap_or_else(|_| "loki-test".into());
    let prefix = format!(
        "lease{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let cfg = s3_config(&endpoint, &bucket_name, &prefix);
    let bucket = Bucket::from_spec(cfg.period_store(0).unwrap(), BucketOptions::default()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock = loki_compactor::Clock::fixed(1_000_000_000_000_000_000);
    let leases: Vec<Lease> = (0..4)
        .map(|i| {
            Lease::new(
                bucket.clone(),
                "loki-compactor/lease.json",
                &format!("i{i}"),
                10_000,
                clock.clone(),
            )
        })
        .collect();
    for round in 0..2 {
        let states = rt.block_on(futures::future::join_all(
            leases.iter().map(|l| l.acquire()),
        ));
        let held = states
            .iter()
            .filter(|s| matches!(s.as_ref().unwrap(), LeaseState::Held { .. }))
            .count();
        assert_eq!(held, 1, "round {round}: {states:?}");
        clock.advance_ms(20_000);
    }
}
