//! Reading a tenant's streams straight from a Loki bucket: index tables of a time range,
//! series selection with matchers, and bounded-concurrency chunk fetches. Shared by
//! `query`, `export` and `chunks-for`.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use loki_bucket::{Bucket, BucketOptions, ChunkRef};
use loki_config::{LoadOptions, LokiConfig, SchemaVersion};
use loki_tsdb::{IndexReader, IndexView, MatchOp, Matcher};

/// Where the bucket comes from.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// Loki config file (its schema_config and storage_config locate the tables).
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<String>,
    /// Store URL instead of a config: s3://bucket/prefix, gs://…, az://…, file:///dir or a
    /// directory (schema v13, tables under index/).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// S3 endpoint for --store s3://… (credentials from the AWS environment).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Max concurrent object requests.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

/// A chunk ref with the index of its schema period.
pub type StoreChunk = (usize, ChunkRef);

/// Sorted label pairs.
type Labels = Vec<(String, String)>;

/// One schema period's bucket and table naming.
struct Period {
    bucket: Bucket,
    path_prefix: String,
    table_prefix: String,
    schema: SchemaVersion,
    /// First and last+1 day (table number) the period covers.
    from_day: i64,
    to_day: i64,
    /// Day numbers of the tables that exist, listed once (one LIST instead of one per
    /// day of a long range).
    existing: std::collections::HashSet<i64>,
}

/// A selected stream: labels and the chunks that intersect the range.
#[derive(Debug, Clone)]
pub struct StreamChunks {
    /// Stream labels, sorted.
    pub labels: Vec<(String, String)>,
    /// Chunk refs with the index of their period.
    pub chunks: Vec<StoreChunk>,
    /// For each chunk, the days (table numbers) whose index references it. Loki's query
    /// frontend splits queries by interval, so each part consults only its own day's
    /// table: a chunk dropped from one day's index (retention) yields no entries of that
    /// day even though another table still lists it.
    pub days: Vec<Vec<i64>>,
}

const DAY_MS: i64 = 86_400_000;

/// What Loki's `/loki/api/v1/index/stats` returns (field names as in its JSON body).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    /// Streams, counted once per day (index table) they have entries in.
    pub streams: u64,
    /// Chunk references, once per index file listing them.
    pub chunks: u64,
    /// Σ pro-rated KB × 1024.
    pub bytes: u64,
    /// Σ pro-rated entries.
    pub entries: u64,
}

/// A tenant's view of a bucket.
pub struct StoreReader {
    periods: Arc<Vec<Period>>,
    tenant: String,
    rt: Arc<tokio::runtime::Runtime>,
    /// Index files already read, by table (period index, table name).
    tables: HashMap<(usize, String), Vec<(IndexReader, bool)>>,
}

fn to_tsdb_matchers(m: &[loki_logql::Matcher]) -> Result<Vec<Matcher>> {
    m.iter()
        .map(|m| {
            let op = match m.op {
                loki_logql::MatchOp::Eq => MatchOp::Equal,
                loki_logql::MatchOp::Neq => MatchOp::NotEqual,
                loki_logql::MatchOp::Re => MatchOp::Regex,
                loki_logql::MatchOp::Nre => MatchOp::NotRegex,
            };
            Matcher::new(op, m.name.clone(), m.value.clone()).map_err(anyhow::Error::from)
        })
        .collect()
}

