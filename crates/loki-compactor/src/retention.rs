//! Retention rules (spec §2.5, §6): which chunks of a tenant index expire at `now`, and
//! the rewritten index without them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loki_config::{Limits, StreamRetention, TenantLimits};
use loki_tsdb::{ChunkFilter, ChunkMeta, IndexReader};

use crate::expired::{ExpiredLog, ExpiredSummary};

const DAY_MS: i64 = 86_400_000;

/// Series between two releases of a mapped index's pages in a forward scan (as the
/// merge does).
pub(crate) const RELEASE_EVERY: u64 = 1 << 11;

/// The period that applies to a stream and where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Applied<'a> {
    /// Retention in ms; 0 keeps forever.
    pub period_ms: i64,
    /// The winning `retention_stream` rule, `None` for the tenant's `retention_period`.
    pub rule: Option<&'a StreamRetention>,
}

/// Loki's rule choice: highest priority among matching rules, shortest period on a tie,
/// else the tenant-wide period. Same answer as [`Limits::retention_period_for`], plus
/// which rule won (the dry-run report groups by it).
pub fn applied<'a, 'l>(
    limits: &'a Limits,
    labels: impl IntoIterator<Item = (&'l str, &'l str)> + Clone,
) -> Applied<'a> {
    let mut best: Option<&StreamRetention> = None;
    for r in &limits.retention_stream {
        if !r.selector.matches(labels.clone()) {
            continue;
        }
        let better = match best {
            None => true,
            Some(b) => r.priority > b.priority || (r.priority == b.priority && r.period < b.period),
        };
        if better {
            best = Some(r);
        }
    }
    let period = best.map(|r| r.period).unwrap_or(limits.retention_period);
    Applied {
        period_ms: duration_ms(period),
        rule: best,
    }
}

fn duration_ms(d: loki_config::Duration) -> i64 {
    i64::try_from(d.as_std().as_millis()).unwrap_or(i64::MAX)
}

/// Smallest positive period of a limits object (0 if none).
fn smallest_ms(l: &Limits) -> i64 {
    std::iter::once(l.retention_period)
        .chain(l.retention_stream.iter().map(|r| r.period))
        .map(duration_ms)
        .filter(|&p| p > 0)
        .min()
        .unwrap_or(0)
}

/// Retention state of one pass: limits as read at the start, and `now`.
#[derive(Debug, Clone)]
pub struct Expiry {
    /// Pass time, unix ms.
    pub now_ms: i64,
    limits: Arc<TenantLimits>,
    /// `retention_table_timeout`: time allowed for examining one tenant index.
    table_timeout: Option<Duration>,
    /// Set when any index of the pass hit `table_timeout`.
    timed_out: Arc<AtomicBool>,
}

/// Why a chunk leaves an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Expired: marked for deletion.
    Expired,
    /// Belongs to a later table and is past the tenant period here: dropped, not marked.
    DroppedFromTable,
}

/// A chunk that expired, for markers and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredChunk {
    /// Chunk id `<tenant>/<fp>/<from>:<through>:<crc>` (v12+ form).
    pub id: String,
    /// Size estimate from the index (KiB → bytes).
    pub bytes: u64,
    /// The selector whose period applied, or `retention_period`.
    pub rule: String,
    /// Expired through `ingested_at` (v14) rather than its end time.
    pub by_ingestion: bool,
    /// The chunk's start (reports count an object in the table where it starts).
    pub min_time: i64,
}

/// Result of applying retention to one tenant index.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing removed.
    Unchanged,
    /// Some chunks removed: the filter that rewrites the index without them (chunkless
    /// series dropped), for a streaming pass (`loki_tsdb::filter_in`) over the same index.
    Modified(RetentionFilter),
    /// Nothing left: the tenant's files go away.
    Empty,
}

/// Outcome of one tenant index (the chunks to mark went to the caller's log).
#[derive(Debug)]
pub struct Applied2 {
    /// What happens to the index.
    pub outcome: Outcome,
    /// Chunk refs dropped without a mark.
    pub dropped: u64,
}

