//! The Loki config the Helm chart in `deploy/` renders (committed copy in `testdata/deploy/`,
//! kept in sync by `.ci/deploy-checks.sh`) parses with our loader, and says what the chart
//! promises: one S3 TSDB v13 period, loki-compactor's address for the queriers, retention
//! on with the 2h delete delay, 30 days by default and 90 days for the audit tenant.
use loki_config::{DeletionMode, Duration, LoadOptions, LokiConfig, SchemaVersion, StoreBackend};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/deploy")
}

/// The chart mounts both files at /etc/loki/; point the runtime config at the copy here.
fn load() -> LokiConfig {
    let text = std::fs::read_to_string(dir().join("loki-config.yaml")).unwrap();
    assert!(text.contains("file: /etc/loki/overrides.yaml"));
    let overrides = dir().join("overrides.yaml");
    let text = text.replace(
        "file: /etc/loki/overrides.yaml",
        &format!("file: {}", overrides.display()),
    );
    LokiConfig::from_yaml(&text, &dir().join("loki-config.yaml"), false)
        .unwrap_or_else(|e| panic!("rendered deploy config: {e}"))
}

#[test]
fn rendered_config_loads_from_the_mount_path_shape() {
    // As loki-compactor loads it: -config.file (the overrides path is absolute and only
    // exists in the pod, so limits beyond the defaults are checked in the next tests).
    let cfg = LokiConfig::load(&LoadOptions::file(
        dir().join("loki-config.yaml").to_string_lossy().to_string(),
    ))
    .unwrap();
    assert!(cfg.auth_enabled);
    assert_eq!(
        cfg.runtime_config.files,
        vec![PathBuf::from("/etc/loki/overrides.yaml")]
    );
}

#[test]
fn storage_is_one_s3_tsdb_v13_period() {
    let cfg = load();
    assert_eq!(cfg.schema.configs.len(), 1);
    let p = &cfg.schema.configs[0];
    assert!(p.is_tsdb());
    assert_eq!(p.schema, SchemaVersion::V13);
    assert_eq!(p.index.prefix, "index_");
    let store = cfg.period_store(0).expect("period store");
    match &store.backend {
        StoreBackend::S3(s) => {
            assert_eq!(s.bucket, "game-platform-loki-chunks");
            assert_eq!(s.region, "us-east-1");
            // IRSA: no static keys in the config.
            assert!(s.access_key_id.is_empty());
            assert!(!s.insecure);
        }
        other => panic!("expected S3, got {other:?}"),
    }
    // Delete requests live in the same bucket (compactor.delete_request_store: s3).
    let del = cfg.delete_request_store().expect("delete request store");
    assert!(matches!(&del.backend, StoreBackend::S3(s) if s.bucket == "game-platform-loki-chunks"));
}

#[test]
fn queriers_reach_loki_compactor_over_http() {
    let cfg = load();
    assert_eq!(
        cfg.common.compactor_address,
        "http://loki-compactor.loki.svc.cluster.local:3100"
    );
    // Must be empty: Loki prefers the gRPC address when it is set.
    assert_eq!(cfg.common.compactor_grpc_address, "");
}

#[test]
fn retention_30_days_and_audit_90_days_after_the_delete_delay() {
    let cfg = load();
    assert!(cfg.compactor.retention_enabled);
    assert_eq!(
        cfg.compactor.retention_delete_delay,
        Duration::from_hours(2)
    );
    assert_eq!(cfg.compactor.compaction_interval, Duration::from_secs(600));
    assert_eq!(cfg.compactor.working_directory, "/var/loki/compactor");
    assert_eq!(cfg.limits.retention_period, Duration::from_hours(30 * 24));
    assert_eq!(cfg.limits.deletion_mode, DeletionMode::FilterAndDelete);

    let tenants = cfg.tenant_limits().unwrap();
    let labels = [
        ("k8s_namespace_name", "game-servers"),
        ("k8s_labels_app", "game-api"),
    ];
    for (tenant, days) in [
        ("game-platform", 30),
        ("audit", 90),
        ("some-new-tenant", 30),
    ] {
        assert_eq!(
            tenants.for_tenant(tenant).retention_period_for(labels),
            Duration::from_hours(days * 24),
            "{tenant}"
        );
    }
    assert_eq!(
        tenants.for_tenant("audit").deletion_mode,
        DeletionMode::Disabled
    );

    // deploy/aws/lifecycle-chunks.json expires tenant chunks after 33 and 93 days: strictly
    // after retention + delete delay (the wiring test checks the JSON itself).
    let delay = cfg.compactor.retention_delete_delay;
    for (tenant, lifecycle_days) in [("game-platform", 33u64), ("audit", 93)] {
        let keep = tenants.for_tenant(tenant).retention_period_for(labels);
        assert!(
            Duration::from_hours(lifecycle_days * 24)
                > Duration::from_secs(keep.as_std().as_secs() + delay.as_std().as_secs()),
            "{tenant}"
        );
    }
}