impl StoreReader {
    /// Opens the bucket(s) of `args` for `tenant`.
    pub fn open(args: &StoreArgs, tenant: &str) -> Result<StoreReader> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let opts = BucketOptions {
            max_concurrency: args.concurrency.max(1),
            ..Default::default()
        };
        let periods = match (&args.store, &args.config_file) {
            (Some(_), Some(_)) => bail!("give either --store or --config.file, not both"),
            (None, None) => bail!("give --config.file FILE (Loki's config) or --store URL"),
            (Some(url), None) => {
                let bucket = Bucket::from_url(url, args.endpoint.as_deref(), opts)?;
                let dirs = rt.block_on(bucket.list_dir("index/"))?.0;
                // The table prefix is whatever precedes the day number.
                let prefix = dirs
                    .iter()
                    .filter_map(|d| {
                        let name = d.trim_end_matches('/').rsplit('/').next()?;
                        let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
                        (stem.len() < name.len()).then(|| stem.to_owned())
                    })
                    .next()
                    .unwrap_or_else(|| "index_".into());
                vec![Period {
                    bucket,
                    path_prefix: "index/".into(),
                    table_prefix: prefix,
                    schema: SchemaVersion::V13,
                    from_day: i64::MIN,
                    to_day: i64::MAX,
                    existing: Default::default(),
                }]
            }
            (None, Some(file)) => {
                let cfg = LokiConfig::load(&LoadOptions {
                    config_file: file.clone(),
                    expand_env: false,
                })?;
                let mut out = Vec::new();
                let n = cfg.schema.configs.len();
                for (i, p) in cfg.schema.configs.iter().enumerate() {
                    if !p.is_tsdb() {
                        continue;
                    }
                    let spec = cfg.storage.store(&p.object_store).with_context(|| {
                        format!("object store `{}` not configured", p.object_store)
                    })?;
                    let to_day = if i + 1 < n {
                        cfg.schema.configs[i + 1].from.0
                    } else {
                        i64::MAX
                    };
                    let mut path_prefix = p.index.path_prefix.clone();
                    if !path_prefix.ends_with('/') {
                        path_prefix.push('/');
                    }
                    out.push(Period {
                        bucket: Bucket::from_spec(spec, opts.clone())?,
                        path_prefix,
                        table_prefix: p.index.prefix.clone(),
                        schema: p.schema,
                        from_day: p.from.0,
                        to_day,
                        existing: Default::default(),
                    });
                }
                out
            }
        };
        let mut periods = periods;
        for p in &mut periods {
            let dirs = rt.block_on(p.bucket.list_dir(&p.path_prefix))?.0;
            p.existing = dirs
                .iter()
                .filter_map(|d| {
                    let name = d.trim_end_matches('/').rsplit('/').next()?;
                    name.strip_prefix(p.table_prefix.as_str())?
                        .parse::<i64>()
                        .ok()
                })
                .collect();
        }
        Ok(StoreReader {
            periods: Arc::new(periods),
            tenant: tenant.to_owned(),
            rt: Arc::new(rt),
            tables: HashMap::new(),
        })
    }

    fn load_table(&mut self, pi: usize, day: i64) -> Result<()> {
        let p = &self.periods[pi];
        let table = format!("{}{day}", p.table_prefix);
        if self.tables.contains_key(&(pi, table.clone())) {
            return Ok(());
        }
        let prefix = format!("{}{table}/", p.path_prefix);
        let objects = self.rt.block_on(p.bucket.list(&prefix))?;
        let mut keys = Vec::new();
        for o in objects {
            let rest = o.key.strip_prefix(&prefix).unwrap_or(&o.key);
            if !(rest.ends_with(".tsdb") || rest.ends_with(".tsdb.gz")) {
                continue;
            }
            match rest.split_once('/') {
                // Per-tenant (compacted) file.
                Some((t, _)) if t == self.tenant => keys.push((o.key.clone(), false)),
                Some(_) => {}
                // Ingester upload holding many tenants.
                None => keys.push((o.key.clone(), true)),
            }
        }
        let names: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let bodies = self.rt.block_on(p.bucket.get_many(&names));
        let mut readers = Vec::new();
        for ((key, multi), body) in keys.into_iter().zip(bodies) {
            let body = body.with_context(|| format!("reading {key}"))?;
            let r = IndexReader::from_bytes(body).with_context(|| format!("opening {key}"))?;
            readers.push((r, multi));
        }
        self.tables.insert((pi, table), readers);
        Ok(())
    }

    /// Streams matching `matchers` with chunks intersecting `[from_ns, through_ns)`, sorted
    /// by labels.
    pub fn select(
        &mut self,
        matchers: &[loki_logql::Matcher],
        from_ns: i64,
        through_ns: i64,
    ) -> Result<Vec<StreamChunks>> {
        let ms = to_tsdb_matchers(matchers)?;
        let from_ms = from_ns.div_euclid(1_000_000);
        let through_ms = (through_ns + 999_999).div_euclid(1_000_000);
        let first_day = from_ms.div_euclid(86_400_000);
        let last_day = (through_ms - 1).div_euclid(86_400_000);
        let mut out: BTreeMap<Labels, Vec<(usize, ChunkRef, Vec<i64>)>> = BTreeMap::new();
        for pi in 0..self.periods.len() {
            let (pf, pt) = (self.periods[pi].from_day, self.periods[pi].to_day);
            for day in first_day.max(pf)..=last_day.min(pt.saturating_sub(1)) {
                if !self.periods[pi].existing.contains(&day) {
                    continue;
                }
                self.load_table(pi, day)?;
                let table = format!("{}{day}", self.periods[pi].table_prefix);
                for (reader, multi) in &self.tables[&(pi, table)] {
                    let view = if *multi {
                        reader.tenant_view(&self.tenant)
                    } else {
                        reader.view()
                    };
                    for s in view.query(&ms, from_ms, through_ms, None)? {
                        let labels: Vec<(String, String)> = s
                            .labels
                            .iter()
                            .map(|(n, v)| (n.to_owned(), v.to_owned()))
                            .collect();
                        let entry = out.entry(labels).or_default();
                        for c in &s.chunks {
                            let r = ChunkRef {
                                tenant: self.tenant.clone(),
                                fingerprint: s.fingerprint,
                                from_ms: c.min_time,
                                through_ms: c.max_time,
                                checksum: c.checksum,
                            };
                            match entry.iter_mut().find(|(_, e, _)| *e == r) {
                                Some((_, _, days)) => {
                                    if !days.contains(&day) {
                                        days.push(day);
                                    }
                                }
                                None => entry.push((pi, r, vec![day])),
                            }
                        }
                    }
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|(labels, mut chunks)| {
                chunks.sort_by_key(|(_, c, _)| (c.from_ms, c.through_ms, c.checksum));
                let days = chunks.iter().map(|(_, _, d)| d.clone()).collect();
                let chunks = chunks.into_iter().map(|(p, c, _)| (p, c)).collect();
                StreamChunks {
                    labels,
                    chunks,
                    days,
                }
            })
            .collect())
    }

    /// Index stats of the streams matching `matchers` over `[from_ns, through_ns)`, as
    /// Loki's `/index/stats` sums them: the range is cut at day (table) boundaries; in
    /// each day every file of that day's table contributes, per matching series, its
    /// pro-rated chunk stats when the pro-rated entries are > 0; a stream counts once
    /// per day, while chunks/bytes/entries are not de-duplicated across files.
    pub fn index_stats(
        &mut self,
        matchers: &[loki_logql::Matcher],
        from_ns: i64,
        through_ns: i64,
    ) -> Result<IndexStats> {
        let ms = to_tsdb_matchers(matchers)?;
        let from_ms = from_ns.div_euclid(1_000_000);
        let through_ms = through_ns.div_euclid(1_000_000);
        let mut total = IndexStats::default();
        let mut day = from_ms.div_euclid(DAY_MS);
        while day * DAY_MS < through_ms {
            let lo = from_ms.max(day * DAY_MS);
            let hi = through_ms.min((day + 1) * DAY_MS);
            let mut streams = std::collections::HashSet::new();
            for pi in 0..self.periods.len() {
                let p = &self.periods[pi];
                if day < p.from_day || day >= p.to_day || !p.existing.contains(&day) {
                    continue;
                }
                self.load_table(pi, day)?;
                let table = format!("{}{day}", self.periods[pi].table_prefix);
                for (reader, multi) in &self.tables[&(pi, table)] {
                    let view = if *multi {
                        reader.tenant_view(&self.tenant)
                    } else {
                        reader.view()
                    };
                    for s in view.query(&ms, lo, hi, None)? {
                        let (chunks, kb, entries) = IndexView::series_stats(&s.chunks, lo, hi);
                        if entries == 0 {
                            continue;
                        }
                        if streams.insert(s.fingerprint) {
                            total.streams += 1;
                        }
                        total.chunks += chunks;
                        total.bytes += kb * 1024;
                        total.entries += entries;
                    }
                }
            }
            day += 1;
        }
        Ok(total)
    }

    /// Label names (or, with `name`, the values of one label) of the tenant's series with
    /// chunks in `[from_ns, through_ns)`. Loki answers per day and appends each day's
    /// sorted names that earlier days did not have, so the list is sorted only when the
    /// first day has them all; the same order is kept here.
    pub fn label_names_or_values(
        &mut self,
        name: Option<&str>,
        from_ns: i64,
        through_ns: i64,
    ) -> Result<Vec<String>> {
        let from_ms = from_ns.div_euclid(1_000_000);
        let through_ms = (through_ns + 999_999).div_euclid(1_000_000);
        let first_day = from_ms.div_euclid(86_400_000);
        let last_day = (through_ms - 1).div_euclid(86_400_000);
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for day in first_day..=last_day {
            let lo = from_ms.max(day * 86_400_000);
            let hi = through_ms.min((day + 1) * 86_400_000);
            let mut day_set = std::collections::BTreeSet::new();
            for pi in 0..self.periods.len() {
                if day < self.periods[pi].from_day
                    || day >= self.periods[pi].to_day
                    || !self.periods[pi].existing.contains(&day)
                {
                    continue;
                }
                self.load_table(pi, day)?;
                let table = format!("{}{day}", self.periods[pi].table_prefix);
                for (reader, multi) in &self.tables[&(pi, table)] {
                    let view = if *multi {
                        reader.tenant_view(&self.tenant)
                    } else {
                        reader.view()
                    };
                    let got = match name {
                        Some(n) => view.label_values(n, lo, hi)?,
                        None => view.label_names(lo, hi)?,
                    };
                    day_set.extend(got);
                }
            }
            for v in day_set {
                if seen.insert(v.clone()) {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    /// Loki's delete-request DB (`<index prefix>delete_requests/delete_requests.gz`) of
    /// the first period's bucket, when present.
    pub fn delete_requests_db(&self) -> Result<Option<Bytes>> {
        self.delete_requests_object("delete_requests.gz")
    }

    /// An object under `<index prefix>delete_requests/` of the first period's bucket
    /// (`delete_requests.sqlite.gz` or `delete_requests.gz`), when present.
    pub fn delete_requests_object(&self, name: &str) -> Result<Option<Bytes>> {
        let Some(p) = self.periods.first() else {
            return Ok(None);
        };
        let key = format!("{}delete_requests/{name}", p.path_prefix);
        if !self.rt.block_on(p.bucket.exists(&key))? {
            return Ok(None);
        }
        Ok(Some(self.rt.block_on(p.bucket.get(&key))?))
    }

    /// The object key of a chunk.
    pub fn chunk_key(&self, period: usize, c: &ChunkRef) -> String {
        let p = &self.periods[period];
        p.bucket.codec().chunk_object(c, p.schema)
    }

    /// Fetches chunk objects, at most `--concurrency` at a time; results in input order.
    pub fn fetch(&self, chunks: &[StoreChunk]) -> Result<Vec<Bytes>> {
        self.fetcher().fetch(chunks)
    }

    /// A handle that fetches chunks on its own (streams read lazily, one at a time).
    pub fn fetcher(&self) -> ChunkFetcher {
        ChunkFetcher {
            periods: Arc::clone(&self.periods),
            rt: Arc::clone(&self.rt),
        }
    }
}

/// Fetches chunk objects of a [`StoreReader`]'s buckets.
#[derive(Clone)]
pub struct ChunkFetcher {
    periods: Arc<Vec<Period>>,
    rt: Arc<tokio::runtime::Runtime>,
}

impl ChunkFetcher {
    fn chunk_key(&self, period: usize, c: &ChunkRef) -> String {
        let p = &self.periods[period];
        p.bucket.codec().chunk_object(c, p.schema)
    }

    /// Fetches chunk objects, at most `--concurrency` at a time; results in input order.
    pub fn fetch(&self, chunks: &[StoreChunk]) -> Result<Vec<Bytes>> {
        let mut out = Vec::with_capacity(chunks.len());
        // One batch per period keeps each bucket's own concurrency limit in charge.
        let mut by_period: BTreeMap<usize, Vec<(usize, String)>> = BTreeMap::new();
        for (i, (p, c)) in chunks.iter().enumerate() {
            by_period
                .entry(*p)
                .or_default()
                .push((i, self.chunk_key(*p, c)));
        }
        let mut slots: Vec<Option<Bytes>> = vec![None; chunks.len()];
        for (p, items) in by_period {
            let keys: Vec<String> = items.iter().map(|(_, k)| k.clone()).collect();
            let bodies = self.rt.block_on(self.periods[p].bucket.get_many(&keys));
            for ((i, k), b) in items.into_iter().zip(bodies) {
                slots[i] = Some(b.with_context(|| format!("reading chunk {k}"))?);
            }
        }
        for s in slots {
            out.push(s.unwrap_or_default());
        }
        Ok(out)
    }
}
