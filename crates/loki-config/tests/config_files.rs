//! Loads the golden configs real Loki ran with, and hand-written configs for the other
//! shapes, from `testdata/config/`.
use loki_config::{
    ConfigError, Day, DeleteRequestDbType, DeletionMode, Duration, LoadOptions, LokiConfig,
    SchemaVersion, StorageShape, StoreBackend,
};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/config")
}

fn load(rel: &str) -> Result<LokiConfig, ConfigError> {
    LokiConfig::load(&LoadOptions::file(
        dir().join(rel).to_string_lossy().to_string(),
    ))
}

fn golden(name: &str) -> LokiConfig {
    load(&format!("golden/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_golden_config_parses_to_one_filesystem_tsdb_period() {
    let mut n = 0;
    for ds in std::fs::read_dir(dir().join("golden")).unwrap() {
        let ds = ds.unwrap().path();
        for f in std::fs::read_dir(&ds).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if !name.starts_with("loki") {
                continue;
            }
            n += 1;
            let cfg = LokiConfig::load(&LoadOptions::file(f.to_string_lossy().to_string()))
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert_eq!(cfg.schema.configs.len(), 1, "{name}");
            let p = &cfg.schema.configs[0];
            assert_eq!(p.from, Day::parse("2026-01-01").unwrap());
            assert!(p.is_tsdb());
            assert_eq!(p.schema, SchemaVersion::V13);
            assert_eq!(p.index.prefix, "index_");
            assert_eq!(p.index.path_prefix, "index/");
            assert_eq!(cfg.storage.shape, StorageShape::Thanos);
            let store = cfg.period_store(0).unwrap();
            assert!(store.is_filesystem());
            assert_eq!(
                store.backend,
                StoreBackend::Filesystem {
                    dir: "./bucket".into()
                }
            );
            assert_eq!(store.key_prefix, "");
            // Loki's own keys we do not model are tolerated and reported.
            for k in [
                "server",
                "ingester",
                "memberlist",
                "limits_config.ingestion_rate_mb",
                "common.ring",
            ] {
                assert!(
                    cfg.ignored_keys.iter().any(|i| i == k),
                    "{k} not in {:?}",
                    cfg.ignored_keys
                );
            }
            assert!(!cfg
                .ignored_keys
                .iter()
                .any(|i| i.starts_with("schema_config")
                    || i.starts_with("storage_config.object_store")));
            assert_eq!(cfg.common.path_prefix, "./data");
            assert_eq!(cfg.compactor_working_directory(), "./data/compactor");
        }
    }
    assert_eq!(n, 9, "golden configs copied into testdata/config/golden");
}

#[test]
fn golden_tables_match_the_golden_store_listing() {
    // basic-snappy's store holds tables index_20775 and index_20776 (2026-11-18/19).
    let cfg = golden("basic-snappy/loki.yaml");
    assert_eq!(
        cfg.schema
            .table_for_day(Day::parse("2026-11-18").unwrap())
            .unwrap(),
        "index_20775"
    );
    assert_eq!(
        cfg.schema
            .table_for_day(Day::parse("2026-11-19").unwrap())
            .unwrap(),
        "index_20776"
    );
    assert!(cfg.schema.parse_table("index_20775").is_some());
    assert!(cfg.schema.parse_table("delete_requests").is_none());
    // Before the first period there is no table.
    assert!(cfg
        .schema
        .table_for_day(Day::parse("2025-12-31").unwrap())
        .is_none());
    assert!(cfg.schema.parse_table("index_20000").is_none());
    assert!(!cfg.auth_enabled);
    assert_eq!(cfg.compactor.compaction_interval, Duration::from_secs(3600));
    assert!(!cfg.compactor.retention_enabled);
}

#[test]
fn golden_delete_config_compactor_keys_and_defaults() {
    let cfg = golden("delete-request/loki-delete.yaml");
    let c = &cfg.compactor;
    assert!(cfg.auth_enabled);
    assert!(c.retention_enabled);
    assert_eq!(c.compaction_interval, Duration::from_secs(10));
    assert_eq!(
        c.effective_apply_retention_interval(),
        Duration::from_secs(15)
    );
    assert_eq!(c.retention_delete_delay, Duration::from_secs(30));
    assert_eq!(c.retention_delete_worker_count, 10);
    assert_eq!(c.delete_request_cancel_period, Duration::from_secs(10));
    // Unset keys carry Loki's defaults.
    assert_eq!(c.delete_request_store_key_prefix, "index/");
    assert_eq!(c.delete_request_store_db_type, DeleteRequestDbType::Boltdb);
    assert_eq!(c.delete_batch_size, 70);
    assert_eq!(c.delete_max_interval, Duration::from_hours(24));
    assert_eq!(c.upload_parallelism, 10);
    assert_eq!(
        c.retention_backoff_config.min_period,
        Duration::from_millis(100)
    );
    assert_eq!(
        c.retention_backoff_config.max_period,
        Duration::from_secs(10)
    );
    assert_eq!(c.retention_backoff_config.max_retries, 10);
    assert_eq!(
        c.jobs_config.deletion.deletion_manifest_store_prefix,
        "__deletion_manifest__/"
    );
    assert_eq!(c.jobs_config.deletion.timeout, Duration::from_secs(900));
    assert_eq!(c.worker_config.num_sub_workers, 4);
    assert!(cfg.delete_request_store().unwrap().is_filesystem());
    assert_eq!(cfg.limits.deletion_mode, DeletionMode::FilterAndDelete);
    assert_eq!(cfg.limits.retention_period, Duration::ZERO);
}

#[test]
fn golden_retention_overrides_apply_per_tenant() {
    let cfg = golden("retention/loki-retention.yaml");
    assert_eq!(cfg.limits.retention_period, Duration::from_hours(72));
    assert_eq!(cfg.runtime_config.period, Duration::from_secs(10));
    let limits = cfg.tenant_limits().unwrap();
    // audit has no entry: global 72h.
    assert_eq!(
        limits
            .for_tenant("audit")
            .retention_period_for([("k8s_namespace_name", "kube-system")]),
        Duration::from_hours(72)
    );
    let gp = limits.for_tenant("game-platform");
    assert_eq!(gp.retention_period, Duration::from_hours(48));
    assert_eq!(
        gp.retention_period_for([("k8s_namespace_name", "kube-system")]),
        Duration::from_hours(24)
    );
    assert_eq!(
        gp.retention_period_for([("k8s_namespace_name", "games")]),
        Duration::from_hours(48)
    );
    assert_eq!(limits.overridden().count(), 1);
}

#[test]
fn legacy_shape_with_several_periods_and_named_store() {
    let cfg = load("handwritten/legacy-s3-multiperiod.yaml").unwrap();
    assert_eq!(cfg.storage.shape, StorageShape::Legacy);
    assert_eq!(cfg.schema.configs.len(), 3);
    let v: Vec<_> = cfg.schema.configs.iter().map(|p| p.schema).collect();
    assert_eq!(
        v,
        [SchemaVersion::V11, SchemaVersion::V12, SchemaVersion::V13]
    );
    // Period boundaries pick the table prefix.
    assert_eq!(
        cfg.schema
            .table_for_day(Day::parse("2023-05-31").unwrap())
            .unwrap(),
        format!("loki_index_{}", Day::parse("2023-05-31").unwrap().0)
    );
    assert_eq!(
        cfg.schema
            .table_for_day(Day::parse("2023-06-01").unwrap())
            .unwrap(),
        format!("index_{}", Day::parse("2023-06-01").unwrap().0)
    );
    assert_eq!(cfg.schema.configs[2].index.path_prefix, "idx/");
    let s3 = cfg.period_store(1).unwrap();
    match &s3.backend {
        StoreBackend::S3(s) => {
            assert_eq!(s.bucket, "loki-chunks-prod");
            assert_eq!(s.region, "us-east-2");
            assert_eq!(s.access_key_id, "AKIAEXAMPLE");
            assert_eq!(s.secret_access_key.expose(), "s3cr3t");
            // Never printed.
            assert!(!format!("{s:?}").contains("s3cr3t"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s3.key_prefix, "tenant-data/");
    assert_eq!(
        cfg.period_store(0).unwrap().backend,
        s3.backend,
        "aws and s3 name one store"
    );
    assert_eq!(
        cfg.period_store(2).unwrap().backend,
        StoreBackend::Filesystem {
            dir: "/mnt/archive".into()
        }
    );
    assert_eq!(
        cfg.compactor.effective_apply_retention_interval(),
        Duration::from_hours(1)
    );
    assert_eq!(cfg.compactor.retention_backoff_config.max_retries, 3);
    assert_eq!(
        cfg.compactor.retention_backoff_config.max_period,
        Duration::from_secs(10)
    );
    assert_eq!(cfg.compactor_working_directory(), "/var/loki/compactor");
    assert_eq!(cfg.common.compactor_grpc_address, "loki-backend:9095");
    assert_eq!(
        cfg.storage.tsdb_shipper.resync_interval,
        Duration::from_secs(60)
    );
    assert_eq!(cfg.limits.deletion_mode, DeletionMode::FilterOnly);
    assert_eq!(
        cfg.limits.retention_period_for([("namespace", "dev")]),
        Duration::from_hours(24)
    );
    assert_eq!(
        cfg.runtime_config.files,
        vec![PathBuf::from("/etc/loki/runtime.yaml")]
    );
    assert_eq!(cfg.runtime_config.period, Duration::from_secs(30));
}

#[test]
fn thanos_shape_with_env_expansion_prefix_and_named_gcs() {
    let path = dir().join("handwritten/thanos-s3-named.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let env = |k: &str| (k == "LOKI_BUCKET").then(|| "logs-prod".to_string());
    let cfg = LokiConfig::from_yaml_with_env(&text, &path, true, &env).unwrap();
    assert_eq!(cfg.storage.shape, StorageShape::Thanos);
    let s3 = cfg.period_store(0).unwrap();
    match &s3.backend {
        StoreBackend::S3(s) => {
            assert_eq!(s.bucket, "logs-prod");
            assert_eq!(
                s.endpoint, "s3.eu-central-1.amazonaws.com",
                "default of ${{S3_ENDPOINT:-…}}"
            );
            assert!(!s.force_path_style);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s3.key_prefix, "loki-prod/");
    let cold = cfg.period_store(1).unwrap();
    assert!(matches!(&cold.backend, StoreBackend::Gcs(g) if g.bucket == "loki-cold"));
    assert_eq!(cfg.schema.configs[1].schema, SchemaVersion::V14);
    assert_eq!(cfg.delete_request_store().unwrap().name, "cold");
    assert_eq!(
        cfg.compactor.delete_request_store_db_type,
        DeleteRequestDbType::Sqlite
    );
    assert_eq!(
        cfg.compactor.deletion_marker_object_store_prefix,
        "__markers__/"
    );
    // Without expansion the literal reference stays (and is still a valid string).
    let raw = LokiConfig::from_yaml(&text, &path, false).unwrap();
    assert!(
        matches!(&raw.period_store(0).unwrap().backend, StoreBackend::S3(s) if s.bucket == "${LOKI_BUCKET}")
    );
}

fn err_of(rel: &str) -> String {
    match load(rel) {
        Ok(_) => panic!("{rel} should not load"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_values_name_file_line_and_key() {
    let e = err_of("handwritten/bad-duration.yaml");
    assert!(e.contains("bad-duration.yaml:6:"), "{e}");
    assert!(e.contains("compactor.compaction_interval"), "{e}");
    assert!(e.contains("10 minutes"), "{e}");

    let e = err_of("handwritten/bad-index-period.yaml");
    assert!(e.contains("bad-index-period.yaml:12:"), "{e}");
    assert!(e.contains("schema_config.configs.0.index.period"), "{e}");
    assert!(e.contains("24h"), "{e}");

    let e = err_of("handwritten/bad-schema-version.yaml");
    assert!(e.contains(":7:"), "{e}");
    assert!(e.contains("v15"), "{e}");

    let e = err_of("handwritten/bad-retention-stream.yaml");
    assert!(e.contains("limits_config.retention_stream"), "{e}");
    assert!(e.contains(">= 24h"), "{e}");

    let e = err_of("handwritten/bad-deletion-mode.yaml");
    assert!(
        e.contains(":3:") && e.contains("limits_config.deletion_mode") && e.contains("purge"),
        "{e}"
    );

    let e = err_of("handwritten/bad-delete-request-store.yaml");
    assert!(e.contains("compactor.delete_request_store"), "{e}");
    assert!(
        e.contains(":5:"),
        "missing key: points at its parent block: {e}"
    );

    let e = err_of("handwritten/bad-unknown-store.yaml");
    assert!(e.contains(":7:") && e.contains("swift"), "{e}");

    let e = err_of("handwritten/does-not-exist.yaml");
    assert!(e.contains("does-not-exist.yaml"), "{e}");
}

#[test]
fn bad_override_file_names_line() {
    let f = dir().join("handwritten/overrides-bad.yaml");
    let w = loki_config::OverridesWatcher::load(vec![f], Default::default());
    let e = w.unwrap_err().to_string();
    assert!(e.contains("overrides-bad.yaml:6:"), "{e}");
    assert!(e.contains("namespace=prod"), "{e}");
}

#[test]
fn overrides_reload_when_the_file_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("runtime.yaml");
    std::fs::write(&f, "overrides:\n  a:\n    retention_period: 48h\n").unwrap();
    let global = loki_config::Limits {
        retention_period: Duration::from_hours(72),
        ..Default::default()
    };
    let mut w = loki_config::OverridesWatcher::load(vec![f.clone()], global).unwrap();
    assert_eq!(
        w.current().for_tenant("a").retention_period,
        Duration::from_hours(48)
    );
    assert_eq!(
        w.current().for_tenant("b").retention_period,
        Duration::from_hours(72)
    );
    assert!(!w.reload_if_changed().unwrap(), "unchanged file");
    std::fs::write(&f, "overrides:\n  b:\n    deletion_mode: disabled\n").unwrap();
    assert!(w.reload_if_changed().unwrap());
    assert_eq!(
        w.current().for_tenant("a").retention_period,
        Duration::from_hours(72)
    );
    assert_eq!(
        w.current().for_tenant("b").deletion_mode,
        DeletionMode::Disabled
    );
    assert_eq!(
        w.current().for_tenant("b").retention_period,
        Duration::from_hours(72),
        "inherits global"
    );
    // A broken file keeps the last good limits.
    std::fs::write(&f, "overrides:\n  b:\n    deletion_mode: nope\n").unwrap();
    assert!(w.reload_if_changed().is_err());
    assert_eq!(
        w.current().for_tenant("b").deletion_mode,
        DeletionMode::Disabled
    );

    // The background watcher picks a change up within a few periods.
    std::fs::write(&f, "overrides:\n  c:\n    retention_period: 1w\n").unwrap();
    let h = w.spawn(std::time::Duration::from_millis(20));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while h.current().for_tenant("c").retention_period != Duration::from_hours(168) {
        assert!(std::time::Instant::now() < deadline, "reload not seen");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn config_file_candidates_first_existing_wins() {
    let good = dir().join("golden/basic-snappy/loki.yaml");
    let opts = LoadOptions::file(format!("/nonexistent/loki.yaml,{}", good.display()));
    assert_eq!(opts.resolve_path().unwrap(), good);
    let e = LoadOptions::file("/nope/a.yaml,/nope/b.yaml")
        .resolve_path()
        .unwrap_err();
    assert!(e.to_string().contains("/nope/a.yaml,/nope/b.yaml"));
}

fn parse(yaml: &str) -> LokiConfig {
    LokiConfig::from_yaml(yaml, Path::new("inline.yaml"), false).unwrap_or_else(|e| panic!("{e}"))
}

const PERIOD: &str = "schema_config:\n  configs:\n    - from: 2024-01-01\n      store: tsdb\n      object_store: STORE\n      schema: v13\n      index: {prefix: index_, period: 24h}\n";

#[test]
fn common_storage_fills_in_for_both_shapes() {
    // Legacy: common.storage.filesystem.chunks_directory (what the Helm chart writes).
    let cfg = parse(&format!(
        "{}common:\n  path_prefix: /var/loki\n  storage:\n    filesystem:\n      chunks_directory: /var/loki/chunks\n",
        PERIOD.replace("STORE", "filesystem")
    ));
    assert_eq!(cfg.storage.shape, StorageShape::Legacy);
    assert_eq!(
        cfg.period_store(0).unwrap().backend,
        StoreBackend::Filesystem {
            dir: "/var/loki/chunks".into()
        }
    );

    // Legacy: common.storage.s3 with separate keys.
    let cfg = parse(&format!(
        "{}common:\n  storage:\n    s3:\n      bucketnames: chunks-a\n      endpoint: minio:9000\n      insecure: true\n      s3forcepathstyle: true\n      access_key_id: k\n      secret_access_key: s\n",
        PERIOD.replace("STORE", "s3")
    ));
    match &cfg.period_store(0).unwrap().backend {
        StoreBackend::S3(s) => {
            assert_eq!(
                (
                    s.bucket.as_str(),
                    s.endpoint.as_str(),
                    s.insecure,
                    s.force_path_style
                ),
                ("chunks-a", "minio:9000", true, true)
            );
        }
        other => panic!("{other:?}"),
    }

    // Thanos: common.storage.object_store with a named S3 store.
    let cfg = parse(&format!(
        "{}common:\n  storage:\n    object_store:\n      s3:\n        bucket_name: main\n        endpoint: http://127.0.0.1:9000\n      named_stores:\n        s3:\n          archive:\n            bucket_name: old\n",
        PERIOD.replace("STORE", "archive")
    ));
    assert_eq!(cfg.storage.shape, StorageShape::Thanos);
    assert!(
        matches!(&cfg.period_store(0).unwrap().backend, StoreBackend::S3(s) if s.bucket == "old")
    );
    assert!(
        matches!(&cfg.storage.store("aws").unwrap().backend, StoreBackend::S3(s) if s.bucket == "main" && s.force_path_style)
    );

    // Explicit use_thanos_objstore: false with an object_store block present → legacy wins.
    let cfg = parse(&format!(
        "{}storage_config:\n  use_thanos_objstore: false\n  object_store:\n    filesystem: {{dir: /thanos}}\n  filesystem:\n    directory: /legacy\n",
        PERIOD.replace("STORE", "filesystem")
    ));
    assert_eq!(
        cfg.period_store(0).unwrap().backend,
        StoreBackend::Filesystem {
            dir: "/legacy".into()
        }
    );
}

#[test]
fn invalid_storage_prefix_and_unsorted_periods_are_rejected() {
    let e = LokiConfig::from_yaml(
        "storage_config:\n  object_store:\n    storage_prefix: bad/prefix\n",
        Path::new("p.yaml"),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("p.yaml:3:") && e.contains("storage_prefix"),
        "{e}"
    );
    let two = format!("{PERIOD}    - from: 2023-01-01\n      store: tsdb\n      object_store: filesystem\n      schema: v13\n").replace("STORE", "filesystem");
    let e = LokiConfig::from_yaml(&two, Path::new("p.yaml"), false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("schema_config.configs.1.from") && e.contains("p.yaml:8:"),
        "{e}"
    );
}
