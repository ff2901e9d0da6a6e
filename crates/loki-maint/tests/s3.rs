//! verify and repair through the S3 backend against the local S3 server (`.ci/s3.sh`, env
//! `LOKI_TEST_S3_ENDPOINT`): the golden compacted multitenant-gzip store uploaded under a
//! fresh prefix, faults planted through the API, found, repaired, clean. Skipped when the
//! env is unset (fails under `CI`).
mod common;

use bytes::Bytes;
use common::*;
use loki_bucket::{Bucket, BucketOptions, KeyCodec};
use loki_maint::repair::{repair, RepairOptions};
use loki_maint::target::Target;
use loki_maint::verify::{verify, NoProgress};

fn env() -> Option<(String, String)> {
    match std::env::var("LOKI_TEST_S3_ENDPOINT") {
        Ok(e) => Some((
            e,
            std::env::var("LOKI_TEST_S3_BUCKET").unwrap_or_else(|_| "loki-test".into()),
        )),
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI is set but LOKI_TEST_S3_ENDPOINT is not: start the S3 server (.ci/s3.sh)"
            );
            eprintln!("SKIPPED: LOKI_TEST_S3_ENDPOINT not set (start .ci/s3.sh's s3_start)");
            None
        }
    }
}

#[test]
fn verify_and_repair_on_s3() {
    let Some((endpoint, bucket_name)) = env() else {
        return;
    };
    let rt = rt();
    let prefix = format!(
        "maint-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let url = format!("s3://{bucket_name}/{prefix}");
    let bucket = Bucket::from_url(&url, Some(&endpoint), BucketOptions::default()).unwrap();
    let src = golden("multitenant-gzip/store-compacted");
    let mut audit = Vec::new();
    let mut team_b_index = None;
    rt.block_on(async {
        for f in files(&src, "") {
            let rel = rel(&src, &f);
            let key = if rel.starts_with("index/") {
                rel.clone()
            } else {
                KeyCodec::Filesystem.decode_chunk_key(&rel).unwrap()
            };
            if key.starts_with("audit/") {
                audit.push(key.clone());
            }
            if key.starts_with("index/index_20778/team-b/") {
                team_b_index = Some(key.clone());
            }
            bucket
                .put(&key, Bytes::from(std::fs::read(&f).unwrap()))
                .await
                .unwrap();
        }
    });
    audit.sort();
    let team_b_index = team_b_index.unwrap();
    let orphan = "fake/4ab51d16b56b6e3d/1a1fed5cb14:1a2036a99cf:b3435a8e";
    rt.block_on(async {
        let mut b = bucket.get(&audit[0]).await.unwrap().to_vec();
        let at = b.len() / 2;
        b[at] ^= 0x40;
        bucket.put(&audit[0], Bytes::from(b)).await.unwrap();
        bucket.delete(&audit[3]).await.unwrap();
        bucket.put(&audit[6], Bytes::new()).await.unwrap();
        let idx = bucket.get(&team_b_index).await.unwrap();
        bucket
            .put(&team_b_index, idx.slice(..idx.len() / 2))
            .await
            .unwrap();
        bucket
            .put(orphan, Bytes::from_static(b"not indexed"))
            .await
            .unwrap();
    });
    let t = rt
        .block_on(Target::from_url(
            &url,
            Some(&endpoint),
            BucketOptions::default(),
            Vec::new(),
        ))
        .unwrap();
    let r = verify(&t, &opts(), rt.handle(), &NoProgress).unwrap();
    let found = kinds(&r);
    for (kind, key) in [
        ("corrupt_chunk", audit[0].as_str()),
        ("missing_chunk", &audit[3]),
        ("empty_chunk", &audit[6]),
        ("corrupt_index", &team_b_index),
        ("orphan_chunk", orphan),
    ] {
        assert!(
            found.contains(&(kind.to_owned(), key.to_owned())),
            "{kind} {key} not in {found:#?}"
        );
    }
    let o = RepairOptions {
        apply: true,
        verify: opts(),
        ignore_lease: false,
    };
    let rep = repair(&t, &o, rt.handle(), &NoProgress).unwrap();
    assert!(rep.skipped.is_empty(), "{:#?}", rep.skipped);
    let copy = rt
        .block_on(bucket.get(&format!("{}{orphan}", rep.quarantine)))
        .unwrap();
    assert_eq!(&copy[..], b"not indexed");
    let after = verify(&t, &opts(), rt.handle(), &NoProgress).unwrap();
    assert!(after.is_clean(), "{:#?}", after.findings);
}
