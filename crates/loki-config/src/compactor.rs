//! `compactor:` with Loki's defaults for every key the compactor spec lists.
use crate::duration::Duration;
use serde::{Deserialize, Serialize};

/// `compactor.retention_backoff_config`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct BackoffConfig {
    /// First retry delay.
    pub min_period: Duration,
    /// Largest retry delay.
    pub max_period: Duration,
    /// Attempts before giving up.
    pub max_retries: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            min_period: Duration::from_millis(100),
            max_period: Duration::from_secs(10),
            max_retries: 10,
        }
    }
}

/// `compactor.worker_config`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct WorkerConfig {
    /// Concurrent job streams in worker mode.
    pub num_sub_workers: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { num_sub_workers: 4 }
    }
}

/// `compactor.jobs_config.deletion`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct DeletionJobsConfig {
    /// Prefix of deletion manifests in the delete-request store bucket.
    pub deletion_manifest_store_prefix: String,
    /// Chunks processed concurrently per job.
    pub chunk_processing_concurrency: u32,
    /// A job is failed after this.
    pub timeout: Duration,
    /// Retries per job.
    pub max_retries: u32,
}

impl Default for DeletionJobsConfig {
    fn default() -> Self {
        Self {
            deletion_manifest_store_prefix: "__deletion_manifest__/".into(),
            chunk_processing_concurrency: 3,
            timeout: Duration::from_secs(15 * 60),
            max_retries: 3,
        }
    }
}

/// `compactor.jobs_config`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct JobsConfig {
    /// Deletion jobs.
    pub deletion: DeletionJobsConfig,
}

/// `compactor.delete_request_store_db_type`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeleteRequestDbType {
    /// gzipped BoltDB (`delete_requests.gz`).
    #[default]
    Boltdb,
    /// gzipped SQLite (`delete_requests.sqlite.gz`).
    Sqlite,
}

impl std::fmt::Display for DeleteRequestDbType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Boltdb => "boltdb",
            Self::Sqlite => "sqlite",
        })
    }
}

impl DeleteRequestDbType {
    /// Object name under `<prefix>delete_requests/`.
    pub fn object_name(self) -> &'static str {
        match self {
            Self::Boltdb => "delete_requests.gz",
            Self::Sqlite => "delete_requests.sqlite.gz",
        }
    }
}

/// `compactor.horizontal_scaling_mode`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HorizontalScalingMode {
    /// Single compactor.
    #[default]
    Disabled,
    /// Main: builds jobs.
    Main,
    /// Worker: runs jobs.
    Worker,
}

/// `compactor:`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CompactorConfig {
    /// Scratch directory; empty means "derive from `common.path_prefix`" (see
    /// [`CompactorConfig::effective_working_directory`]).
    pub working_directory: String,
    /// Period of compaction runs.
    pub compaction_interval: Duration,
    /// Period of retention runs (0 = derived, see [`CompactorConfig::effective_apply_retention_interval`]).
    pub apply_retention_interval: Duration,
    /// Retention, sweeper and delete requests on/off.
    pub retention_enabled: bool,
    /// Minimum marker age before the sweeper deletes chunks.
    pub retention_delete_delay: Duration,
    /// Parallel chunk deletions per marker file.
    pub retention_delete_worker_count: u32,
    /// Time limit per index set per retention run (0 = none).
    pub retention_table_timeout: Duration,
    /// Sweeper retry policy.
    pub retention_backoff_config: BackoffConfig,
    /// Store name holding the delete-request DB.
    pub delete_request_store: String,
    /// Prefix of the delete-request DB inside that store.
    pub delete_request_store_key_prefix: String,
    /// DB type.
    pub delete_request_store_db_type: DeleteRequestDbType,
    /// Secondary DB type written alongside (migration aid); empty = none.
    pub backup_delete_request_store_db_type: String,
    /// Max delete-request shards per retention run.
    pub delete_batch_size: u32,
    /// Cancellation window of a delete request.
    pub delete_request_cancel_period: Duration,
    /// Max shard length of line-filter delete requests (0 = no split).
    pub delete_max_interval: Duration,
    /// Tables compacted concurrently.
    pub max_compaction_parallelism: u32,
    /// Concurrent per-tenant upload+delete operations per table.
    pub upload_parallelism: u32,
    /// Only the N newest tables (0 = all).
    pub tables_to_compact: u32,
    /// Skip the N newest tables.
    pub skip_latest_n_tables: u32,
    /// Horizontal scaling.
    pub horizontal_scaling_mode: HorizontalScalingMode,
    /// Worker settings.
    pub worker_config: WorkerConfig,
    /// Job settings.
    pub jobs_config: JobsConfig,
    /// If set, marker files live in the chunk bucket under this prefix.
    pub deletion_marker_object_store_prefix: String,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        Self {
            working_directory: String::new(),
            compaction_interval: Duration::from_secs(600),
            apply_retention_interval: Duration::ZERO,
            retention_enabled: false,
            retention_delete_delay: Duration::from_hours(2),
            retention_delete_worker_count: 150,
            retention_table_timeout: Duration::ZERO,
            retention_backoff_config: BackoffConfig::default(),
            delete_request_store: String::new(),
            delete_request_store_key_prefix: "index/".into(),
            delete_request_store_db_type: DeleteRequestDbType::Boltdb,
            backup_delete_request_store_db_type: String::new(),
            delete_batch_size: 70,
            delete_request_cancel_period: Duration::from_hours(24),
            delete_max_interval: Duration::from_hours(24),
            max_compaction_parallelism: 1,
            upload_parallelism: 10,
            tables_to_compact: 0,
            skip_latest_n_tables: 0,
            horizontal_scaling_mode: HorizontalScalingMode::Disabled,
            worker_config: WorkerConfig::default(),
            jobs_config: JobsConfig::default(),
            deletion_marker_object_store_prefix: String::new(),
        }
    }
}

