//! `loki-inspect query`: run LogQL against a bucket without a Loki, printing what
//! `/loki/api/v1/query_range` (or `/query` with `--time`) would return.
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use loki_chunk::{ChunkObject, IterOptions};
use loki_logql::{
    evaluate, parse, parse_step_ns, parse_time_ns, Direction, Expr, InputEntry, InputStream,
    LogExpr, QueryParams, QueryResult, Source, Stage,
};

use std::sync::Arc;

use crate::store_read::{ChunkFetcher, StoreArgs, StoreReader, StreamChunks};

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The body Loki's query API returns.
    LokiJson,
    /// One JSON object per entry or sample.
    Jsonl,
    /// Lines only (log queries) or `labels ts value` (metric queries).
    Raw,
}

/// Log query direction.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirArg {
    /// Newest first.
    Backward,
    /// Oldest first.
    Forward,
}

#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Tenant (org id); `fake` when Loki runs without auth.
    #[arg(long, default_value = "fake")]
    pub tenant: String,
    /// Start: RFC 3339, unix seconds (fractions allowed) or unix nanoseconds.
    #[arg(long)]
    pub from: Option<String>,
    /// End (exclusive for log queries); same formats. Default: now.
    #[arg(long)]
    pub to: Option<String>,
    /// Instant query at this time (like /loki/api/v1/query) instead of a range.
    #[arg(long, conflicts_with_all = ["from", "to", "step"])]
    pub time: Option<String>,
    /// Max entries of a log query.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Direction of a log query.
    #[arg(long, value_enum, default_value = "backward")]
    pub direction: DirArg,
    /// Step of a metric query: a duration (1m) or seconds (60). Default as Loki's.
    #[arg(long)]
    pub step: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "loki-json")]
    pub output: Output,
    /// Report structured metadata and parsed labels per entry (Loki's
    /// `X-Loki-Response-Encoding-Flags: categorize-labels`).
    #[arg(long)]
    pub categorize_labels: bool,
    #[command(flatten)]
    pub deletes: crate::deletes::DeleteArgs,
    /// The LogQL query.
    pub query: String,
}

/// Feeds the evaluator from the bucket.
pub struct BucketSource<'a> {
    pub reader: &'a mut StoreReader,
    /// Log queries stop each chunk at its indexed `through` (see `select_inner`).
    pub log_query: bool,
    /// Instant queries: Loki splits the range into 1h parts ending at this time; a part
    /// that straddles midnight consults both days' tables.
    pub split_anchor: Option<i64>,
    /// Delete requests not yet processed: their lines are hidden.
    pub deletes: Arc<crate::deletes::PendingDeletes>,
}

/// Loki's default `split_queries_by_interval`.
const SPLIT_NS: i64 = 3_600 * 1_000_000_000;

/// Whether an entry at `ts` can be found through the tables listing its chunk (`days`).
fn visible(ts: i64, days: &[i64], split_anchor: Option<i64>) -> bool {
    let day = ts.div_euclid(NS_PER_DAY);
    if days.contains(&day) {
        return true;
    }
    let Some(t) = split_anchor else { return false };
    if ts > t {
        return false;
    }
    // The part (hi - 1h, hi] holding `ts` reads every table it overlaps.
    let k = (t - ts + SPLIT_NS - 1) / SPLIT_NS;
    let hi = t - (k - 1).max(0) * SPLIT_NS;
    let lo = hi - SPLIT_NS + 1;
    (lo.div_euclid(NS_PER_DAY)..=hi.div_euclid(NS_PER_DAY)).any(|d| days.contains(&d))
}

impl Source for BucketSource<'_> {
    fn select(
        &mut self,
        log: &LogExpr,
        from_ns: i64,
        through_ns: i64,
    ) -> loki_logql::Result<Vec<InputStream>> {
        self.select_inner(log, from_ns, through_ns)
            .map_err(|e| loki_logql::Error::Eval(format!("{e:#}")))
    }
}

