//! The compactor's passes and loops: compaction (with retention when enabled), sweeping,
//! the no-compact marker for tables that keep failing, and the metrics of each run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use loki_bucket::BucketOptions;
use loki_config::{LokiConfig, OverridesWatcher, TenantLimits};

use crate::clock::Clock;
use crate::compact::{compact_table, TableJob, TableReport};
use crate::error::{CompactorError, Result};
use crate::markers::{MarkerFormat, MarkerStore, NATIVE_PREFIX};
use crate::metrics::{names, Metrics};
use crate::periods::Periods;
use crate::purge::{self, PurgeSource};
use crate::retention::{DryRunReport, Expiry};
use crate::sweeper::{sweep, SweepStats};
use crate::tables::list_tables;

/// Prefix of no-compact markers: `<prefix><table>` in the table's bucket. An operator
/// deletes the object to let the table be compacted again.
pub const NO_COMPACT_PREFIX: &str = loki_bucket::compactor_state::NO_COMPACT;

/// A table's no-compact marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoCompactMarker {
    /// Table name.
    pub table: String,
    /// Object key of the marker.
    pub key: String,
    /// Bucket it is in.
    pub bucket: String,
    /// Its text (the last error).
    pub reason: String,
}

/// Settings that are not in Loki's config.
#[derive(Debug, Clone)]
pub struct Options {
    /// Report only; write and delete nothing.
    pub dry_run: bool,
    /// Format of new markers.
    pub marker_format: MarkerFormat,
    /// Time source.
    pub clock: Clock,
    /// How buckets are built (retries, faults in tests).
    pub bucket: BucketOptions,
    /// Consecutive failures after which a table gets a no-compact marker (0 = never).
    pub no_compact_after: u32,
    /// Index objects of at least this size (compressed) are gunzipped into scratch files in
    /// the working directory and memory-mapped rather than decompressed on the heap
    /// (default 0: all of them, so a table's inputs never have to fit in memory).
    pub spill_above_bytes: usize,
    /// A tenant's new index is built in memory up to this size (raw); past it, it moves to
    /// a scratch file in the working directory, is gzipped file to file and uploaded in
    /// parts, so memory per tenant in flight stays at this however large the table.
    pub output_in_memory_max_bytes: usize,
    /// Index objects of at least this size (compressed, as listed) are downloaded as a
    /// stream into a scratch file instead of onto the heap (with spilling on).
    pub stream_downloads_above_bytes: u64,
    /// Most inputs (uploads and per-tenant files) merged at once for one tenant; a table
    /// with more is merged in up to this many groups first (each input the merge walks
    /// keeps ~64–300 KiB of its mapping resident).
    pub merge_fan_in: usize,
    /// Keep every expired chunk id in the pass report (`TableReport::expired[..].ids`).
    /// Off by default: a first retention pass can expire millions of chunks, and the
    /// markers already hold them.
    pub report_expired_ids: bool,
    /// Whether redact requests (our extension of delete requests) are applied.
    pub allow_redaction: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dry_run: false,
            marker_format: MarkerFormat::Native,
            clock: Clock::system(),
            bucket: BucketOptions::default(),
            no_compact_after: 3,
            spill_above_bytes: 0,
            output_in_memory_max_bytes: 8 << 20,
            stream_downloads_above_bytes: 4 << 20,
            allow_redaction: false,
            report_expired_ids: false,
            merge_fan_in: 64,
        }
    }
}

/// Result of one pass over all tables.
#[derive(Debug, Default, Clone)]
pub struct PassReport {
    /// Tables processed successfully, newest first.
    pub tables: Vec<(String, TableReport)>,
    /// Tables skipped because of a no-compact marker.
    pub skipped: Vec<String>,
    /// Tables that failed, with the error.
    pub failed: Vec<(String, String)>,
    /// What retention expired (dry runs included).
    pub dry_run: DryRunReport,
}