impl CompactorConfig {
    /// Loki's rule: unset → `compaction_interval`; if it then equals `compaction_interval`,
    /// add `min(10m, interval/2)` so retention and compaction runs do not coincide.
    pub fn effective_apply_retention_interval(&self) -> Duration {
        let base = if self.apply_retention_interval.is_zero() {
            self.compaction_interval
        } else {
            self.apply_retention_interval
        };
        if base == self.compaction_interval {
            let half = base.as_std() / 2;
            let ten = std::time::Duration::from_secs(600);
            Duration::from(base.as_std().saturating_add(half.min(ten)))
        } else {
            base
        }
    }

    /// `working_directory`, or `<common.path_prefix>/compactor`, or `/var/loki/compactor`.
    pub fn effective_working_directory(&self, path_prefix: &str) -> String {
        if !self.working_directory.is_empty() {
            self.working_directory.clone()
        } else if !path_prefix.is_empty() {
            format!("{}/compactor", path_prefix.trim_end_matches('/'))
        } else {
            "/var/loki/compactor".into()
        }
    }

    /// Start-up rules of the compactor, as `(key below compactor., message)`.
    pub(crate) fn validate(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        if self.max_compaction_parallelism < 1 {
            errs.push((
                "max_compaction_parallelism".into(),
                "must be at least 1".into(),
            ));
        }
        if self.retention_enabled {
            if self.delete_request_store.is_empty() {
                errs.push((
                    "delete_request_store".into(),
                    "must be set when retention_enabled is true".into(),
                ));
            }
            let p = &self.delete_request_store_key_prefix;
            if p.is_empty() || !p.ends_with('/') || p.starts_with('/') || p.contains('\\') {
                errs.push((
                    "delete_request_store_key_prefix".into(),
                    format!("`{p}` must be non-empty, end with `/`, not start with `/` and contain no `\\`"),
                ));
            }
            let m = &self.deletion_marker_object_store_prefix;
            if !m.is_empty() && !m.ends_with('/') {
                errs.push((
                    "deletion_marker_object_store_prefix".into(),
                    format!("`{m}` must end with `/`"),
                ));
            }
        }
        if !self
            .jobs_config
            .deletion
            .deletion_manifest_store_prefix
            .ends_with('/')
        {
            errs.push((
                "jobs_config.deletion.deletion_manifest_store_prefix".into(),
                "must end with `/`".into(),
            ));
        }
        if self.worker_config.num_sub_workers == 0 {
            errs.push((
                "worker_config.num_sub_workers".into(),
                "must be greater than 0".into(),
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_interval_rule() {
        let mut c = CompactorConfig::default();
        assert_eq!(
            c.effective_apply_retention_interval(),
            Duration::from_secs(900)
        );
        c.compaction_interval = Duration::from_secs(60);
        assert_eq!(
            c.effective_apply_retention_interval(),
            Duration::from_secs(90)
        );
        c.compaction_interval = Duration::from_secs(10);
        assert_eq!(
            c.effective_apply_retention_interval(),
            Duration::from_secs(15)
        );
        c.compaction_interval = Duration::from_hours(1);
        assert_eq!(
            c.effective_apply_retention_interval(),
            Duration::from_secs(4200)
        );
        c.apply_retention_interval = Duration::from_hours(2);
        assert_eq!(
            c.effective_apply_retention_interval(),
            Duration::from_hours(2)
        );
    }

    #[test]
    fn working_directory_rule() {
        let c = CompactorConfig::default();
        assert_eq!(c.effective_working_directory(""), "/var/loki/compactor");
        assert_eq!(c.effective_working_directory("/loki/"), "/loki/compactor");
    }
}