impl BucketSource<'_> {
    /// Streams whose entries are fetched and decoded only when the evaluator reads them,
    /// one stream at a time, so memory holds one stream's chunks rather than the query's.
    fn select_inner(
        &mut self,
        log: &LogExpr,
        from_ns: i64,
        through_ns: i64,
    ) -> Result<Vec<InputStream>> {
        let streams = self.reader.select(&log.matchers, from_ns, through_ns)?;
        let fetcher = self.reader.fetcher();
        // Line filters ahead of any parser or formatter see the stored line: apply them
        // while decoding, before structured metadata is resolved.
        let prefilter: Arc<Vec<Stage>> = Arc::new(
            log.stages
                .iter()
                .take_while(|s| matches!(s, Stage::LineFilter { .. }))
                .cloned()
                .collect(),
        );
        Ok(streams
            .into_iter()
            .map(|stream| {
                let labels = stream.labels.clone();
                let read = StreamRead {
                    fetcher: fetcher.clone(),
                    stream,
                    from_ns,
                    through_ns,
                    log_query: self.log_query,
                    split_anchor: self.split_anchor,
                    deletes: Arc::clone(&self.deletes),
                    prefilter: Arc::clone(&prefilter),
                };
                InputStream {
                    labels,
                    entries: Box::new(LazyEntries::Pending(Box::new(read))),
                }
            })
            .collect())
    }
}

/// Everything needed to read one stream later.
struct StreamRead {
    fetcher: ChunkFetcher,
    stream: StreamChunks,
    from_ns: i64,
    through_ns: i64,
    log_query: bool,
    split_anchor: Option<i64>,
    deletes: Arc<crate::deletes::PendingDeletes>,
    prefilter: Arc<Vec<Stage>>,
}

/// Whether a stored line passes the leading line filters.
fn passes(filters: &[Stage], line: &[u8]) -> bool {
    filters.iter().all(|f| match f {
        Stage::LineFilter(f) => f.keeps(&String::from_utf8_lossy(line)),
        _ => true,
    })
}

enum LazyEntries {
    Pending(Box<StreamRead>),
    Ready(std::vec::IntoIter<InputEntry>),
    Done,
}

impl Iterator for LazyEntries {
    type Item = loki_logql::Result<InputEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if let LazyEntries::Pending(read) = self {
            match read.load() {
                Ok(v) => *self = LazyEntries::Ready(v.into_iter()),
                Err(e) => {
                    *self = LazyEntries::Done;
                    return Some(Err(loki_logql::Error::Eval(format!("{e:#}"))));
                }
            }
        }
        match self {
            LazyEntries::Ready(it) => it.next().map(Ok),
            _ => None,
        }
    }
}

