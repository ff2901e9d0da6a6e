//! `grpc.Compactor` as Loki's queriers call it: a tonic client against our server on
//! 127.0.0.1, with the tenant in `x-scope-orgid`, Loki's message field numbers checked on the
//! wire bytes, the Go client's zero timestamps, and Loki's error codes.

use std::sync::Arc;

use loki_bucket::{Bucket, BucketOptions};
use loki_compactor::deletes::api::{ApiConfig, DeleteApi};
use loki_compactor::deletes::grpc::{
    self, DeleteRequest, GetCacheGenNumbersRequest, GetCacheGenNumbersResponse,
    GetDeleteRequestsRequest, GetDeleteRequestsResponse, Timestamp, GO_ZERO_SECONDS,
};
use loki_compactor::deletes::{DeleteStore, NewRequest, RequestKind, StoreConfig, TimeRange};
use loki_compactor::metrics::Metrics;
use loki_compactor::Clock;
use loki_config::DeletionMode;
use prost::Message;
use tonic::transport::Channel;

async fn server(auth: bool) -> (Arc<DeleteApi>, String, tempfile::TempDir) {
    let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(1_795_608_000_000_000_000);
    let store = DeleteStore::open(
        bucket,
        StoreConfig {
            key_prefix: "index/".into(),
            local_dir: dir.path().to_path_buf(),
            querytime_propagation_ms: 900_000,
        },
        clock.clone(),
    )
    .await
    .unwrap();
    let api = Arc::new(DeleteApi::new(
        store,
        ApiConfig {
            auth_enabled: auth,
            no_auth_tenant: "fake".into(),
            cancel_period_ms: 86_400_000,
            delete_max_interval_ms: 86_400_000,
            redaction_enabled: false,
        },
        Arc::new(|t: &str| {
            if t == "off" {
                DeletionMode::Disabled
            } else {
                DeletionMode::FilterAndDelete
            }
        }),
        Arc::new(Metrics::new()),
        clock,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(grpc::serve(
        listener,
        Arc::clone(&api),
        std::future::pending(),
    ));
    (api, addr, dir)
}

async fn call<Req, Resp>(
    addr: &str,
    path: &'static str,
    msg: Req,
    org: Option<&str>,
) -> Result<Resp, tonic::Status>
where
    Req: Message + Send + Sync + 'static,
    Resp: Message + Default + Send + Sync + 'static,
{
    let ch = Channel::from_shared(addr.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(ch);
    client.ready().await.unwrap();
    let mut req = tonic::Request::new(msg);
    if let Some(o) = org {
        req.metadata_mut()
            .insert("x-scope-orgid", o.parse().unwrap());
    }
    client
        .unary(
            req,
            tonic::codegen::http::uri::PathAndQuery::from_static(path),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .map(tonic::Response::into_inner)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `deletionproto.DeleteRequest` encoded by hand from Loki's field numbers.
fn loki_bytes(r: &DeleteRequest) -> Vec<u8> {
    let mut b = Vec::new();
    let s = |tag: u8, v: &str, b: &mut Vec<u8>| {
        if !v.is_empty() {
            b.push(tag);
            varint(v.len() as u64, b);
            b.extend_from_slice(v.as_bytes());
        }
    };
    let i = |tag: u8, v: i64, b: &mut Vec<u8>| {
        if v != 0 {
            b.push(tag);
            varint(v as u64, b);
        }
    };
    s(0x0a, &r.request_id, &mut b);
    i(0x10, r.start_time, &mut b);
    i(0x18, r.end_time, &mut b);
    s(0x22, &r.query, &mut b);
    s(0x2a, &r.status, &mut b);
    i(0x30, r.created_at, &mut b);
    s(0x3a, &r.user_id, &mut b);
    i(0x40, r.sequence_num, &mut b);
    b
}

#[tokio::test]
async fn queriers_get_requests_and_generation_numbers_over_grpc() {
    let (api, addr, _dir) = server(true).await;
    // The querier's request: forQuerytimeFiltering=true is the 2 bytes `08 01`.
    assert_eq!(
        GetDeleteRequestsRequest {
            for_querytime_filtering: true,
            start_time: None,
            end_time: None
        }
        .encode_to_vec(),
        [0x08, 0x01]
    );
    let gen: GetCacheGenNumbersResponse = call(
        &addr,
        grpc::GET_CACHE_GEN_NUMBERS,
        GetCacheGenNumbersRequest {},
        Some("t1"),
    )
    .await
    .unwrap();
    assert_eq!(gen.results_cache_gen, "");
    let store = api.store();
    let a = store
        .add(NewRequest {
            tenant: "t1".into(),
            query: r#"{app="keep"} |= "secret""#.into(),
            shards: vec![
                TimeRange {
                    start_ms: 1_795_600_000_000,
                    end_ms: 1_795_600_800_000,
                },
                TimeRange {
                    start_ms: 1_795_600_800_000,
                    end_ms: 1_795_604_000_123,
                },
            ],
            kind: RequestKind::Delete,
        })
        .await
        .unwrap();
    store
        .add(NewRequest {
            tenant: "t2".into(),
            query: r#"{app="other"}"#.into(),
            shards: vec![TimeRange {
                start_ms: 1,
                end_ms: 2,
            }],
            kind: RequestKind::Delete,
        })
        .await
        .unwrap();
    // Go's client sends zero times as -62135596800 s: no range filter.
    let zero = Some(Timestamp {
        seconds: GO_ZERO_SECONDS,
        nanos: 0,
    });
    let resp: GetDeleteRequestsResponse = call(
        &addr,
        grpc::GET_DELETE_REQUESTS,
        GetDeleteRequestsRequest {
            for_querytime_filtering: true,
            start_time: zero,
            end_time: zero,
        },
        Some("t1"),
    )
    .await
    .unwrap();
    let want = DeleteRequest {
        request_id: a.id.clone(),
        start_time: 1_795_600_000_000,
        end_time: 1_795_604_000_123,
        query: r#"{app="keep"} |= "secret""#.into(),
        status: "received".into(),
        created_at: 1_795_608_000_000,
        user_id: "t1".into(),
        sequence_num: 0,
    };
    assert_eq!(resp.delete_requests, vec![want.clone()]);
    // Wire bytes: field 1 of the response wraps Loki's DeleteRequest field numbers.
    let mut wire = vec![0x0a];
    let inner = loki_bytes(&want);
    varint(inner.len() as u64, &mut wire);
    wire.extend_from_slice(&inner);
    assert_eq!(resp.encode_to_vec(), wire);
    // A time range filters by overlap.
    let ts = |s: i64| {
        Some(Timestamp {
            seconds: s,
            nanos: 0,
        })
    };
    for (s, e, n) in [
        (1_795_604_000, 1_795_605_000, 1),
        (1_795_604_001, 1_795_605_000, 0),
        (1_795_500_000, 1_795_600_000, 1),
    ] {
        let r: GetDeleteRequestsResponse = call(
            &addr,
            grpc::GET_DELETE_REQUESTS,
            GetDeleteRequestsRequest {
                for_querytime_filtering: false,
                start_time: ts(s),
                end_time: ts(e),
            },
            Some("t1"),
        )
        .await
        .unwrap();
        assert_eq!(r.delete_requests.len(), n, "{s}..{e}");
    }
    let gen: GetCacheGenNumbersResponse = call(
        &addr,
        grpc::GET_CACHE_GEN_NUMBERS,
        GetCacheGenNumbersRequest {},
        Some("t1"),
    )
    .await
    .unwrap();
    assert_eq!(gen.results_cache_gen, store.cache_gen("t1").await.unwrap());
    assert!(!gen.results_cache_gen.is_empty());
}

#[tokio::test]
async fn grpc_errors_are_lokis() {
    let (_api, addr, _dir) = server(true).await;
    let req = || GetDeleteRequestsRequest {
        for_querytime_filtering: true,
        start_time: None,
        end_time: None,
    };
    for (org, msg) in [
        (None, "no org id"),
        (Some("a|b"), "multiple org IDs present"),
        (Some("off"), "deletion is not available for this tenant"),
    ] {
        let e = call::<_, GetDeleteRequestsResponse>(&addr, grpc::GET_DELETE_REQUESTS, req(), org)
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unknown, "{org:?}");
        assert_eq!(e.message(), msg);
        let e = call::<_, GetCacheGenNumbersResponse>(
            &addr,
            grpc::GET_CACHE_GEN_NUMBERS,
            GetCacheGenNumbersRequest {},
            org,
        )
        .await
        .unwrap_err();
        assert_eq!(e.message(), msg);
    }
    let e = call::<_, GetCacheGenNumbersResponse>(
        &addr,
        "/grpc.Compactor/Nope",
        GetCacheGenNumbersRequest {},
        Some("t1"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unimplemented);
    // Auth disabled: the metadata is ignored, tenant `fake`.
    let (api, addr, _dir) = server(false).await;
    api.store().bump_cache_gen("fake").await.unwrap();
    let gen: GetCacheGenNumbersResponse = call(
        &addr,
        grpc::GET_CACHE_GEN_NUMBERS,
        GetCacheGenNumbersRequest {},
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        gen.results_cache_gen,
        api.store().cache_gen("fake").await.unwrap()
    );
}