/// Result of a full cycle.
#[derive(Debug, Default, Clone)]
pub struct CycleReport {
    /// The compaction/retention pass.
    pub pass: PassReport,
    /// Sweeping, per marker store.
    pub sweeps: Vec<SweepStats>,
}

/// One compactor instance.
#[derive(Debug)]
pub struct Compactor {
    cfg: LokiConfig,
    periods: Periods,
    markers: Vec<MarkerStore>,
    metrics: Arc<Metrics>,
    overrides: Mutex<OverridesWatcher>,
    opts: Options,
    failures: Mutex<HashMap<String, u32>>,
    allowed: Arc<AtomicBool>,
    scratch: PathBuf,
    purge_source: Mutex<Option<Arc<dyn PurgeSource>>>,
}

impl Compactor {
    /// Builds a compactor for `cfg`.
    pub fn new(cfg: LokiConfig, opts: Options) -> Result<Self> {
        let periods = Periods::from_config(&cfg, &opts.bucket)?;
        let wd = PathBuf::from(cfg.compactor_working_directory());
        let loki_prefix = cfg.compactor.deletion_marker_object_store_prefix.clone();
        let mut markers = Vec::new();
        for (_, bucket) in &periods.buckets {
            let users: Vec<_> = periods
                .periods
                .iter()
                .filter(|p| p.bucket.name() == bucket.name())
                .collect();
            let from = users.first().map(|p| p.name.clone()).unwrap_or_default();
            let local: Vec<PathBuf> = users
                .iter()
                .map(|p| wd.join("retention").join(&p.name).join("markers"))
                .collect();
            let mut read_prefixes = vec![NATIVE_PREFIX.to_owned()];
            if !loki_prefix.is_empty() {
                read_prefixes.push(loki_prefix.clone());
            }
            let (write_prefix, write_dir) = match opts.marker_format {
                MarkerFormat::Native => (None, None),
                MarkerFormat::Loki if !loki_prefix.is_empty() => (Some(loki_prefix.clone()), None),
                MarkerFormat::Loki => (None, local.first().cloned()),
            };
            markers.push(MarkerStore {
                bucket: bucket.clone(),
                format: opts.marker_format,
                write_prefix,
                write_dir,
                read_prefixes,
                read_dirs: local,
                from,
            });
        }
        let overrides = cfg
            .overrides_watcher()
            .map_err(|e| CompactorError::Config(e.to_string()))?;
        Ok(Compactor {
            cfg,
            periods,
            markers,
            metrics: Arc::new(Metrics::new()),
            overrides: Mutex::new(overrides),
            opts,
            failures: Mutex::new(HashMap::new()),
            allowed: Arc::new(AtomicBool::new(true)),
            scratch: wd.join("scratch"),
            purge_source: Mutex::new(None),
        })
    }

