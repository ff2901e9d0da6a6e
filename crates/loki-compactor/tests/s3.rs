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
    let text = s3_yaml(endpoint, bucket, prefix);
    let mut cfg = LokiConfig::from_yaml(&text, std::path::Path::new("s3.yaml"), false).unwrap();
    // Tests run in parallel and compact tables of the same names: each needs its own
    // scratch space, or one removes a table's scratch directory under another.
    let wd = std::env::temp_dir().join(format!("loki-compactor-s3-{}", prefix.replace('/', "-")));
    cfg.compactor.working_directory = wd.display().to_string();
    cfg
}

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
            eprintln!(
                "SKIPPED: LOKI_TEST_S3_ENDPOINT not set (start the local S3 server with .ci/s3.sh)"
            );
            None
        }
    }
}

fn fresh_prefix(what: &str) -> String {
    format!(
        "{what}{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// Uploads the golden multitenant-gzip store (chunk names decoded from the filesystem form).
fn upload_golden(rt: &tokio::runtime::Runtime, bucket: &Bucket) {
    let src = golden("multitenant-gzip").join("store");
    rt.block_on(async {
        for f in files(&src) {
            let key = if f.starts_with("index/") {
                f.clone()
            } else {
                KeyCodec::Filesystem.decode_chunk_key(&f).unwrap()
            };
            let data = std::fs::read(src.join(&f)).unwrap();
            bucket.put(&key, Bytes::from(data)).await.unwrap();
        }
    });
}

/// The lease relies on the server: a create-only PUT (`If-None-Match: *`) must succeed once
/// and then fail. Checked on the server itself, through the raw backend (no retries, no
/// layers of ours), together with `If-Match` (a PUT with a stale ETag must be refused), so
/// a server that ignores conditions fails here rather than making the lease tests vacuous.
#[test]
fn s3_server_enforces_conditional_writes() {
    use object_store::{
        ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
    };
    let Some((endpoint, bucket_name)) = env() else {
        return;
    };
    let cfg = s3_config(&endpoint, &bucket_name, &fresh_prefix("cond"));
    let bucket = Bucket::from_spec(cfg.period_store(0).unwrap(), BucketOptions::default()).unwrap();
    let raw = bucket.raw_store();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let create = || PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let p = object_store::path::Path::from("cond/object");
        let first = raw
            .put_opts(&p, PutPayload::from_static(b"one"), create())
            .await
            .expect("first If-None-Match: * PUT");
        match raw
            .put_opts(&p, PutPayload::from_static(b"two"), create())
            .await
        {
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => {}
            other => panic!("second If-None-Match: * PUT was not refused: {other:?}"),
        }
        let stale = UpdateVersion {
            e_tag: first.e_tag.clone(),
            version: None,
        };
        assert!(stale.e_tag.is_some(), "the server returned no ETag");
        let update = |v: UpdateVersion| PutOptions {
            mode: PutMode::Update(v),
            ..Default::default()
        };
        let second = raw
            .put_opts(&p, PutPayload::from_static(b"three"), update(stale.clone()))
            .await
            .expect("If-Match with the current ETag");
        assert_ne!(second.e_tag, first.e_tag);
        match raw
            .put_opts(&p, PutPayload::from_static(b"four"), update(stale))
            .await
        {
            Err(object_store::Error::Precondition { .. }) => {}
            other => panic!("PUT with a stale If-Match was not refused: {other:?}"),
        }
        let got = raw.get(&p).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"three");
    });
}

