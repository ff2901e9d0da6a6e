//! Whole-object transfers: server-side copy inside a bucket, and copies between buckets
//! (one GET/PUT for small objects, a streamed multipart upload above `SINGLE_PUT_MAX`), with
//! faults: a failed streamed copy leaves no partial object behind.
use bytes::Bytes;
use loki_bucket::{Bucket, BucketOptions, Fault, FaultInjector, FaultRule, Op, SINGLE_PUT_MAX};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn body(n: usize) -> Bytes {
    Bytes::from((0..n).map(|i| (i % 253) as u8).collect::<Vec<u8>>())
}

#[test]
fn server_side_copy_within_a_bucket() {
    rt().block_on(async {
        let b = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
        b.put("a/x", body(1000)).await.unwrap();
        b.copy("a/x", "b/x").await.unwrap();
        assert_eq!(b.get("b/x").await.unwrap(), body(1000));
        assert_eq!(b.metrics().snapshot(Op::Copy).requests, 1);
        assert_eq!(
            b.metrics().snapshot(Op::Get).requests,
            1,
            "only the check above"
        );
        let err = b.copy("a/missing", "b/y").await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(err.to_string().contains("a/missing"), "{err}");
    });
}

#[test]
fn copies_between_buckets_small_and_streamed() {
    rt().block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let src = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
        let dst = Bucket::from_url(
            &tmp.path().display().to_string(),
            None,
            BucketOptions::default(),
        )
        .unwrap();
        let small = body(4096);
        let large = body(SINGLE_PUT_MAX as usize + 3_000_001);
        src.put("t/small", small.clone()).await.unwrap();
        src.put("t/large", large.clone()).await.unwrap();
        let n = src
            .copy_to("t/small", small.len() as u64, &dst, "u/small")
            .await
            .unwrap();
        assert_eq!(n, small.len() as u64);
        let n = src
            .copy_to("t/large", large.len() as u64, &dst, "u/large")
            .await
            .unwrap();
        assert_eq!(n, large.len() as u64);
        assert_eq!(dst.get("u/small").await.unwrap(), small);
        assert_eq!(dst.get("u/large").await.unwrap(), large);
        // One write per object as the metrics count them (a multipart upload is one).
        assert_eq!(dst.metrics().snapshot(Op::Put).requests, 2);
    });
}

#[test]
fn failed_streamed_copy_leaves_nothing() {
    rt().block_on(async {
        let src = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
        let faults = FaultInjector::new();
        faults.add(FaultRule::new(Fault::PermissionDenied).on(&[Op::Put]));
        let dst = Bucket::from_url(
            "memory://",
            None,
            BucketOptions {
                faults: Some(faults),
                ..Default::default()
            },
        )
        .unwrap();
        let large = body(SINGLE_PUT_MAX as usize + 1);
        src.put("t/large", large.clone()).await.unwrap();
        assert!(src
            .copy_to("t/large", large.len() as u64, &dst, "u/large")
            .await
            .is_err());
        assert!(!dst.exists("u/large").await.unwrap());
        src.put("t/small", body(10)).await.unwrap();
        assert!(src.copy_to("t/small", 10, &dst, "u/small").await.is_err());
        assert!(!dst.exists("u/small").await.unwrap());
    });
}