    /// Where delete requests come from; without one, retention passes process none.
    pub fn set_purge_source(&self, source: Arc<dyn PurgeSource>) {
        *self.purge_source.lock().unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    fn purge_source(&self) -> Option<Arc<dyn PurgeSource>> {
        self.purge_source
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The config.
    pub fn config(&self) -> &LokiConfig {
        &self.cfg
    }

    /// The periods and their buckets.
    pub fn periods(&self) -> &Periods {
        &self.periods
    }

    /// Metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Marker stores, one per bucket.
    pub fn marker_stores(&self) -> &[MarkerStore] {
        &self.markers
    }

    /// Flag cleared when the lease is lost; writes stop once it is false.
    pub fn allowed(&self) -> &Arc<AtomicBool> {
        &self.allowed
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.opts.clock
    }

    /// Removes staging files (`<key>#<n>`) that an interrupted write left in filesystem
    /// stores, under the prefixes the compactor writes to (see [`crate::staging`]).
    pub fn clean_staging(&self) -> Vec<PathBuf> {
        let c = &self.cfg.compactor;
        let mut out = Vec::new();
        for (spec, bucket) in &self.periods.buckets {
            let loki_config::StoreBackend::Filesystem { dir } = &spec.backend else {
                continue;
            };
            let root = dir.join(spec.key_prefix.trim_matches('/'));
            let mut prefixes: Vec<String> = self
                .periods
                .periods
                .iter()
                .filter(|p| p.bucket.name() == bucket.name())
                .map(|p| p.path_prefix.clone())
                .collect();
            prefixes.push(loki_bucket::compactor_state::ROOT.into());
            if !c.deletion_marker_object_store_prefix.is_empty() {
                prefixes.push(c.deletion_marker_object_store_prefix.clone());
            }
            prefixes.push(format!(
                "{}delete_requests/",
                c.delete_request_store_key_prefix
            ));
            out.extend(crate::staging::remove_stale(
                &root,
                &prefixes,
                crate::staging::STAGING_MIN_AGE,
                std::time::SystemTime::now(),
                self.opts.dry_run,
            ));
        }
        out
    }

    /// Metrics text: ours plus every bucket's request counters.
    pub fn render_metrics(&self) -> String {
        let mut s = self.metrics.render();
        let buckets: Vec<String> = self
            .periods
            .distinct_buckets()
            .map(|b| b.metrics().render_prometheus())
            .collect();
        s.push_str(&crate::metrics::merge_families(&buckets));
        s
    }

    fn limits(&self) -> Arc<TenantLimits> {
        let mut w = self.overrides.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = w.reload_if_changed() {
            tracing::warn!(err = %e, "runtime overrides not reloaded; keeping the previous ones");
        }
        w.current()
    }

    /// One pass over every table; retention too when `retention` and `retention_enabled`.
    pub async fn pass(&self, retention: bool) -> Result<PassReport> {
        let started = Instant::now();
        let retention = retention && self.cfg.compactor.retention_enabled;
        let expiry = retention.then(|| {
            Expiry::new(self.opts.clock.now_ms(), self.limits())
                .with_table_timeout(self.cfg.compactor.retention_table_timeout.as_std())
        });
        if let Some(e) = &expiry {
            tracing::info!(
                "overall smallest retention cutoff timestamp {:.3}, default smallest retention cutoff timestamp {:.3}",
                e.overall_cutoff_ms() as f64 / 1000.0,
                e.default_cutoff_ms() as f64 / 1000.0
            );
        }
        let batch = self.load_purge_batch(expiry.as_ref()).await;
        let res = self.pass_inner(expiry.as_ref(), batch.as_ref()).await;
        let timed_out = expiry.as_ref().is_some_and(Expiry::timed_out);
        if timed_out {
            self.metrics
                .inc(names::DELETE_PROCESSING_FAILS, &[("cause", "timeout")]);
        }
        let ok = matches!(&res, Ok(r) if r.failed.is_empty());
        if let (Some(b), Some(src)) = (&batch, self.purge_source()) {
            // A timed-out pass left work undone: its batch stays pending (Loki resets it).
            let done = ok && !timed_out;
            if let Err(e) =
                purge::pass::finish(src.as_ref(), b, done, &self.metrics, self.opts.dry_run).await
            {
                tracing::error!(err = %e, "failed to mark delete requests as processed");
            }
        }
        let status = if ok { "success" } else { "failure" };
        let end = self.opts.clock.now_ms() as f64 / 1000.0;
        self.metrics
            .inc(names::COMPACT_TOTAL, &[("status", status)]);
        if ok {
            self.metrics.set(
                names::COMPACT_DURATION,
                &[],
                started.elapsed().as_secs_f64(),
            );
            self.metrics.set(names::COMPACT_LAST_SUCCESS, &[], end);
        }
        if retention {
            self.metrics
                .inc(names::RETENTION_TOTAL, &[("status", status)]);
            if ok {
                self.metrics.set(
                    names::RETENTION_DURATION,
                    &[],
                    started.elapsed().as_secs_f64(),
                );
                self.metrics.set(names::RETENTION_LAST_SUCCESS, &[], end);
            }
        }
        let r = res?;
        if let Some((t, e)) = r.failed.first() {
            tracing::error!("table-name" = %t, err = %e, "failed to run compaction");
            return Err(CompactorError::Task(format!(
                "{} table(s) failed, first {t}: {e}",
                r.failed.len()
            )));
        }
        Ok(r)
    }

    async fn load_purge_batch(&self, expiry: Option<&Expiry>) -> Option<purge::Batch> {
        let (e, src) = (expiry?, self.purge_source()?);
        let limits = self.limits();
        let sel = purge::batch::Selection {
            now_ms: e.now_ms,
            config: &self.cfg.compactor,
            limits: &limits,
            allow_redaction: self.opts.allow_redaction,
        };
        let progress = PathBuf::from(self.cfg.compactor_working_directory())
            .join("deletion")
            .join("purge_progress");
        purge::pass::load(
            src.as_ref(),
            sel,
            Some(progress),
            &self.metrics,
            self.opts.dry_run,
        )
        .await
    }

    async fn pass_inner(
        &self,
        expiry: Option<&Expiry>,
        batch: Option<&purge::Batch>,
    ) -> Result<PassReport> {
        let c = &self.cfg.compactor;
        let tables = list_tables(
            &self.periods,
            &self.cfg.schema,
            c.skip_latest_n_tables,
            c.tables_to_compact,
        )
        .await?;
        let outcomes: Vec<_> = futures::stream::iter(tables.iter().map(|t| async move {
            let Some(period) = self.periods.by_index(t.period) else {
                return (t.name.clone(), Ok(None));
            };
            // Lease lost or shutting down: tables not yet started are not started.
            if !self.allowed.load(Ordering::SeqCst) {
                return (t.name.clone(), Err(CompactorError::Task("writes stopped (lease lost or shutting down); table not started".into())));
            }
            let nc_key = format!("{NO_COMPACT_PREFIX}{}", t.name);
            match period.bucket.exists(&nc_key).await {
                Ok(true) => {
                    tracing::warn!("table-name" = %t.name, marker = %nc_key, "skipping table with a no-compact marker");
                    self.metrics.set(names::TABLE_SKIPPED, &[("table_name", &t.name)], 1.0);
                    return (t.name.clone(), Ok(None));
                }
                Ok(false) => {}
                Err(e) => return (t.name.clone(), Err(CompactorError::from(e))),
            }
            let markers = self.markers.iter().find(|m| m.bucket.name() == period.bucket.name());
            let job = TableJob {
                period,
                table: &t.name,
                day: t.day,
                expiry,
                markers,
                upload_parallelism: c.upload_parallelism.max(1) as usize,
                dry_run: self.opts.dry_run,
                allowed: &self.allowed,
                clock: &self.opts.clock,
                metrics: &self.metrics,
                spill: Some((self.scratch.as_path(), self.opts.spill_above_bytes)),
                output_in_memory_max: self.opts.output_in_memory_max_bytes,
                stream_downloads_above: self.opts.stream_downloads_above_bytes,
                purge: batch,
                report_expired_ids: self.opts.report_expired_ids,
                merge_fan_in: self.opts.merge_fan_in,
            };
            let r = compact_table(job).await;
            let _ = std::fs::remove_dir_all(self.scratch.join(&t.name));
            if let Err(e) = &r {
                self.table_failed(period, &t.name, e).await;
            } else {
                self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&t.name);
                self.metrics.set(names::TABLE_FAILURES, &[("table_name", &t.name)], 0.0);
            }
            (t.name.clone(), r.map(Some))
        }))
        .buffered(c.max_compaction_parallelism.max(1) as usize)
        .collect()
        .await;
        let mut report = PassReport::default();
        for (name, r) in outcomes {
            match r {
                Ok(Some(tr)) => {
                    for (tenant, exp) in &tr.expired {
                        report.dry_run.add(tenant, exp);
                    }
                    report.tables.push((name, tr));
                }
                Ok(None) => report.skipped.push(name),
                Err(e) => report.failed.push((name, e.to_string())),
            }
        }
        Ok(report)
    }

    async fn table_failed(&self, period: &crate::periods::Period, table: &str, e: &CompactorError) {
        // A table abandoned because writes were stopped (lease lost, shutdown) is not at
        // fault: it must not count towards its no-compact marker.
        if !self.allowed.load(Ordering::SeqCst) {
            tracing::warn!("table-name" = table, err = %e, "table abandoned: writes stopped");
            return;
        }
        let n = {
            let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            let n = f.entry(table.to_owned()).or_insert(0);
            *n += 1;
            *n
        };
        self.metrics.set(
            names::TABLE_FAILURES,
            &[("table_name", table)],
            f64::from(n),
        );
        tracing::error!("table-name" = table, failures = n, err = %e, "failed to compact table");
        if self.opts.no_compact_after > 0 && n >= self.opts.no_compact_after && !self.opts.dry_run {
            let key = format!("{NO_COMPACT_PREFIX}{table}");
            let body = format!(
                "table {table} failed {n} consecutive compactions; last error: {e}\ndelete this object to compact it again\n"
            );
            match period.bucket.put(&key, Bytes::from(body)).await {
                Ok(()) => {
                    tracing::error!("table-name" = table, marker = %key, "table keeps failing: wrote no-compact marker")
                }
                Err(e) => {
                    tracing::error!("table-name" = table, err = %e, "could not write no-compact marker")
                }
            }
        }
    }

    /// Every no-compact marker, in every bucket.
    pub async fn no_compact_markers(&self) -> Result<Vec<NoCompactMarker>> {
        let mut out = Vec::new();
        for b in self.periods.distinct_buckets() {
            for o in b.list(NO_COMPACT_PREFIX).await? {
                let Some(table) = o.key.strip_prefix(NO_COMPACT_PREFIX) else {
                    continue;
                };
                let reason = match b.get(&o.key).await {
                    Ok(t) => String::from_utf8_lossy(&t).trim_end().to_owned(),
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e.into()),
                };
                out.push(NoCompactMarker {
                    table: table.to_owned(),
                    key: o.key.clone(),
                    bucket: b.name().to_owned(),
                    reason,
                });
            }
        }
        Ok(out)
    }

