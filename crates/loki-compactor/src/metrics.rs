//! The compactor's Prometheus metrics, with Loki's names, types and labels (spec §10.1),
//! rendered in the text exposition format. A tiny registry of our own: a few dozen
//! series do not need a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Buckets of `..._marker_table_processed_duration_seconds`.
pub const TABLE_DURATION_BUCKETS: &[f64] =
    &[1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 90.0, 360.0, 600.0, 1800.0];
/// Buckets of `..._sweeper_chunk_deleted_duration_seconds` (0.1·2ⁿ, n = 0…7).
pub const SWEEP_DURATION_BUCKETS: &[f64] = &[0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Histogram(&'static [f64]),
}

#[derive(Debug, Default, Clone)]
struct Hist {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug)]
struct Family {
    help: &'static str,
    kind: Kind,
    values: BTreeMap<String, f64>,
    hists: BTreeMap<String, Hist>,
}

/// Metric names used by the compactor.
pub mod names {
    /// Compaction passes by status.
    pub const COMPACT_TOTAL: &str = "loki_boltdb_shipper_compact_tables_operation_total";
    /// Duration of the last successful compaction pass.
    pub const COMPACT_DURATION: &str =
        "loki_boltdb_shipper_compact_tables_operation_duration_seconds";
    /// End of the last successful compaction pass.
    pub const COMPACT_LAST_SUCCESS: &str =
        "loki_boltdb_shipper_compact_tables_operation_last_successful_run_timestamp_seconds";
    /// 1 while this instance holds the lease.
    pub const RUNNING: &str = "loki_boltdb_shipper_compactor_running";
    /// Same gauge under the name the issue asks for.
    pub const RUNNING_SHORT: &str = "loki_compactor_running";
    /// Retention passes by status.
    pub const RETENTION_TOTAL: &str = "loki_compactor_apply_retention_operation_total";
    /// Duration of the last successful retention pass.
    pub const RETENTION_DURATION: &str =
        "loki_compactor_apply_retention_operation_duration_seconds";
    /// End of the last successful retention pass.
    pub const RETENTION_LAST_SUCCESS: &str =
        "loki_compactor_apply_retention_last_successful_run_timestamp_seconds";
    /// Per examined tenant index set.
    pub const MARKER_TABLE_PROCESSED: &str =
        "loki_boltdb_shipper_retention_marker_table_processed_total";
    /// Chunk ids written to markers.
    pub const MARKER_COUNT: &str = "loki_boltdb_shipper_retention_marker_count_total";
    /// Per examined index set.
    pub const MARKER_TABLE_DURATION: &str =
        "loki_boltdb_shipper_retention_marker_table_processed_duration_seconds";
    /// Per chunk deletion.
    pub const SWEEP_CHUNK_DURATION: &str =
        "loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds";
    /// Eligible marker files.
    pub const SWEEP_FILES_CURRENT: &str =
        "loki_boltdb_shipper_retention_sweeper_marker_files_current";
    /// Creation time of the marker file being processed.
    pub const SWEEP_PROCESSING_TIME: &str =
        "loki_boltdb_shipper_retention_sweeper_marker_file_processing_current_time";
    /// Fully swept marker files.
    pub const SWEEP_FILES_DELETED: &str =
        "loki_boltdb_shipper_retention_sweeper_marker_files_deleted_total";
    /// Chunks expired by ingestion time.
    pub const EXPIRED_BY_INGESTION: &str =
        "loki_compactor_retention_chunks_expired_by_ingestion_time_total";
    /// Retention passes whose delete processing failed, by `cause` (`error`/`timeout`).
    pub const DELETE_PROCESSING_FAILS: &str = "loki_compactor_delete_processing_fails_total";
    /// Full cycles completed (ours; the seed's alert uses it).
    pub const RUNS_COMPLETED: &str = "loki_compactor_runs_completed_total";
    /// Full cycles failed (ours).
    pub const RUNS_FAILED: &str = "loki_compactor_runs_failed_total";
    /// Consecutive failures per table (ours).
    pub const TABLE_FAILURES: &str = "loki_compactor_table_consecutive_failures";
    /// Tables skipped because of a no-compact marker (ours).
    pub const TABLE_SKIPPED: &str = "loki_compactor_tables_skipped_no_compact";
    /// Delete request shards marked processed.
    pub const DELETE_REQUESTS_PROCESSED: &str = "loki_compactor_delete_requests_processed_total";
    /// Chunks selected by delete requests.
    pub const DELETE_CHUNKS_SELECTED: &str = "loki_compactor_delete_requests_chunks_selected_total";
    /// Lines removed by chunk rewrites (Loki's name has no `_total`).
    pub const DELETED_LINES: &str = "loki_compactor_deleted_lines";
    /// Loading the pending requests at the start of a retention pass, by status.
    pub const LOAD_PENDING_ATTEMPTS: &str = "loki_compactor_load_pending_requests_attempts_total";
    /// Chunks selected by a request that were missing or corrupt (ours).
    pub const DELETE_MISSING_CHUNKS: &str = "loki_compactor_deletion_missing_chunks_total";
    /// Lines redacted by redact requests (ours).
    pub const REDACTED_LINES: &str = "loki_compactor_redacted_lines_total";
    /// 1 while another instance holds the lease and we wait (ours).
    pub const LEASE_WAITING: &str = "loki_compactor_lease_waiting";
}