#[test]
fn compacts_golden_store_on_s3() {
    let Some((endpoint, bucket_name)) = env() else {
        return;
    };
    let cfg = s3_config(&endpoint, &bucket_name, &fresh_prefix("compactor"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = cfg.period_store(0).unwrap().clone();
    let bucket = Bucket::from_spec(&spec, BucketOptions::default()).unwrap();
    upload_golden(&rt, &bucket);
    let c = Compactor::new(cfg, Options::default()).unwrap();
    let report = rt.block_on(c.run_once()).unwrap();
    assert!(report.pass.failed.is_empty());
    same_as_loki_on_s3(&rt, &bucket);
    // Request counters per operation, with the backend's operation names.
    let m = c.render_metrics();
    for op in ["get", "upload", "delete", "iter"] {
        assert!(
            op_requests(&m, op) > 0.0,
            "no `{op}` requests counted:\n{m}"
        );
    }
}

/// Every input streamed to disk and every output through a scratch file and
/// `Bucket::put_file`: the same per-tenant indexes on S3.
#[test]
fn compacts_on_s3_with_every_output_through_a_scratch_file() {
    let Some((endpoint, bucket_name)) = env() else {
        return;
    };
    let cfg = s3_config(&endpoint, &bucket_name, &fresh_prefix("compactor-files"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = cfg.period_store(0).unwrap().clone();
    let bucket = Bucket::from_spec(&spec, BucketOptions::default()).unwrap();
    upload_golden(&rt, &bucket);
    let opts = Options {
        output_in_memory_max_bytes: 0,
        stream_downloads_above_bytes: 0,
        ..Default::default()
    };
    let c = Compactor::new(cfg, opts).unwrap();
    let report = rt.block_on(c.run_once()).unwrap();
    assert!(report.pass.failed.is_empty());
    assert!(!report.pass.tables.is_empty());
    same_as_loki_on_s3(&rt, &bucket);
}

/// `loki_objstore_bucket_operations_total` of `op`, summed over buckets.
fn op_requests(metrics: &str, op: &str) -> f64 {
    let label = format!("operation=\"{op}\"}}");
    metrics
        .lines()
        .filter(|l| l.starts_with("loki_objstore_bucket_operations_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn same_as_loki_on_s3(rt: &tokio::runtime::Runtime, bucket: &Bucket) {
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
}

/// The lease on S3: create-only epochs elect one holder among concurrent takers, first
/// on an empty chain, then on an expired one.
#[test]
fn lease_on_s3_has_one_holder() {
    use loki_compactor::lease::{Lease, LeaseState, LEASE_PREFIX};
    let Some((endpoint, bucket_name)) = env() else {
        return;
    };
    let cfg = s3_config(&endpoint, &bucket_name, &fresh_prefix("lease"));
    let bucket = Bucket::from_spec(cfg.period_store(0).unwrap(), BucketOptions::default()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock = loki_compactor::Clock::fixed(1_000_000_000_000_000_000);
    let leases: Vec<Lease> = (0..4)
        .map(|i| {
            Lease::new(
                bucket.clone(),
                LEASE_PREFIX,
                &format!("i{i}"),
                10_000,
                clock.clone(),
            )
        })
        .collect();
    for round in 0..3 {
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

/// Two `loki-compactor` processes on one S3 bucket: the first takes the lease and compacts;
/// the second waits (and says so on `/ready` and in its metrics) and writes nothing; after
/// SIGTERM the first releases the lease and the second takes over.
#[test]
fn two_binaries_on_s3_only_one_acts() {
    let Some((endpoint, bucket_name)) = env() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let prefix = fresh_prefix("twobin");
    let yaml = s3_yaml(&endpoint, &bucket_name, &prefix).replace(
        "  working_directory: /tmp/unused-loki-compactor-s3\n",
        &format!(
            "  working_directory: {}\n  compaction_interval: 1s\nserver:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 3100\n",
            tmp.path().join("wd").display()
        ),
    );
    let cfg_path = tmp.path().join("loki.yaml");
    std::fs::write(&cfg_path, &yaml).unwrap();
    let cfg = LokiConfig::from_yaml(&yaml, &cfg_path, false).unwrap();
    let bucket = Bucket::from_spec(cfg.period_store(0).unwrap(), BucketOptions::default()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    upload_golden(&rt, &bucket);
    let (p1, p2) = (free_port(), free_port());
    let start = |port: u16, holder: &str| {
        std::process::Command::new(BIN)
            .arg(format!(
                "-config.file={}",
                with_port(&cfg_path, port).display()
            ))
            .args(["-lease.ttl-seconds=10", &format!("-lease.holder={holder}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut a = KillOnDrop(start(p1, "s3-a"));
    wait_for(p1, "/metrics", |m| {
        m.contains("loki_boltdb_shipper_compactor_running 1")
    });
    let mut b = KillOnDrop(start(p2, "s3-b"));
    let ready = wait_for(p2, "/ready", |b| b.contains("standby"));
    assert!(ready.contains("s3-a"), "{ready}");
    wait_for(p1, "/metrics", |m| {
        m.contains("loki_boltdb_shipper_compact_tables_operation_total{status=\"success\"}")
    });
    same_as_loki_on_s3(&rt, &bucket);
    // B did nothing: no pass, no write request of any kind.
    let m2 = get(p2, "/metrics").unwrap().1;
    assert!(m2.contains("loki_compactor_lease_waiting 1"), "{m2}");
    assert!(
        m2.contains("loki_boltdb_shipper_compactor_running 0"),
        "{m2}"
    );
    assert!(
        !m2.contains("loki_boltdb_shipper_compact_tables_operation_total{status"),
        "{m2}"
    );
    assert_eq!(op_requests(&m2, "delete"), 0.0, "{m2}");
    // Not even a lease write: a live lease held by A is only read.
    assert_eq!(op_requests(&m2, "upload"), 0.0, "{m2}");
    assert!(term(&mut a.0).success());
    wait_for(p2, "/metrics", |m| {
        m.contains("loki_boltdb_shipper_compactor_running 1")
    });
    assert!(term(&mut b.0).success());
}

/// Faults from the S3 server's side during a cycle on the local S3 server: throttling and
/// 5xx are retried; refused deletes of the multi-tenant uploads fail the cycle cleanly
/// (tenants done, uploads kept); once the fault is gone a later cycle finishes with
/// Loki's result.
#[test]
fn faults_on_s3_then_a_later_cycle_finishes() {
    use loki_bucket::{Fault, FaultInjector, FaultRule, Op, RetrySettings};
    let Some((endpoint, bucket_name)) = env() else {
        return;
    };
    let cfg = s3_config(&endpoint, &bucket_name, &fresh_prefix("faults"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = Bucket::from_spec(cfg.period_store(0).unwrap(), BucketOptions::default()).unwrap();
    upload_golden(&rt, &bucket);
    let faults = FaultInjector::new();
    faults.add(FaultRule::new(Fault::Throttled).on(&[Op::Get]).times(3));
    faults.add(FaultRule::new(Fault::Unavailable).on(&[Op::Put]).times(2));
    faults.add(
        FaultRule::new(Fault::PermissionDenied)
            .on(&[Op::Delete])
            .key_contains("-ingester-"),
    );
    let opts = Options {
        bucket: BucketOptions {
            retry: RetrySettings {
                max_retries: 3,
                min_backoff: std::time::Duration::from_millis(1),
                max_backoff: std::time::Duration::from_millis(5),
            },
            faults: Some(std::sync::Arc::clone(&faults)),
            ..Default::default()
        },
        ..Default::default()
    };
    let c = Compactor::new(cfg, opts).unwrap();
    assert!(rt.block_on(c.run_once()).is_err());
    let keys: Vec<String> = rt
        .block_on(bucket.list("index/"))
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(
        keys.iter().filter(|k| k.contains("-ingester-")).count(),
        3,
        "{keys:?}"
    );
    assert!(c
        .render_metrics()
        .contains("loki_compactor_runs_failed_total 1"));
    faults.clear();
    rt.block_on(c.run_once()).unwrap();
    same_as_loki_on_s3(&rt, &bucket);
    assert!(faults.injected() >= 5);
}