/// The rewrite that goes with [`Outcome::Modified`]: the same decisions `apply` made,
/// recomputed per series (they depend only on the labels and the chunk, so the filter is
/// pure, as `filter_in` needs). Series past a `retention_table_timeout` stay whole.
#[derive(Debug, Clone)]
pub struct RetentionFilter {
    expiry: Expiry,
    tenant: String,
    table_end: i64,
    examined_until: u64,
}

impl ChunkFilter for RetentionFilter {
    fn retain(
        &self,
        ordinal: u64,
        labels: &[(&str, &str)],
        _fingerprint: u64,
        chunks: &mut Vec<ChunkMeta>,
    ) {
        if ordinal >= self.examined_until {
            return;
        }
        let limits = self.expiry.limits(&self.tenant);
        let tenant_period = applied(limits, std::iter::empty::<(&str, &str)>()).period_ms;
        let period = applied(limits, labels.iter().copied()).period_ms;
        chunks.retain(|c| {
            self.expiry
                .chunk_removal(c, period, tenant_period, self.table_end)
                .is_none()
        });
    }
}

impl Expiry {
    /// Retention state for a pass at `now_ms`.
    pub fn new(now_ms: i64, limits: Arc<TenantLimits>) -> Self {
        Expiry {
            now_ms,
            limits,
            table_timeout: None,
            timed_out: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Loki's `retention_table_timeout` (0 = none): examining one tenant index stops after
    /// this long; what was decided so far is kept, the rest of the index stays as it is
    /// (a later pass examines it again), and the pass goes on with the next index.
    pub fn with_table_timeout(mut self, timeout: Duration) -> Self {
        self.table_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// Whether an index of this pass hit `retention_table_timeout` (Loki then drops the
    /// pass's delete-request batch).
    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::SeqCst)
    }

    /// Effective limits of `tenant`.
    pub fn limits(&self, tenant: &str) -> &Limits {
        self.limits.for_tenant(tenant)
    }

    /// Cutoff below which a table may hold something expired for anyone (0 = nothing).
    pub fn overall_cutoff_ms(&self) -> i64 {
        let mut s = smallest_ms(self.limits.global());
        for (_, l) in self.limits.overridden() {
            let t = smallest_ms(l);
            if t > 0 && (s == 0 || t < s) {
                s = t;
            }
        }
        if s == 0 {
            0
        } else {
            self.now_ms.saturating_sub(s)
        }
    }

    /// Cutoff of the global limits (tenants without an override), 0 = keeps forever.
    pub fn default_cutoff_ms(&self) -> i64 {
        match smallest_ms(self.limits.global()) {
            0 => 0,
            s => self.now_ms.saturating_sub(s),
        }
    }

    /// Cutoff for one tenant (0 = keeps forever).
    pub fn tenant_cutoff_ms(&self, tenant: &str) -> i64 {
        match smallest_ms(self.limits(tenant)) {
            0 => 0,
            s => self.now_ms.saturating_sub(s),
        }
    }

    /// Whether table number `day` needs examining at all.
    pub fn table_gate(&self, day: i64) -> bool {
        day.saturating_mul(DAY_MS) < self.overall_cutoff_ms()
    }

    /// Whether `tenant`'s index in table `day` needs examining.
    pub fn tenant_gate(&self, tenant: &str, day: i64) -> bool {
        day.saturating_mul(DAY_MS) < self.tenant_cutoff_ms(tenant)
    }

    /// Applies retention to `tenant`'s index `reader` in table number `day`.
    pub fn apply(
        &self,
        tenant: &str,
        day: i64,
        reader: &IndexReader,
        expired: &mut ExpiredLog,
    ) -> loki_tsdb::Result<Applied2> {
        let limits = self.limits(tenant);
        let table_end = day.saturating_mul(DAY_MS).saturating_add(DAY_MS - 1);
        let tenant_period = applied(limits, std::iter::empty::<(&str, &str)>()).period_ms;
        let mut cur = reader.series()?;
        let mut ordinal = 0u64;
        let mut examined_until = u64::MAX;
        let mut any_kept = false;
        let log_err = |e| loki_tsdb::IndexError::Io {
            path: "expired chunk log".into(),
            source: e,
        };
        let mut dropped = 0u64;
        let mut changed = false;
        let mut any_chunks = false;
        let deadline = self.table_timeout.map(|t| Instant::now() + t);
        let mut out_of_time = false;
        while cur.advance()? {
            // Position in series order, as the rewriting filter counts them.
            let this = ordinal;
            ordinal += 1;
            if ordinal % RELEASE_EVERY == 0 {
                // A mapped index (large merged output) must not become resident whole.
                reader.release_memory();
            }
            let chunks = cur.chunks();
            if chunks.is_empty() {
                continue;
            }
            any_chunks = true;
            if !out_of_time && deadline.is_some_and(|d| Instant::now() >= d) {
                out_of_time = true;
                examined_until = this;
                self.timed_out.store(true, Ordering::SeqCst);
                tracing::warn!(user = tenant, day, "Timed out while running delete");
            }
            if out_of_time {
                // Not examined: kept unchanged.
                any_kept = true;
                continue;
            }
            let labels: Vec<(&str, &str)> = cur.labels().collect();
            let a = applied(limits, labels.iter().copied());
            let mut keep: Vec<ChunkMeta> = Vec::with_capacity(chunks.len());
            for c in chunks {
                match self.chunk_removal(c, a.period_ms, tenant_period, table_end) {
                    Some(Removal::Expired) => {
                        changed = true;
                        let e = ExpiredChunk {
                            id: format!(
                                "{tenant}/{:x}/{:x}:{:x}:{:x}",
                                cur.fingerprint(),
                                c.min_time,
                                c.max_time,
                                c.checksum
                            ),
                            bytes: u64::from(c.kb) * 1024,
                            rule: a
                                .rule
                                .map(|r| r.selector.to_string())
                                .unwrap_or_else(|| "retention_period".into()),
                            by_ingestion: c.ingested_at != 0,
                            min_time: c.min_time,
                        };
                        expired.push(&e).map_err(log_err)?;
                    }
                    Some(Removal::DroppedFromTable) => {
                        changed = true;
                        dropped += 1;
                    }
                    None => keep.push(*c),
                }
            }
            any_kept |= !keep.is_empty();
        }
        let outcome = if !any_chunks || !changed {
            Outcome::Unchanged
        } else if !any_kept {
            Outcome::Empty
        } else {
            Outcome::Modified(RetentionFilter {
                expiry: self.clone(),
                tenant: tenant.to_owned(),
                table_end,
                examined_until,
            })
        };
        Ok(Applied2 { outcome, dropped })
    }

    fn chunk_removal(
        &self,
        c: &ChunkMeta,
        period: i64,
        tenant_period: i64,
        table_end: i64,
    ) -> Option<Removal> {
        let reference = if c.ingested_at != 0 {
            c.ingested_at
        } else {
            c.max_time
        };
        if period > 0 && self.now_ms.saturating_sub(reference) > period {
            return Some(Removal::Expired);
        }
        if c.max_time > table_end && tenant_period > 0 {
            let r = if c.ingested_at != 0 {
                c.ingested_at
            } else {
                table_end
            };
            if self.now_ms.saturating_sub(r) > tenant_period {
                return Some(Removal::DroppedFromTable);
            }
        }
        None
    }
}

/// Per-tenant, per-rule totals for `--dry-run`.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct DryRunReport {
    /// tenant → rule → totals.
    pub tenants: BTreeMap<String, BTreeMap<String, DryRunTotals>>,
}

