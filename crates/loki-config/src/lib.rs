//! The parts of Grafana Loki's YAML configuration that storage, compaction and retention
//! depend on, read from the same `loki.yaml` operators already run Loki with.
//!
//! * `schema_config` periods and the daily index tables they name ([`SchemaConfig`]);
//! * `storage_config` / `common.storage` in both shapes (thanos `object_store:` and legacy
//!   `aws`/`gcs`/`azure`/`filesystem`, named stores), resolved to a [`StoreSpec`] per name;
//! * `compactor:` with Loki's defaults ([`CompactorConfig`]);
//! * `limits_config` and the runtime `overrides:` file, with per-tenant retention
//!   ([`Limits::retention_period_for`], [`OverridesWatcher`]);
//! * `-config.file` / `--config.file` and `-config.expand-env` ([`LoadOptions`]);
//! * durations (`744h`, `30d`, `1w`) and sizes (`1.5MB`).
//!
//! Keys this crate does not use are ignored (logged at debug level and listed in
//! [`LokiConfig::ignored_keys`]); invalid values are errors naming file, line and key.
//!
//! ```
//! use loki_config::{LokiConfig, Duration};
//! use std::path::Path;
//!
//! let yaml = r#"
//! schema_config:
//!   configs:
//!     - from: "2024-01-01"
//!       store: tsdb
//!       object_store: s3
//!       schema: v13
//!       index: { prefix: index_, period: 24h }
//! storage_config:
//!   aws:
//!     s3: s3://eu-west-1/loki-chunks
//! limits_config:
//!   retention_period: 30d
//! server: { http_listen_port: 3100 }   # not ours: ignored
//! "#;
//! let cfg = LokiConfig::from_yaml(yaml, Path::new("loki.yaml"), false)?;
//! let day = loki_config::Day::parse("2024-01-15").unwrap();
//! assert_eq!(cfg.schema.table_for_day(day).as_deref(), Some("index_19737"));
//! assert!(matches!(&cfg.period_store(0).unwrap().backend,
//!     loki_config::StoreBackend::S3(s) if s.bucket == "loki-chunks"));
//! assert_eq!(cfg.limits.retention_period, Duration::from_hours(720));
//! assert_eq!(cfg.compactor.compaction_interval, Duration::from_secs(600));
//! # Ok::<(), loki_config::ConfigError>(())
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod compactor;
mod config;
mod duration;
mod env;
mod error;
mod flags;
mod limits;
mod locate;
mod overrides;
mod schema;
mod secret;
mod selector;
mod size;
mod storage;

pub use compactor::{
    BackoffConfig, CompactorConfig, DeleteRequestDbType, DeletionJobsConfig, HorizontalScalingMode,
    JobsConfig, WorkerConfig,
};
pub use config::{CommonConfig, LokiConfig, RuntimeConfigSettings};
pub use duration::Duration;
pub use error::{ConfigError, Result};
pub use flags::{normalize_loki_flags, LoadOptions};
pub use limits::{DeletionMode, Limits, StreamRetention};
pub use overrides::{OverridesHandle, OverridesWatcher, TenantLimits};
pub use schema::{Day, IndexConfig, PeriodConfig, SchemaConfig, SchemaVersion};
pub use secret::Secret;
pub use selector::{MatchOp, Matcher, Selector};
pub use size::ByteSize;
pub use storage::{
    AzureSettings, GcsSettings, S3Settings, StorageConfig, StorageShape, StoreBackend, StoreSpec,
    TsdbShipperConfig,
};