impl StreamRead {
    fn load(&self) -> Result<Vec<InputEntry>> {
        let s = &self.stream;
        let (from_ns, through_ns) = (self.from_ns, self.through_ns);
        let bodies = self.fetcher.fetch(&s.chunks)?;
        let applicable = self.deletes.for_stream(&s.labels);
        let mut entries = Vec::new();
        for (((_, c), days), body) in s.chunks.iter().zip(&s.days).zip(bodies) {
            let obj = ChunkObject::decode(body).with_context(|| format!("chunk {c:?}"))?;
            let chunk = obj.chunk()?;
            // For log queries Loki reads a chunk only up to its indexed `through` (ms),
            // exclusive: an entry exactly at that instant is not returned (the golden
            // answers show it); metric queries do count it.
            let chunk_through = if self.log_query {
                c.through_ms.saturating_mul(1_000_000)
            } else {
                i64::MAX
            };
            let filters = &self.prefilter;
            let it = chunk.iter_filtered(
                IterOptions {
                    from_ns,
                    through_ns: Some(through_ns.min(chunk_through)),
                    ..Default::default()
                },
                |line| passes(filters, line),
            );
            for e in it {
                let e = e?;
                if !visible(e.timestamp_ns, days, self.split_anchor) {
                    continue;
                }
                let entry = InputEntry {
                    ts: e.timestamp_ns,
                    line: String::from_utf8_lossy(&e.line).into_owned(),
                    metadata: e
                        .structured_metadata
                        .iter()
                        .filter_map(|(n, v)| {
                            Some((
                                loki_chunk::normalize_metadata_name(&String::from_utf8_lossy(n))?,
                                String::from_utf8_lossy(v).into_owned(),
                            ))
                        })
                        .collect(),
                };
                if !applicable.is_empty()
                    && self.deletes.deleted(
                        &applicable,
                        &s.labels,
                        entry.ts,
                        &entry.line,
                        &entry.metadata,
                    )
                {
                    continue;
                }
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}

/// Index tables are one day long (TSDB's fixed period).
const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Runs `query`.
pub fn run(a: QueryArgs) -> Result<ExitCode> {
    let expr = parse(&a.query).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (params, _) = params(&a, &expr)?;
    let mut reader = StoreReader::open(&a.store, &a.tenant)?;
    let deletes = crate::deletes::PendingDeletes::load(&a.deletes, &reader, &a.tenant)?;
    let result = evaluate(
        &expr,
        &mut BucketSource {
            reader: &mut reader,
            log_query: matches!(expr, Expr::Log(_)),
            split_anchor: params.instant.then_some(params.start_ns),
            deletes: Arc::new(deletes),
        },
        &params,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match print(&result, a.output, &mut out).and_then(|()| out.flush().map_err(Into::into)) {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => {}
        r => r?,
    }
    Ok(ExitCode::SUCCESS)
}

fn params(a: &QueryArgs, expr: &Expr) -> Result<(QueryParams, ())> {
    let direction = match a.direction {
        DirArg::Backward => Direction::Backward,
        DirArg::Forward => Direction::Forward,
    };
    let parse_t = |s: &str| parse_time_ns(s).map_err(|e| anyhow::anyhow!(e));
    if let Some(t) = &a.time {
        let t = parse_t(t)?;
        if matches!(expr, Expr::Log(_)) {
            bail!("--time runs an instant query, which needs a metric query");
        }
        return Ok((
            QueryParams {
                start_ns: t,
                end_ns: t,
                step_ns: 0,
                limit: a.limit,
                direction,
                categorize: a.categorize_labels,
                instant: true,
            },
            (),
        ));
    }
    let end = match &a.to {
        Some(t) => parse_t(t)?,
        None => now_ns(),
    };
    let start = match &a.from {
        Some(t) => parse_t(t)?,
        None => end - 3_600_000_000_000,
    };
    if end < start {
        bail!("--to is before --from");
    }
    let step = match &a.step {
        Some(s) => parse_step_ns(s).map_err(|e| anyhow::anyhow!(e))?,
        // Loki's default: (end - start) / 250, in whole seconds, at least 1s.
        None => (((end - start) / 1_000_000_000) / 250).max(1) * 1_000_000_000,
    };
    if step <= 0 {
        bail!("--step must be positive");
    }
    // Loki's query frontend aligns metric range queries to the step: the start down, the
    // end up (the golden answers carry a point after an unaligned `end`).
    let (start, end) = if matches!(expr, Expr::Metric(_)) {
        let up = end.div_euclid(step) * step + if end.rem_euclid(step) > 0 { step } else { 0 };
        (start.div_euclid(step) * step, up)
    } else {
        (start, end)
    };
    Ok((
        QueryParams {
            start_ns: start,
            end_ns: end,
            step_ns: step,
            limit: a.limit,
            direction,
            categorize: a.categorize_labels,
            instant: false,
        },
        (),
    ))
}

fn labels_json(l: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(
        l.iter()
            .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

fn print(r: &QueryResult, output: Output, out: &mut impl Write) -> Result<()> {
    match output {
        Output::LokiJson => writeln!(out, "{}", r.to_loki_json())?,
        Output::Jsonl | Output::Raw => match r {
            QueryResult::Streams { streams, .. } => {
                for s in streams {
                    for e in &s.entries {
                        if output == Output::Raw {
                            writeln!(out, "{}", e.line)?;
                        } else {
                            let v = serde_json::json!({
                                "ts": e.ts.to_string(), "labels": labels_json(&s.labels), "line": e.line,
                                "structured_metadata": labels_json(&e.structured_metadata),
                                "parsed": labels_json(&e.parsed),
                            });
                            writeln!(out, "{v}")?;
                        }
                    }
                }
            }
            QueryResult::Matrix(series) => {
                for s in series {
                    for (t, v) in &s.points {
                        sample(out, output, &s.metric, *t, *v)?;
                    }
                }
            }
            QueryResult::Vector(samples) => {
                for (l, t, v) in samples {
                    sample(out, output, l, *t, *v)?;
                }
            }
            QueryResult::Scalar(t, v) => sample(out, output, &[], *t, *v)?,
        },
    }
    Ok(())
}

fn sample(
    out: &mut impl Write,
    output: Output,
    l: &[(String, String)],
    ms: i64,
    v: f64,
) -> Result<()> {
    let value = loki_logql::format_float(v);
    if output == Output::Raw {
        writeln!(
            out,
            "{} {} {value}",
            loki_logql::labels_string(l),
            ms as f64 / 1000.0
        )?;
    } else {
        writeln!(
            out,
            "{}",
            serde_json::json!({"metric": labels_json(l), "ts": ms as f64 / 1000.0, "value": value})
        )?;
    }
    Ok(())
}
