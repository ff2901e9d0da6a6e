//! The delete-request store on the local S3 server (`.ci/s3.sh`, env
//! `LOKI_TEST_S3_ENDPOINT`): two replicas writing concurrently through S3 conditional
//! writes lose nothing and read each other's changes. Skipped when the env is unset (fails
//! under `CI`).

mod common;

use loki_bucket::{Bucket, BucketOptions};
use loki_compactor::deletes::store::Marked;
use loki_compactor::deletes::{DeleteStore, NewRequest, RequestKind, StoreConfig, TimeRange};
use loki_compactor::Clock;
use loki_config::LokiConfig;

fn s3_bucket(endpoint: &str, bucket: &str, prefix: &str) -> Bucket {
    let text = common::s3_yaml(endpoint, bucket, prefix);
    let cfg = LokiConfig::from_yaml(&text, std::path::Path::new("s3.yaml"), false).unwrap();
    Bucket::from_spec(cfg.period_store(0).unwrap(), BucketOptions::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_store_on_s3() {
    let Ok(endpoint) = std::env::var("LOKI_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var("CI").is_err(),
            "LOKI_TEST_S3_ENDPOINT must be set in CI (.ci/s3.sh)"
        );
        eprintln!(
            "SKIPPED: LOKI_TEST_S3_ENDPOINT not set (start the local S3 server with .ci/s3.sh)"
        );
        return;
    };
    let name = std::env::var("LOKI_TEST_S3_BUCKET").unwrap_or_else(|_| "loki-test".into());
    let prefix = format!(
        "deletes{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let bucket = s3_bucket(&endpoint, &name, &prefix);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = |d: &tempfile::TempDir| StoreConfig {
        key_prefix: "index/".into(),
        local_dir: d.path().to_path_buf(),
        querytime_propagation_ms: 900_000,
    };
    let a = DeleteStore::open(bucket.clone(), cfg(&d1), Clock::system())
        .await
        .unwrap();
    let b = DeleteStore::open(bucket.clone(), cfg(&d2), Clock::system())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.add(NewRequest {
                tenant: format!("t{}", i % 2),
                query: format!("{{app=\"s3-{i}\"}} |= \"x\""),
                shards: vec![
                    TimeRange {
                        start_ms: 0,
                        end_ms: 1000,
                    },
                    TimeRange {
                        start_ms: 1000,
                        end_ms: 2000,
                    },
                ],
                kind: RequestKind::Delete,
            })
            .await
            .unwrap()
            .id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let mut listed = Vec::new();
    for t in ["t0", "t1"] {
        listed.extend(b.list(t, false).await.unwrap().into_iter().map(|r| r.id));
    }
    ids.sort();
    listed.sort();
    assert_eq!(ids, listed);
    // Processing on one replica is seen by the other.
    let r = a.list("t0", false).await.unwrap().remove(0);
    let m = a
        .mark_shard_processed(
            "t0",
            &r.id,
            TimeRange {
                start_ms: 0,
                end_ms: 1000,
            },
        )
        .await
        .unwrap();
    assert!(matches!(m, Marked::Done(p) if p.processed == 1));
    let seen = b.get("t0", &r.id).await.unwrap().unwrap();
    assert_eq!(seen.status(), "50% Complete");
    assert!(bucket
        .exists("index/delete_requests/delete_requests.sqlite.gz")
        .await
        .unwrap());
    // The server enforces If-Match, which is what keeps replicas from overwriting each other.
    use object_store::{PutMode, PutOptions, PutPayload, UpdateVersion};
    let r = bucket
        .store()
        .put_opts(
            &object_store::path::Path::from("index/delete_requests/delete_requests.sqlite.gz"),
            PutPayload::from_static(b"x"),
            PutOptions {
                mode: PutMode::Update(UpdateVersion {
                    e_tag: Some("\"0123456789abcdef0123456789abcdef\"".into()),
                    version: None,
                }),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(r, Err(object_store::Error::Precondition { .. })),
        "{r:?}"
    );
}