/// Registry of the compactor's metrics.
#[derive(Debug)]
pub struct Metrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn label_string(labels: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(s, "{k}=\"{v}\"");
    }
    s
}

impl Metrics {
    /// A registry with the always-present series registered (so alerts see 0, not absent).
    pub fn new() -> Self {
        use names::*;
        let m = Metrics {
            families: Mutex::new(BTreeMap::new()),
        };
        let defs: &[(&'static str, &'static str, Kind)] = &[
            (
                COMPACT_TOTAL,
                "Total number of tables compaction done by status",
                Kind::Counter,
            ),
            (
                COMPACT_DURATION,
                "Time (in seconds) spent in compacting all the tables",
                Kind::Gauge,
            ),
            (
                COMPACT_LAST_SUCCESS,
                "Unix timestamp of the last successful compaction run",
                Kind::Gauge,
            ),
            (
                RUNNING,
                "Value will be 1 if compactor is currently running on this instance",
                Kind::Gauge,
            ),
            (
                RUNNING_SHORT,
                "1 while this instance holds the compactor lease",
                Kind::Gauge,
            ),
            (
                RETENTION_TOTAL,
                "Total number of attempts done to apply retention with status",
                Kind::Counter,
            ),
            (
                RETENTION_DURATION,
                "Time (in seconds) spent in applying retention",
                Kind::Gauge,
            ),
            (
                RETENTION_LAST_SUCCESS,
                "Unix timestamp of the last successful retention run",
                Kind::Gauge,
            ),
            (
                MARKER_TABLE_PROCESSED,
                "Total amount of table processed for each user per action",
                Kind::Counter,
            ),
            (
                MARKER_COUNT,
                "Total count of markers created per table",
                Kind::Counter,
            ),
            (
                MARKER_TABLE_DURATION,
                "Time (in seconds) spent in marking table for chunks to delete",
                Kind::Histogram(TABLE_DURATION_BUCKETS),
            ),
            (
                SWEEP_CHUNK_DURATION,
                "Time (in seconds) spent in deleting chunk",
                Kind::Histogram(SWEEP_DURATION_BUCKETS),
            ),
            (
                SWEEP_FILES_CURRENT,
                "The current total of marker files valid for deletion",
                Kind::Gauge,
            ),
            (
                SWEEP_PROCESSING_TIME,
                "The current time of creation of the marker file being processed",
                Kind::Gauge,
            ),
            (
                SWEEP_FILES_DELETED,
                "The total of marker files deleted after being fully processed",
                Kind::Counter,
            ),
            (
                EXPIRED_BY_INGESTION,
                "Chunks expired by their ingestion time",
                Kind::Counter,
            ),
            (
                DELETE_PROCESSING_FAILS,
                "Number of times the delete phase of compaction has failed",
                Kind::Counter,
            ),
            (
                RUNS_COMPLETED,
                "Full compactor cycles completed successfully",
                Kind::Counter,
            ),
            (
                RUNS_FAILED,
                "Full compactor cycles that failed",
                Kind::Counter,
            ),
            (
                TABLE_FAILURES,
                "Consecutive failed compactions per table",
                Kind::Gauge,
            ),
            (
                TABLE_SKIPPED,
                "Tables skipped because a no-compact marker is present",
                Kind::Gauge,
            ),
            (
                LEASE_WAITING,
                "1 while another instance holds the compactor lease",
                Kind::Gauge,
            ),
            (
                DELETE_REQUESTS_PROCESSED,
                "Delete request shards marked processed, per tenant",
                Kind::Counter,
            ),
            (
                DELETE_CHUNKS_SELECTED,
                "Chunks selected by delete requests for removal or rewrite, per tenant",
                Kind::Counter,
            ),
            (
                DELETED_LINES,
                "Lines removed from rewritten chunks, per tenant",
                Kind::Counter,
            ),
            (
                LOAD_PENDING_ATTEMPTS,
                "Loads of pending delete requests at the start of a retention pass, by status",
                Kind::Counter,
            ),
            (
                DELETE_MISSING_CHUNKS,
                "Chunks selected by a delete request that were missing or unreadable and were skipped",
                Kind::Counter,
            ),
            (
                REDACTED_LINES,
                "Lines redacted by redact requests per user",
                Kind::Counter,
            ),
        ];
        {
            let mut f = m.families.lock().unwrap_or_else(|e| e.into_inner());
            for &(name, help, kind) in defs {
                f.insert(
                    name,
                    Family {
                        help,
                        kind,
                        values: BTreeMap::new(),
                        hists: BTreeMap::new(),
                    },
                );
            }
        }
        for n in [
            COMPACT_DURATION,
            COMPACT_LAST_SUCCESS,
            RUNNING,
            RUNNING_SHORT,
            RETENTION_DURATION,
            RETENTION_LAST_SUCCESS,
            EXPIRED_BY_INGESTION,
            RUNS_COMPLETED,
            RUNS_FAILED,
            LEASE_WAITING,
        ] {
            m.add(n, &[], 0.0);
        }
        m
    }