/// Totals of one (tenant, rule).
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct DryRunTotals {
    /// Chunk refs that expire (a chunk spanning tables counts once per table).
    pub chunk_refs: u64,
    /// Chunk objects that would be deleted (counted in the table where the chunk starts).
    pub objects: u64,
    /// Estimated bytes (index size estimates).
    pub bytes: u64,
}

impl DryRunReport {
    /// Adds one tenant index's totals. A chunk spanning tables counts as an object only in
    /// the table where it starts (an expired chunk expires in every table holding it), so
    /// objects add up across tables without remembering ids.
    pub fn add(&mut self, tenant: &str, expired: &ExpiredSummary) {
        let rules = self.tenants.entry(tenant.to_owned()).or_default();
        for (rule, x) in &expired.by_rule {
            let t = rules.entry(rule.clone()).or_default();
            t.chunk_refs += x.chunk_refs;
            t.objects += x.objects;
            t.bytes += x.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loki_config::{Duration, Selector};

    fn rule(sel: &str, prio: i64, hours: u64) -> StreamRetention {
        StreamRetention {
            selector: Selector::parse(sel).unwrap(),
            priority: prio,
            period: Duration::from_hours(hours),
        }
    }

    #[test]
    fn rule_choice_matches_config_crate() {
        let l = Limits {
            retention_period: Duration::from_hours(744),
            retention_stream: vec![
                rule(r#"{a="x"}"#, 1, 72),
                rule(r#"{b="y"}"#, 1, 48),
                rule(r#"{c="z"}"#, 2, 100),
            ],
            ..Default::default()
        };
        for labels in [
            vec![("a", "x"), ("b", "y")],
            vec![("a", "x"), ("b", "y"), ("c", "z")],
            vec![("a", "x")],
            vec![("q", "r")],
        ] {
            let a = applied(&l, labels.iter().copied());
            assert_eq!(
                a.period_ms,
                duration_ms(l.retention_period_for(labels.iter().copied())),
                "{labels:?}"
            );
        }
        assert_eq!(
            applied(&l, [("a", "x"), ("b", "y")]).period_ms,
            48 * 3_600_000
        );
        assert_eq!(applied(&l, [("q", "r")]).rule, None);
    }

    /// v14 indexes carry `ingested_at`: when set, it (not the chunk's end) is the reference
    /// time, for expiry and for dropping refs from older tables.
    #[test]
    fn ingested_at_is_the_reference_when_set() {
        let limits = Limits {
            retention_period: Duration::from_hours(24),
            ..Default::default()
        };
        let now = 10 * DAY_MS;
        let e = Expiry::new(now, Arc::new(TenantLimits::new(limits)));
        let end = 5 * DAY_MS + DAY_MS - 1;
        let old_data = |ingested_at| ChunkMeta {
            min_time: 5 * DAY_MS,
            max_time: 5 * DAY_MS + 10,
            ingested_at,
            ..Default::default()
        };
        // Data from day 5, ingested (backfilled) an hour ago: kept.
        assert_eq!(
            e.chunk_removal(&old_data(now - 3_600_000), DAY_MS, DAY_MS, end),
            None
        );
        // Ingested just over the period ago: expired.
        assert_eq!(
            e.chunk_removal(&old_data(now - DAY_MS - 1), DAY_MS, DAY_MS, end),
            Some(Removal::Expired)
        );
        // Exactly the period ago: not yet (strictly older expires).
        assert_eq!(
            e.chunk_removal(&old_data(now - DAY_MS), DAY_MS, DAY_MS, end),
            None
        );
        // Without ingested_at the old end time decides.
        assert_eq!(
            e.chunk_removal(&old_data(0), DAY_MS, DAY_MS, end),
            Some(Removal::Expired)
        );
    }

    #[test]
    fn strictly_older_expires_and_zero_keeps() {
        let mut limits = Limits {
            retention_period: Duration::from_hours(24),
            ..Default::default()
        };
        let now = 10 * DAY_MS;
        let e = Expiry::new(now, Arc::new(TenantLimits::new(limits.clone())));
        let c = |max| ChunkMeta {
            min_time: max - 10,
            max_time: max,
            ..Default::default()
        };
        let end = 9 * DAY_MS + DAY_MS - 1;
        assert_eq!(e.chunk_removal(&c(now - DAY_MS), DAY_MS, DAY_MS, end), None);
        assert_eq!(
            e.chunk_removal(&c(now - DAY_MS - 1), DAY_MS, DAY_MS, end),
            Some(Removal::Expired)
        );
        limits.retention_period = Duration::ZERO;
        let e = Expiry::new(now, Arc::new(TenantLimits::new(limits)));
        assert_eq!(e.chunk_removal(&c(0), 0, 0, end), None);
        assert_eq!(e.overall_cutoff_ms(), 0);
    }

    /// The rewrite of a modified index keeps exactly what `apply` kept, per stream rule,
    /// drops series left without chunks, and leaves series past a timeout cut whole.
    #[test]
    fn rewrite_filter_keeps_what_apply_kept() {
        use loki_tsdb::{filter_in, FormatVersion, IndexBuilder, Labels};
        let limits = Limits {
            retention_period: Duration::from_hours(48),
            retention_stream: vec![rule(r#"{app="short"}"#, 1, 24)],
            ..Default::default()
        };
        let now = 10 * DAY_MS;
        let e = Expiry::new(now, Arc::new(TenantLimits::new(limits)));
        let c = |age_h: i64| ChunkMeta {
            min_time: now - age_h * 3_600_000 - 10,
            max_time: now - age_h * 3_600_000,
            checksum: age_h as u32,
            ..Default::default()
        };
        let mut b = IndexBuilder::new(FormatVersion::V3);
        let series = [
            ("long", vec![c(30), c(50)]),  // keeps 30h, 50h expires
            ("short", vec![c(30), c(10)]), // keeps 10h
            ("gone", vec![c(60)]),         // emptied: dropped
        ];
        for (app, chunks) in &series {
            let l = Labels::new([("app", app.to_string())]);
            let fp = l.fingerprint();
            b.add_series(l, fp, chunks.clone());
        }
        let (raw, _) = b.build().unwrap();
        let reader = IndexReader::from_bytes(raw).unwrap();
        let day = 8;
        let mut log = ExpiredLog::new(day, None, true);
        let a = e.apply("t", day, &reader, &mut log).unwrap();
        assert_eq!(log.len(), 3);
        let Outcome::Modified(filter) = a.outcome else {
            panic!("expected a modified index");
        };
        let dir = tempfile::tempdir().unwrap();
        let rewrite = |f: &RetentionFilter| {
            let (out, _) =
                filter_in(reader.view(), FormatVersion::V3, Vec::new(), dir.path(), f).unwrap();
            let r = IndexReader::from_bytes(out).unwrap();
            let mut cur = r.series().unwrap();
            let mut got = Vec::new();
            while cur.advance().unwrap() {
                let app = cur.labels().next().unwrap().1.to_owned();
                let ages: Vec<u32> = cur.chunks().iter().map(|c| c.checksum).collect();
                got.push((app, ages));
            }
            got.sort();
            got
        };
        let s = |a: &str, v: &[u32]| (a.to_owned(), v.to_vec());
        assert_eq!(rewrite(&filter), vec![s("long", &[30]), s("short", &[10])]);
        // A timeout after the first series in index order: the rest stays as stored.
        let mut cut = filter.clone();
        cut.examined_until = 1;
        let mut first = reader.series().unwrap();
        first.advance().unwrap();
        let first_app = first.labels().next().unwrap().1.to_owned();
        let got = rewrite(&cut);
        for (app, chunks) in &series {
            let stored: Vec<u32> = chunks.iter().map(|c| c.checksum).collect();
            let kept = got.iter().find(|(a, _)| a == app).map(|(_, v)| v.clone());
            if *app == first_app {
                assert_ne!(kept, Some(stored), "{app} was examined");
            } else {
                let mut stored = stored;
                stored.sort();
                let mut kept = kept.expect("unexamined series kept");
                kept.sort();
                assert_eq!(kept, stored, "{app} not examined");
            }
        }
    }
}