    /// Removes `table`'s no-compact marker(s); returns the keys removed.
    pub async fn remove_no_compact(&self, table: &str) -> Result<Vec<String>> {
        let key = format!("{NO_COMPACT_PREFIX}{table}");
        let mut removed = Vec::new();
        for b in self.periods.distinct_buckets() {
            if b.exists(&key).await? {
                b.delete(&key).await?;
                self.metrics
                    .set(names::TABLE_SKIPPED, &[("table_name", table)], 0.0);
                removed.push(format!("{}/{key}", b.name()));
            }
        }
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(table);
        Ok(removed)
    }

    /// Sweeps every marker store once.
    pub async fn sweep_all(&self) -> Result<Vec<SweepStats>> {
        let c = &self.cfg.compactor;
        let mut out = Vec::new();
        for m in &self.markers {
            if !self.allowed.load(Ordering::SeqCst) {
                return Err(CompactorError::Task("compactor lease lost".into()));
            }
            out.push(
                sweep(
                    m,
                    c.retention_delete_delay.as_std(),
                    c.retention_delete_worker_count.max(1) as usize,
                    &self.opts.clock,
                    &self.metrics,
                    self.opts.dry_run,
                    &self.allowed,
                )
                .await?,
            );
        }
        Ok(out)
    }