    fn with<R>(&self, name: &'static str, f: impl FnOnce(&mut Family) -> R) -> Option<R> {
        let mut fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        fams.get_mut(name).map(f)
    }

    /// Adds `v` to a counter (or gauge) series.
    pub fn add(&self, name: &'static str, labels: &[(&str, &str)], v: f64) {
        let key = label_string(labels);
        self.with(name, |f| *f.values.entry(key).or_insert(0.0) += v);
    }

    /// Increments a counter series.
    pub fn inc(&self, name: &'static str, labels: &[(&str, &str)]) {
        self.add(name, labels, 1.0);
    }

    /// Sets a gauge series.
    pub fn set(&self, name: &'static str, labels: &[(&str, &str)], v: f64) {
        let key = label_string(labels);
        self.with(name, |f| {
            f.values.insert(key, v);
        });
    }

    /// Observes a histogram value.
    pub fn observe(&self, name: &'static str, labels: &[(&str, &str)], v: f64) {
        let key = label_string(labels);
        self.with(name, |f| {
            if let Kind::Histogram(bounds) = f.kind {
                let h = f.hists.entry(key).or_insert_with(|| Hist {
                    counts: vec![0; bounds.len()],
                    ..Hist::default()
                });
                for (i, b) in bounds.iter().enumerate() {
                    if v <= *b {
                        h.counts[i] += 1;
                    }
                }
                h.sum += v;
                h.count += 1;
            }
        });
    }

    /// Registers a counter (`counter = true`) or gauge family defined outside this module
    /// (the delete-request API's); a family already registered is kept.
    pub fn register(&self, name: &'static str, help: &'static str, counter: bool) {
        let mut f = self.families.lock().unwrap_or_else(|e| e.into_inner());
        f.entry(name).or_insert(Family {
            help,
            kind: if counter { Kind::Counter } else { Kind::Gauge },
            values: BTreeMap::new(),
            hists: BTreeMap::new(),
        });
    }

    /// Current value of a series (tests and `/ready`).
    pub fn get(&self, name: &'static str, labels: &[(&str, &str)]) -> f64 {
        let key = label_string(labels);
        self.with(name, |f| {
            f.values
                .get(&key)
                .copied()
                .or_else(|| f.hists.get(&key).map(|h| h.count as f64))
                .unwrap_or(0.0)
        })
        .unwrap_or(0.0)
    }

