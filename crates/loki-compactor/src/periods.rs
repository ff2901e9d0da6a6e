//! The TSDB schema periods the compactor works on, each with its bucket.

use std::sync::Arc;

use loki_bucket::{Bucket, BucketOptions};
use loki_config::{LokiConfig, SchemaVersion, StoreSpec};
use loki_tsdb::FormatVersion;

use crate::error::{CompactorError, Result};

/// One TSDB schema period and where its index lives.
#[derive(Debug, Clone)]
pub struct Period {
    /// Position in `schema_config.configs`.
    pub index: usize,
    /// `<object_store>_<from YYYY-MM-DD>`: Loki's `from` label and local marker dir name.
    pub name: String,
    /// The bucket of the period's `object_store`.
    pub bucket: Bucket,
    /// Index path prefix, e.g. `index/`.
    pub path_prefix: String,
    /// Schema version (chunk key form).
    pub schema: SchemaVersion,
    /// TSDB format version written for this period.
    pub version: FormatVersion,
}

/// All TSDB periods of a config, sharing one [`Bucket`] per distinct store so request
/// metrics and concurrency limits are per store, not per period.
#[derive(Debug, Clone)]
pub struct Periods {
    /// Periods in schema order.
    pub periods: Vec<Period>,
    /// Distinct buckets with the spec they came from.
    pub buckets: Vec<(StoreSpec, Bucket)>,
}

impl Periods {
    /// Builds the periods of `cfg`; `opts` builds each bucket.
    pub fn from_config(cfg: &LokiConfig, opts: &BucketOptions) -> Result<Self> {
        let mut buckets: Vec<(StoreSpec, Bucket)> = Vec::new();
        let mut periods = Vec::new();
        for (i, p) in cfg.schema.configs.iter().enumerate() {
            if !p.is_tsdb() {
                tracing::warn!(period = i, store = %p.store, "skipping non-TSDB schema period");
                continue;
            }
            let spec = cfg.period_store(i).ok_or_else(|| {
                CompactorError::Config(format!(
                    "schema period {i}: object_store `{}` is not configured",
                    p.object_store
                ))
            })?;
            let bucket = match buckets.iter().find(|(s, _)| s == spec) {
                Some((_, b)) => b.clone(),
                None => {
                    let b = Bucket::from_spec(spec, opts.clone())?;
                    buckets.push((spec.clone(), b.clone()));
                    b
                }
            };
            let (y, m, d) = p.from.ymd();
            periods.push(Period {
                index: i,
                name: format!("{}_{y:04}-{m:02}-{d:02}", p.object_store),
                bucket,
                path_prefix: p.index.path_prefix.clone(),
                schema: p.schema,
                version: match p.schema.tsdb_format_version() {
                    4 => FormatVersion::V4,
                    3 => FormatVersion::V3,
                    _ => FormatVersion::V2,
                },
            });
        }
        if periods.is_empty() {
            return Err(CompactorError::Config(
                "no TSDB schema period: nothing to compact".into(),
            ));
        }
        Ok(Periods { periods, buckets })
    }

    /// The period with schema index `i`.
    pub fn by_index(&self, i: usize) -> Option<&Period> {
        self.periods.iter().find(|p| p.index == i)
    }

    /// Distinct buckets.
    pub fn distinct_buckets(&self) -> impl Iterator<Item = &Bucket> {
        self.buckets.iter().map(|(_, b)| b)
    }
}

/// Shared handle.
pub type SharedPeriods = Arc<Periods>;
