//! Building the delete-request API from the Loki config, for the binary.

use std::path::PathBuf;
use std::sync::Arc;

use loki_bucket::Bucket;
use loki_config::{DeleteRequestDbType, DeletionMode, LokiConfig, OverridesHandle};

use super::api::{ApiConfig, DeleteApi, ModeFn};
use super::store::{DeleteStore, StoreConfig, StoreError};
use crate::clock::Clock;
use crate::metrics::Metrics;

/// How often the pending-request gauges are refreshed.
const GAUGE_PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

/// `<working_directory>/deletion/delete_requests`, where Loki keeps its local copy.
pub fn local_dir(cfg: &LokiConfig) -> PathBuf {
    PathBuf::from(cfg.compactor_working_directory())
        .join("deletion")
        .join("delete_requests")
}

fn ms(d: loki_config::Duration) -> i64 {
    i64::try_from(d.as_std().as_millis()).unwrap_or(i64::MAX)
}

/// Opens the store in `bucket` and builds the API with the config's settings; per-tenant
/// `deletion_mode` follows runtime overrides. Starts the pending-gauge refresher.
pub async fn open_api(
    cfg: &LokiConfig,
    bucket: Bucket,
    metrics: Arc<Metrics>,
    clock: Clock,
    redaction_enabled: bool,
) -> Result<Arc<DeleteApi>, StoreError> {
    let mut dir = local_dir(cfg);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        // The local file is only a cache of the bucket object: any writable place will do.
        let tmp = std::env::temp_dir().join("loki-compactor-delete-requests");
        tracing::warn!(dir = %dir.display(), err = %e, fallback = %tmp.display(), "working directory not writable");
        dir = tmp;
    }
    let store = DeleteStore::open(
        bucket,
        StoreConfig {
            key_prefix: cfg.compactor.delete_request_store_key_prefix.clone(),
            local_dir: dir,
            querytime_propagation_ms: 3 * ms(cfg.storage.tsdb_shipper.resync_interval),
        },
        clock.clone(),
    )
    .await?;
    // With Loki's default `boltdb` type (or it as backup), keep Loki's BoltDB file current too,
    // so a Loki compactor can take over without losing requests.
    if cfg.compactor.delete_request_store_db_type == DeleteRequestDbType::Boltdb
        || cfg.compactor.backup_delete_request_store_db_type == "boltdb"
    {
        store.enable_boltdb_mirror().await?;
    }
    let mode: ModeFn = match cfg.overrides_watcher() {
        Ok(w) => {
            let h: Arc<OverridesHandle> = Arc::new(w.spawn(cfg.runtime_config.period.as_std()));
            Arc::new(move |t: &str| h.current().for_tenant(t).deletion_mode)
        }
        Err(e) => {
            tracing::warn!(err = %e, "runtime overrides unreadable; deletion_mode from limits_config only");
            let global: DeletionMode = cfg.limits.deletion_mode;
            Arc::new(move |_: &str| global)
        }
    };
    let api = Arc::new(DeleteApi::new(
        store,
        ApiConfig {
            auth_enabled: cfg.auth_enabled,
            no_auth_tenant: "fake".into(),
            cancel_period_ms: ms(cfg.compactor.delete_request_cancel_period),
            delete_max_interval_ms: ms(cfg.compactor.delete_max_interval),
            redaction_enabled,
        },
        mode,
        metrics,
        clock,
    ));
    let weak = Arc::downgrade(&api);
    tokio::spawn(async move {
        loop {
            match weak.upgrade() {
                Some(api) => api.update_pending_gauges().await,
                None => return,
            }
            tokio::time::sleep(GAUGE_PERIOD).await;
        }
    });
    Ok(api)
}