    /// Prometheus text exposition of every family.
    pub fn render(&self) -> String {
        let fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (name, f) in fams.iter() {
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram(_) => "histogram",
            };
            if f.values.is_empty() && f.hists.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {name} {}", f.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (l, v) in &f.values {
                if l.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{l}}} {v}");
                }
            }
            if let Kind::Histogram(bounds) = f.kind {
                for (l, h) in &f.hists {
                    let sep = if l.is_empty() { "" } else { "," };
                    for (b, c) in bounds.iter().zip(&h.counts) {
                        let _ = writeln!(out, "{name}_bucket{{{l}{sep}le=\"{b}\"}} {c}");
                    }
                    let _ = writeln!(out, "{name}_bucket{{{l}{sep}le=\"+Inf\"}} {}", h.count);
                    let wrap = |s: &str| {
                        if l.is_empty() {
                            s.to_string()
                        } else {
                            format!("{{{l}}}")
                        }
                    };
                    let _ = writeln!(out, "{name}_sum{} {}", wrap(""), h.sum);
                    let _ = writeln!(out, "{name}_count{} {}", wrap(""), h.count);
                }
            }
        }
        out
    }
}

/// Joins several text expositions of the same families (one per bucket) so that each
/// family appears once, with one HELP and TYPE line and all its samples together, as the
/// exposition format requires (a repeated TYPE line fails the whole scrape).
pub fn merge_families(parts: &[String]) -> String {
    // family name -> (header lines, samples), in first-seen order
    let mut order: Vec<String> = Vec::new();
    let mut fams: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for part in parts {
        let mut current = String::new();
        for line in part.lines() {
            let header = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "));
            if let Some(rest) = header {
                let name = rest.split(' ').next().unwrap_or("").to_owned();
                let f = fams.entry(name.clone()).or_insert_with(|| {
                    order.push(name.clone());
                    Default::default()
                });
                if !f.0.iter().any(|h| h == line) && f.0.len() < 2 {
                    f.0.push(line.to_owned());
                }
                current = name;
            } else if !line.is_empty() {
                let f = fams.entry(current.clone()).or_insert_with(|| {
                    order.push(current.clone());
                    Default::default()
                });
                f.1.push(line.to_owned());
            }
        }
    }
    let mut out = String::new();
    for name in order {
        let (h, samples) = &fams[&name];
        for l in h.iter().chain(samples) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_of_several_buckets_are_merged() {
        let a = "# HELP x_total X.\n# TYPE x_total counter\nx_total{bucket=\"a\"} 1\n# HELP y Y.\n# TYPE y gauge\ny{bucket=\"a\"} 2\n".to_owned();
        let b = a.replace("\"a\"", "\"b\"");
        let m = merge_families(&[a, b]);
        assert_eq!(
            m,
            "# HELP x_total X.\n# TYPE x_total counter\nx_total{bucket=\"a\"} 1\nx_total{bucket=\"b\"} 1\n# HELP y Y.\n# TYPE y gauge\ny{bucket=\"a\"} 2\ny{bucket=\"b\"} 2\n"
        );
    }

    #[test]
    fn renders_counters_gauges_histograms() {
        let m = Metrics::new();
        m.inc(names::COMPACT_TOTAL, &[("status", "success")]);
        m.observe(
            names::SWEEP_CHUNK_DURATION,
            &[("from", "s3_2024-01-01"), ("status", "success")],
            0.15,
        );
        let t = m.render();
        assert!(t.contains("# TYPE loki_boltdb_shipper_compact_tables_operation_total counter"));
        assert!(
            t.contains("loki_boltdb_shipper_compact_tables_operation_total{status=\"success\"} 1")
        );
        assert!(t.contains("loki_boltdb_shipper_compactor_running 0"));
        assert!(t.contains(
            "loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds_bucket{from=\"s3_2024-01-01\",status=\"success\",le=\"0.1\"} 0"
        ));
        assert!(t.contains(
            "loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds_bucket{from=\"s3_2024-01-01\",status=\"success\",le=\"0.2\"} 1"
        ));
        assert_eq!(m.get(names::COMPACT_TOTAL, &[("status", "success")]), 1.0);
    }
}
