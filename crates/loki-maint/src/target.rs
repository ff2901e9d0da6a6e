//! What a maintenance run works on: the TSDB schema periods of a store (bucket, index
//! prefix, table naming, day range), each distinct bucket with its layout, and where the
//! compactor's markers live. Built from a Loki config or from a bare store URL.
use std::path::PathBuf;
use std::time::Duration;

use loki_bucket::compactor_state::MARKERS;
use loki_bucket::{Bucket, BucketOptions, Layout};
use loki_compactor::markers::{MarkerFormat, MarkerStore};
use loki_compactor::periods::Periods;
use loki_config::{LokiConfig, SchemaVersion, StoreSpec};
use loki_tsdb::FormatVersion;

use crate::error::Result;

/// One TSDB schema period.
#[derive(Debug, Clone)]
pub struct MaintPeriod {
    /// `<object_store>_<from>` (Loki's name for the period's marker directory).
    pub name: String,
    /// The bucket holding the period's index and chunks.
    pub bucket: Bucket,
    /// Index path prefix, e.g. `index/`.
    pub path_prefix: String,
    /// Table name prefix, e.g. `index_`.
    pub table_prefix: String,
    /// Chunk key form.
    pub schema: SchemaVersion,
    /// TSDB format version Loki writes for this schema.
    pub version: FormatVersion,
    /// First day (table number) of the period.
    pub from_day: i64,
    /// First day after the period.
    pub to_day: i64,
}

impl MaintPeriod {
    /// The day of `table` if this period produces that name.
    pub fn table_day(&self, table: &str) -> Option<i64> {
        let day: i64 = table
            .strip_prefix(self.table_prefix.as_str())?
            .parse()
            .ok()?;
        (day >= self.from_day && day < self.to_day).then_some(day)
    }
}

/// A distinct bucket and its layout (for classifying listed keys).
#[derive(Debug, Clone)]
pub struct StoreBucket {
    /// The bucket.
    pub bucket: Bucket,
    /// What it was built from (equal backends allow server-side copies between them).
    pub spec: StoreSpec,
    /// Its layout.
    pub layout: Layout,
    /// Markers of this bucket.
    pub markers: MarkerStore,
}

/// Everything a verify or repair run works on.
#[derive(Debug, Clone)]
pub struct Target {
    /// TSDB periods in schema order.
    pub periods: Vec<MaintPeriod>,
    /// Distinct buckets.
    pub buckets: Vec<StoreBucket>,
    /// `retention_delete_delay`: markers older than this should have been swept.
    pub retention_delete_delay: Duration,
}

fn version_of(schema: SchemaVersion) -> FormatVersion {
    match schema.tsdb_format_version() {
        4 => FormatVersion::V4,
        3 => FormatVersion::V3,
        _ => FormatVersion::V2,
    }
}

impl Target {
    /// The periods, buckets and marker locations of a Loki config.
    pub fn from_config(cfg: &LokiConfig, opts: &BucketOptions) -> Result<Target> {
        let ps = Periods::from_config(cfg, opts)?;
        let n = cfg.schema.configs.len();
        let periods: Vec<MaintPeriod> = ps
            .periods
            .iter()
            .map(|p| {
                let pc = &cfg.schema.configs[p.index];
                let mut path_prefix = p.path_prefix.clone();
                if !path_prefix.ends_with('/') {
                    path_prefix.push('/');
                }
                MaintPeriod {
                    name: p.name.clone(),
                    bucket: p.bucket.clone(),
                    path_prefix,
                    table_prefix: pc.index.prefix.clone(),
                    schema: p.schema,
                    version: p.version,
                    from_day: pc.from.0,
                    to_day: if p.index + 1 < n {
                        cfg.schema.configs[p.index + 1].from.0
                    } else {
                        i64::MAX
                    },
                }
            })
            .collect();
        let wd = PathBuf::from(cfg.compactor_working_directory());
        let loki_prefix = &cfg.compactor.deletion_marker_object_store_prefix;
        let buckets = ps
            .buckets
            .iter()
            .map(|(spec, bucket)| {
                let users: Vec<&MaintPeriod> = periods
                    .iter()
                    .filter(|p| p.bucket.name() == bucket.name())
                    .collect();
                // Every place a marker of this bucket can be: ours, Loki's bucket prefix,
                // Loki's per-period local directories.
                let mut read_prefixes = vec![MARKERS.to_owned()];
                if !loki_prefix.is_empty() {
                    read_prefixes.push(loki_prefix.clone());
                }
                let read_dirs = users
                    .iter()
                    .map(|p| wd.join("retention").join(&p.name).join("markers"))
                    .collect();
                StoreBucket {
                    bucket: bucket.clone(),
                    spec: spec.clone(),
                    layout: Layout::for_store(cfg, spec),
                    markers: marker_store(
                        bucket,
                        read_prefixes,
                        read_dirs,
                        users.first().map(|p| p.name.clone()).unwrap_or_default(),
                    ),
                }
            })
            .collect();
        Ok(Target {
            periods,
            buckets,
            retention_delete_delay: cfg.compactor.retention_delete_delay.into(),
        })
    }

    /// A bare store (`s3://…`, `file:///…`, a directory): one schema v13 period with its
    /// tables under `index/`, the table prefix taken from the listing (default `index_`).
    /// `marker_dirs` are local marker directories to check as well (Loki's default
    /// marker location is the compactor's working directory, which a URL does not name).
    pub async fn from_url(
        url: &str,
        endpoint: Option<&str>,
        opts: BucketOptions,
        marker_dirs: Vec<PathBuf>,
    ) -> Result<Target> {
        let spec = loki_bucket::spec_from_url(url, endpoint)?;
        let bucket = Bucket::from_spec(&spec, opts)?;
        let (dirs, _) = bucket.list_dir("index/").await?;
        let table_prefix = dirs
            .iter()
            .filter_map(|d| {
                let name = d.trim_end_matches('/').rsplit('/').next()?;
                let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
                (stem.len() < name.len()).then(|| stem.to_owned())
            })
            .next()
            .unwrap_or_else(|| "index_".into());
        let layout = Layout::new(bucket.codec());
        let period = MaintPeriod {
            name: "store".into(),
            bucket: bucket.clone(),
            path_prefix: "index/".into(),
            table_prefix,
            schema: SchemaVersion::V13,
            version: version_of(SchemaVersion::V13),
            from_day: i64::MIN,
            to_day: i64::MAX,
        };
        Ok(Target {
            periods: vec![period],
            buckets: vec![StoreBucket {
                markers: marker_store(
                    &bucket,
                    vec![MARKERS.to_owned(), "__markers__/".to_owned()],
                    marker_dirs,
                    "store".into(),
                ),
                bucket,
                spec,
                layout,
            }],
            retention_delete_delay: Duration::from_secs(2 * 3600),
        })
    }
}

fn marker_store(
    bucket: &Bucket,
    read_prefixes: Vec<String>,
    read_dirs: Vec<PathBuf>,
    from: String,
) -> MarkerStore {
    MarkerStore {
        bucket: bucket.clone(),
        // Maintenance never writes new markers; it only rewrites existing ones in place.
        format: MarkerFormat::Native,
        write_prefix: None,
        write_dir: None,
        read_prefixes,
        read_dirs,
        from,
    }
}