    /// One full cycle: a pass (with retention when enabled) and a sweep of due markers.
    pub async fn run_once(&self) -> Result<CycleReport> {
        let r = async {
            let pass = self.pass(true).await?;
            let sweeps = if self.cfg.compactor.retention_enabled {
                self.sweep_all().await?
            } else {
                Vec::new()
            };
            Ok(CycleReport { pass, sweeps })
        }
        .await;
        match &r {
            Ok(_) => self.metrics.inc(names::RUNS_COMPLETED, &[]),
            Err(_) => self.metrics.inc(names::RUNS_FAILED, &[]),
        }
        r
    }

    /// The long-running schedule: compaction every `compaction_interval`, retention every
    /// `apply_retention_interval`, sweeping every minute; each step runs to completion, and
    /// `stop` is checked between steps. `may_act` is consulted before each step (lease).
    pub async fn run_loop(
        &self,
        mut stop: tokio::sync::watch::Receiver<bool>,
        may_act: impl Fn() -> bool,
    ) {
        let c = &self.cfg.compactor;
        let compaction = c.compaction_interval.as_std().max(Duration::from_secs(1));
        let retention = c
            .effective_apply_retention_interval()
            .as_std()
            .max(Duration::from_secs(1));
        let sweep_every = Duration::from_secs(60);
        let now = tokio::time::Instant::now();
        let (mut next_c, mut next_r, mut next_s) = (now, now, now);
        // Whether this instance has been acting since it last became the single writer.
        let mut active = false;
        let mut announce = false;
        loop {
            let next = next_c.min(if c.retention_enabled {
                next_r.min(next_s)
            } else {
                next_c
            });
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            let now = tokio::time::Instant::now();
            if !may_act() {
                active = false;
                next_c = now + Duration::from_secs(5);
                next_r = next_r.max(next_c);
                next_s = next_s.max(next_c);
                continue;
            }
            if !active {
                // Like Loki: wait one compaction interval after becoming the writer, so a
                // previous compactor (e.g. Loki's own during a switch, which takes no
                // lease) can finish its pass.
                tracing::info!(
                    duration = ?compaction,
                    "waiting for ring to stay stable and previous compactions to finish before starting compactor"
                );
                tokio::select! {
                    _ = tokio::time::sleep(compaction) => {}
                    _ = stop.changed() => {}
                }
                if *stop.borrow() {
                    return;
                }
                tracing::info!("compactor startup delay completed");
                if !may_act() {
                    continue;
                }
                active = true;
                let now = tokio::time::Instant::now();
                (next_c, next_r, next_s) = (now, now, now);
                announce = true;
                if c.retention_enabled {
                    tracing::info!(
                        workers = c.retention_delete_worker_count,
                        delay = ?c.retention_delete_delay.as_std(),
                        "mark processor started"
                    );
                }
            }
            let now = tokio::time::Instant::now();
            if c.retention_enabled && now >= next_r {
                let t0 = Instant::now();
                let r = self.pass(true).await;
                self.count_run(&r.as_ref().map(|_| ()));
                if let Err(e) = r {
                    tracing::error!(err = %e, "failed to apply retention");
                }
                next_r = now + retention;
                next_c = now + compaction;
                if t0.elapsed() > compaction {
                    tracing::warn!("last compaction took longer than the compaction interval, this can lead to duplicate compactors running if not running a standalone compactor instance");
                }
            } else if now >= next_c {
                let r = self.pass(false).await;
                self.count_run(&r.as_ref().map(|_| ()));
                if let Err(e) = r {
                    tracing::error!(err = %e, "failed to run compaction");
                }
                next_c = now + compaction;
            }
            if c.retention_enabled && tokio::time::Instant::now() >= next_s {
                if let Err(e) = self.sweep_all().await {
                    tracing::error!(err = %e, "sweep failed");
                }
                next_s = tokio::time::Instant::now() + sweep_every;
            }
            if announce {
                announce = false;
                tracing::info!("compactor started");
            }
        }
    }

    fn count_run(&self, r: &std::result::Result<(), &CompactorError>) {
        match r {
            Ok(()) => self.metrics.inc(names::RUNS_COMPLETED, &[]),
            Err(_) => self.metrics.inc(names::RUNS_FAILED, &[]),
        }
    }
}
