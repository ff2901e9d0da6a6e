//! Evaluating queries over entry streams supplied by a [`Source`].
use std::collections::HashMap;

use crate::ast::*;
use crate::error::{Error, Result};
use crate::labels::{labels_string, LabelPairs, LabelsBuilder};
use crate::result::{OutEntry, QueryResult, Series, StreamResult};

/// One entry handed to the evaluator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputEntry {
    /// Timestamp (ns).
    pub ts: i64,
    /// The line.
    pub line: String,
    /// Structured metadata.
    pub metadata: LabelPairs,
}

/// One stream: labels and its entries (any order; duplicates of `(ts, line)` are dropped).
pub struct InputStream {
    /// Stream labels, sorted.
    pub labels: LabelPairs,
    /// The entries.
    pub entries: Box<dyn Iterator<Item = Result<InputEntry>> + Send>,
}

impl std::fmt::Debug for InputStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputStream")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// Where the evaluator gets entries from.
pub trait Source {
    /// Streams matching `log.matchers` with entries in `[from_ns, through_ns)`.
    fn select(&mut self, log: &LogExpr, from_ns: i64, through_ns: i64) -> Result<Vec<InputStream>>;
}

/// Direction of a log query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default).
    #[default]
    Backward,
}

/// Parameters of a query, as `query_range` takes them.
#[derive(Debug, Clone, Copy)]
pub struct QueryParams {
    /// Start (ns), inclusive.
    pub start_ns: i64,
    /// End (ns): exclusive for log queries, the last step for metric queries.
    pub end_ns: i64,
    /// Step (ns) of metric queries; 0 for an instant query.
    pub step_ns: i64,
    /// Max entries of a log query.
    pub limit: usize,
    /// Direction of a log query.
    pub direction: Direction,
    /// Report structured metadata and parsed labels per entry (`categorize-labels`).
    pub categorize: bool,
    /// Instant query (`/loki/api/v1/query`): a vector at `start_ns`.
    pub instant: bool,
}

/// Evaluates a parsed query.
pub fn evaluate(expr: &Expr, src: &mut dyn Source, p: &QueryParams) -> Result<QueryResult> {
    match expr {
        Expr::Log(l) => eval_log(l, src, p),
        Expr::Metric(m) => eval_metric(m, src, p),
    }
}

fn read_stream(s: InputStream) -> Result<(LabelPairs, Vec<InputEntry>)> {
    let mut v: Vec<InputEntry> = s.entries.collect::<Result<_>>()?;
    v.sort_by_key(|e| e.ts);
    v.dedup_by(|a, b| a.ts == b.ts && a.line == b.line);
    Ok((s.labels, v))
}

fn eval_log(l: &LogExpr, src: &mut dyn Source, p: &QueryParams) -> Result<QueryResult> {
    let streams = src.select(l, p.start_ns, p.end_ns)?;
    // Output streams by their label string, with the entries that survived.
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut outs: Vec<(String, LabelPairs)> = Vec::new();
    // Entries of one timestamp are ordered by their full label set (stream labels,
    // structured metadata and parsed labels), as Loki's merge of its internal streams is.
    let mut full_keys: HashMap<String, usize> = HashMap::new();
    let mut full_names: Vec<String> = Vec::new();
    let mut picked: Vec<Picked> = Vec::new();
    let mut seq = 0u64;
    let limit = p.limit.max(1);
    let backward = p.direction == Direction::Backward;
    let order = |v: &mut Vec<Picked>, names: &Vec<String>| {
        v.sort_by(|a, b| {
            let t = if backward {
                b.0.cmp(&a.0)
            } else {
                a.0.cmp(&b.0)
            };
            t.then_with(|| names[a.4].cmp(&names[b.4]))
                .then(a.2.cmp(&b.2))
        });
    };
    for s in streams {
        let (labels, entries) = read_stream(s)?;
        let mut lbs = LabelsBuilder::new(&labels, &[]);
        let iter: Box<dyn Iterator<Item = &InputEntry>> = if backward {
            Box::new(entries.iter().rev())
        } else {
            Box::new(entries.iter())
        };
        for e in iter {
            if e.ts < p.start_ns || e.ts >= p.end_ns {
                continue;
            }
            lbs.reset(&e.metadata);
            let Some(line) = crate::pipeline::run(&l.stages, e.ts, &e.line, &mut lbs) else {
                continue;
            };
            let full = lbs.all();
            let fidx = intern(&mut full_keys, &mut full_names, labels_string(&full));
            let (key_labels, sm, parsed) = if p.categorize {
                lbs.categorized()
            } else {
                (full, Vec::new(), Vec::new())
            };
            let key = labels_string(&key_labels);
            let idx = match keys.get(&key) {
                Some(&i) => i,
                None => {
                    outs.push((key.clone(), key_labels));
                    keys.insert(key, outs.len() - 1);
                    outs.len() - 1
                }
            };
            seq += 1;
            let entry = OutEntry {
                ts: e.ts,
                line: line.into_owned(),
                structured_metadata: sm,
                parsed,
            };
            picked.push((e.ts, idx, seq, entry, fidx));
            if picked.len() >= limit * 2 + 4096 {
                order(&mut picked, &full_names);
                picked.truncate(limit);
            }
        }
    }
    order(&mut picked, &full_names);
    picked.truncate(limit);
    let mut by_stream: HashMap<usize, Vec<OutEntry>> = HashMap::new();
    for (_, idx, _, e, _) in picked {
        by_stream.entry(idx).or_default().push(e);
    }
    let mut result: Vec<(String, StreamResult)> = by_stream
        .into_iter()
        .map(|(idx, entries)| {
            let (key, labels) = outs[idx].clone();
            (key, StreamResult { labels, entries })
        })
        .collect();
    result.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(QueryResult::Streams {
        streams: result.into_iter().map(|(_, s)| s).collect(),
        categorized: p.categorize,
    })
}

fn intern(map: &mut HashMap<String, usize>, names: &mut Vec<String>, key: String) -> usize {
    if let Some(&i) = map.get(&key) {
        return i;
    }
    names.push(key.clone());
    map.insert(key, names.len() - 1);
    names.len() - 1
}

/// A candidate entry: ts, output stream, arrival, entry, full-label key.
type Picked = (i64, usize, u64, OutEntry, usize);

/// A series' labels and its `(ts, value)` samples.
type SeriesSamples = (LabelPairs, Vec<(i64, f64)>);

/// Samples at one step: labels and value.
type Vector = Vec<(LabelPairs, f64)>;

enum Value {
    Scalar(f64),
    Vectors(Vec<Vector>),
}

fn steps(p: &QueryParams) -> Vec<i64> {
    if p.instant || p.step_ns <= 0 {
        return vec![p.start_ns];
    }
    let mut out = Vec::new();
    let mut t = p.start_ns;
    while t <= p.end_ns {
        out.push(t);
        t += p.step_ns;
    }
    out
}

fn eval_metric(m: &MetricExpr, src: &mut dyn Source, p: &QueryParams) -> Result<QueryResult> {
    let ts = steps(p);
    let v = eval_value(m, src, &ts)?;
    let vectors = match v {
        Value::Scalar(x) => {
            if p.instant {
                return Ok(QueryResult::Scalar(p.start_ns / 1_000_000, x));
            }
            ts.iter().map(|_| vec![(Vec::new(), x)]).collect()
        }
        Value::Vectors(v) => v,
    };
    if p.instant {
        let mut out: Vec<(LabelPairs, i64, f64)> = vectors
            .into_iter()
            .next()
            .unwrap_or_default()
            .into_iter()
            .map(|(l, v)| (l, p.start_ns / 1_000_000, v))
            .collect();
        // `sort`/`sort_desc` at the top decide the order of an instant vector.
        if !matches!(m, MetricExpr::Sort { .. }) {
            out.sort_by(|a, b| cmp_labels(&a.0, &b.0));
        }
        return Ok(QueryResult::Vector(out));
    }
    let mut series: HashMap<String, Series> = HashMap::new();
    for (t, vec) in ts.iter().zip(vectors) {
        for (l, v) in vec {
            series
                .entry(labels_string(&l))
                .or_insert_with(|| Series {
                    metric: l,
                    points: Vec::new(),
                })
                .points
                .push((t / 1_000_000, v));
        }
    }
    let mut out: Vec<Series> = series.into_values().collect();
    out.sort_by(|a, b| cmp_labels(&a.metric, &b.metric));
    Ok(QueryResult::Matrix(out))
}

/// Prometheus' label-set order: pairwise by name, then value; shorter first.
fn cmp_labels(a: &LabelPairs, b: &LabelPairs) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let o = x.0.cmp(&y.0).then_with(|| x.1.cmp(&y.1));
        if o.is_ne() {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn eval_value(m: &MetricExpr, src: &mut dyn Source, ts: &[i64]) -> Result<Value> {
    match m {
        MetricExpr::Scalar(x) => Ok(Value::Scalar(*x)),
        MetricExpr::VectorLit(x) => Ok(Value::Vectors(
            ts.iter().map(|_| vec![(Vec::new(), *x)]).collect(),
        )),
        MetricExpr::Sort { desc, inner } => {
            let Value::Vectors(mut vs) = eval_value(inner, src, ts)? else {
                return Err(Error::Eval("sort needs a vector, got a scalar".into()));
            };
            for v in &mut vs {
                sort_by_value(v, *desc);
            }
            Ok(Value::Vectors(vs))
        }
        MetricExpr::LabelReplace {
            inner,
            dst,
            replacement,
            src: src_label,
            re,
        } => {
            let Value::Vectors(vs) = eval_value(inner, src, ts)? else {
                return Err(Error::Eval(
                    "label_replace needs a vector, got a scalar".into(),
                ));
            };
            let out = vs
                .into_iter()
                .map(|v| label_replace(v, dst, replacement, src_label, re))
                .collect::<Result<Vec<_>>>()?;
            Ok(Value::Vectors(out))
        }
        MetricExpr::Range(r) => Ok(Value::Vectors(eval_range(r, src, ts)?)),
        MetricExpr::Vector {
            op,
            param,
            grouping,
            inner,
        } => {
            let Value::Vectors(vs) = eval_value(inner, src, ts)? else {
                return Err(Error::Eval("vector aggregation over a scalar".into()));
            };
            Ok(Value::Vectors(
                vs.into_iter()
                    .map(|v| vector_agg(*op, *param, grouping.as_ref(), v))
                    .collect(),
            ))
        }
        MetricExpr::Binary {
            op,
            return_bool,
            matching,
            lhs,
            rhs,
        } => {
            let l = eval_value(lhs, src, ts)?;
            let r = eval_value(rhs, src, ts)?;
            binary(*op, *return_bool, matching.as_ref(), l, r)
        }
    }
}

fn group_labels(l: &LabelPairs, g: &Grouping) -> LabelPairs {
    if g.without {
        l.iter()
            .filter(|(n, _)| !g.labels.contains(n) && n != "__name__")
            .cloned()
            .collect()
    } else {
        l.iter()
            .filter(|(n, _)| g.labels.contains(n))
            .cloned()
            .collect()
    }
}

fn eval_range(r: &RangeAgg, src: &mut dyn Source, ts: &[i64]) -> Result<Vec<Vector>> {
    let (Some(&first), Some(&last)) = (ts.first(), ts.last()) else {
        return Ok(Vec::new());
    };
    let from = first - r.offset_ns - r.range_ns + 1;
    let through = last - r.offset_ns + 1;
    let streams = src.select(&r.log, from, through)?;
    let mut series: HashMap<String, (LabelPairs, Vec<(i64, f64)>)> = HashMap::new();
    for s in streams {
        let (labels, entries) = read_stream(s)?;
        let mut lbs = LabelsBuilder::new(&labels, &[]);
        for e in &entries {
            if e.ts < from || e.ts >= through {
                continue;
            }
            lbs.reset(&e.metadata);
            let Some(line) = crate::pipeline::run(&r.log.stages, e.ts, &e.line, &mut lbs) else {
                continue;
            };
            let value = match (&r.unwrap, r.op) {
                (Some(u), _) => match crate::pipeline::unwrap_value(u, &mut lbs) {
                    Some(v) => v,
                    None => continue,
                },
                (None, RangeOp::BytesOverTime | RangeOp::BytesRate) => line.len() as f64,
                (None, _) => 1.0,
            };
            let mut l = lbs.all();
            // As in Loki, samples may not carry pipeline errors unless the query filters
            // them out (`| __error__=""`); grouping must not hide them.
            if lbs.has_error() {
                let kind = lbs.get(crate::labels::ERROR_LABEL).unwrap_or_default();
                return Err(Error::Eval(format!(
                    "pipeline error: '{kind}' for series: '{}'. Filter it out with a label \
                     filter, e.g. | __error__!=\"{kind}\", or all errors with | __error__=\"\" \
                     (also allowed after unwrap)",
                    labels_string(&l)
                )));
            }
            if let Some(g) = &r.grouping {
                l = group_labels(&l, g);
            }
            let key = labels_string(&l);
            series
                .entry(key)
                .or_insert_with(|| (l, Vec::new()))
                .1
                .push((e.ts, value));
        }
    }
    let mut all: Vec<(String, SeriesSamples)> = series.into_iter().collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, (_, samples)) in all.iter_mut() {
        samples.sort_by_key(|s| s.0);
    }
    let range_secs = r.range_ns as f64 / 1e9;
    let mut out = Vec::with_capacity(ts.len());
    for &t in ts {
        let hi = t - r.offset_ns;
        let lo = hi - r.range_ns;
        let mut vec = Vector::new();
        for (_, (labels, samples)) in &all {
            let a = samples.partition_point(|s| s.0 <= lo);
            let b = samples.partition_point(|s| s.0 <= hi);
            if a >= b {
                continue;
            }
            let w: Vec<f64> = samples[a..b].iter().map(|s| s.1).collect();
            let v = range_fn(r.op, r.param, &w, range_secs);
            if r.op != RangeOp::AbsentOverTime {
                vec.push((labels.clone(), v));
            }
        }
        if r.op == RangeOp::AbsentOverTime {
            vec.clear();
            let any = all.iter().any(|(_, (_, s))| {
                let a = s.partition_point(|x| x.0 <= lo);
                let b = s.partition_point(|x| x.0 <= hi);
                a < b
            });
            if !any {
                let mut l: LabelPairs = r
                    .log
                    .matchers
                    .iter()
                    .filter(|m| m.op == MatchOp::Eq)
                    .map(|m| (m.name.clone(), m.value.clone()))
                    .collect();
                l.sort();
                l.dedup_by(|a, b| a.0 == b.0);
                vec.push((l, 1.0));
            }
        }
        out.push(vec);
    }
    Ok(out)
}

fn range_fn(op: RangeOp, param: Option<f64>, w: &[f64], range_secs: f64) -> f64 {
    let n = w.len() as f64;
    match op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate => n / range_secs,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => w.iter().sum(),
        RangeOp::BytesRate | RangeOp::RateCounter => w.iter().sum::<f64>() / range_secs,
        RangeOp::AvgOverTime => {
            let mut mean = 0.0;
            let mut count = 0.0;
            for v in w {
                count += 1.0;
                mean += v / count - mean / count;
            }
            mean
        }
        RangeOp::MinOverTime => {
            w.iter()
                .copied()
                .fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a })
        }
        RangeOp::MaxOverTime => {
            w.iter()
                .copied()
                .fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a })
        }
        RangeOp::StddevOverTime => variance(w).sqrt(),
        RangeOp::StdvarOverTime => variance(w),
        RangeOp::QuantileOverTime => quantile(param.unwrap_or(0.5), w),
        RangeOp::FirstOverTime => w[0],
        RangeOp::LastOverTime => w[w.len() - 1],
        RangeOp::AbsentOverTime => 1.0,
    }
}

fn variance(w: &[f64]) -> f64 {
    let (mut count, mut mean, mut m2) = (0.0, 0.0, 0.0);
    for v in w {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
    }
    m2 / count
}

/// Prometheus' quantile with linear interpolation between closest ranks.
fn quantile(q: f64, w: &[f64]) -> f64 {
    if w.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut v = w.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = v.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    v[lower as usize] * (1.0 - weight) + v[upper as usize] * weight
}

fn vector_agg(op: VecOp, param: Option<f64>, g: Option<&Grouping>, v: Vector) -> Vector {
    let key_of = |l: &LabelPairs| -> LabelPairs {
        match g {
            Some(g) => group_labels(l, g),
            None => Vec::new(),
        }
    };
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, (LabelPairs, Vec<(LabelPairs, f64)>)> = HashMap::new();
    for (l, x) in v {
        let k = key_of(&l);
        let ks = labels_string(&k);
        let e = groups.entry(ks.clone()).or_insert_with(|| {
            order.push(ks);
            (k, Vec::new())
        });
        e.1.push((l, x));
    }
    let mut out = Vector::new();
    for ks in order {
        let Some((k, members)) = groups.remove(&ks) else {
            continue;
        };
        let vals: Vec<f64> = members.iter().map(|m| m.1).collect();
        match op {
            VecOp::Topk | VecOp::Bottomk => {
                let kk = param.unwrap_or(1.0).max(0.0) as usize;
                let mut ms = members;
                ms.sort_by(|a, b| {
                    let o = a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal);
                    if op == VecOp::Topk {
                        o.reverse()
                    } else {
                        o
                    }
                });
                ms.truncate(kk);
                out.extend(ms);
            }
            _ => {
                let x = match op {
                    VecOp::Sum => vals.iter().fold(0.0, |a, b| a + b),
                    VecOp::Avg => {
                        let mut mean = 0.0;
                        let mut c = 0.0;
                        for v in &vals {
                            c += 1.0;
                            mean += v / c - mean / c;
                        }
                        mean
                    }
                    VecOp::Count => vals.len() as f64,
                    VecOp::Min => {
                        vals.iter()
                            .copied()
                            .fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a })
                    }
                    VecOp::Max => {
                        vals.iter()
                            .copied()
                            .fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a })
                    }
                    VecOp::Stddev => variance(&vals).sqrt(),
                    VecOp::Stdvar => variance(&vals),
                    VecOp::Topk | VecOp::Bottomk => unreachable_value(),
                };
                out.push((k, x));
            }
        }
    }
    out
}

/// Placeholder for arms handled above (never used as a value).
fn unreachable_value() -> f64 {
    f64::NAN
}

fn apply(op: BinOp, a: f64, b: f64) -> Option<f64> {
    Some(match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        BinOp::Eq => f64::from(u8::from(a == b)),
        BinOp::Neq => f64::from(u8::from(a != b)),
        BinOp::Gt => f64::from(u8::from(a > b)),
        BinOp::Ge => f64::from(u8::from(a >= b)),
        BinOp::Lt => f64::from(u8::from(a < b)),
        BinOp::Le => f64::from(u8::from(a <= b)),
        BinOp::And | BinOp::Or | BinOp::Unless => return None,
    })
}

fn is_cmp(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le
    )
}

/// One side scalar: comparisons filter (keeping the vector's value) unless `bool`.
fn vec_scalar(op: BinOp, rb: bool, v: Vector, s: f64, scalar_left: bool) -> Vector {
    v.into_iter()
        .filter_map(|(l, x)| {
            let (a, b) = if scalar_left { (s, x) } else { (x, s) };
            let r = apply(op, a, b)?;
            if is_cmp(op) && !rb {
                (r != 0.0).then_some((l, x))
            } else {
                Some((l, r))
            }
        })
        .collect()
}

fn binary(
    op: BinOp,
    rb: bool,
    matching: Option<&VectorMatching>,
    l: Value,
    r: Value,
) -> Result<Value> {
    Ok(match (l, r) {
        (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(
            apply(op, a, b).ok_or_else(|| Error::Eval("set operators need vectors".into()))?,
        ),
        (Value::Vectors(v), Value::Scalar(s)) => Value::Vectors(
            v.into_iter()
                .map(|x| vec_scalar(op, rb, x, s, false))
                .collect(),
        ),
        (Value::Scalar(s), Value::Vectors(v)) => Value::Vectors(
            v.into_iter()
                .map(|x| vec_scalar(op, rb, x, s, true))
                .collect(),
        ),
        (Value::Vectors(a), Value::Vectors(b)) => Value::Vectors(
            a.into_iter()
                .zip(b)
                .map(|(x, y)| vec_vec(op, rb, matching, x, y))
                .collect::<Result<Vec<_>>>()?,
        ),
    })
}

/// The labels two samples are matched on: all of them by default, only the `on(…)`
/// labels, or all but the `ignoring(…)` ones.
fn signature(l: &LabelPairs, m: Option<&VectorMatching>) -> String {
    match m {
        None => labels_string(l),
        Some(m) => {
            let kept: LabelPairs = l
                .iter()
                .filter(|(n, _)| m.labels.contains(n) == m.on)
                .cloned()
                .collect();
            labels_string(&kept)
        }
    }
}

/// Vector-to-vector operation with Prometheus' matching rules.
fn vec_vec(
    op: BinOp,
    rb: bool,
    m: Option<&VectorMatching>,
    a: Vector,
    b: Vector,
) -> Result<Vector> {
    match op {
        BinOp::And | BinOp::Unless => {
            let rhs: std::collections::HashSet<String> =
                b.iter().map(|(l, _)| signature(l, m)).collect();
            let keep_found = op == BinOp::And;
            return Ok(a
                .into_iter()
                .filter(|(l, _)| rhs.contains(&signature(l, m)) == keep_found)
                .collect());
        }
        BinOp::Or => {
            let lhs: std::collections::HashSet<String> =
                a.iter().map(|(l, _)| signature(l, m)).collect();
            let mut out = a;
            out.extend(
                b.into_iter()
                    .filter(|(l, _)| !lhs.contains(&signature(l, m))),
            );
            return Ok(out);
        }
        _ => {}
    }
    let side = m.and_then(|m| m.group.as_ref().map(|g| g.0));
    // The "many" side keeps its labels; the "one" side must be unique per signature.
    let (many, one, one_name) = match side {
        Some(GroupSide::Right) => (b, a, "left"),
        _ => (a, b, "right"),
    };
    let mut ones: HashMap<String, (LabelPairs, f64)> = HashMap::new();
    for (l, x) in one {
        let sig = signature(&l, m);
        if ones.contains_key(&sig) {
            return Err(Error::Eval(format!(
                "found duplicate series for the match group {sig} on the {one_name} hand-side \
                 of the operation; many-to-many matching not allowed: matching labels must be \
                 unique on one side"
            )));
        }
        ones.insert(sig, (l, x));
    }
    let mut seen_many: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut seen_out: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut out = Vector::new();
    for (l, x) in many {
        let sig = signature(&l, m);
        let Some((ol, ox)) = ones.get(&sig) else {
            continue;
        };
        if side.is_none() && !seen_many.insert(sig.clone()) {
            return Err(Error::Eval(format!(
                "multiple matches for labels {sig}: many-to-one matching must be explicit \
                 (group_left/group_right)"
            )));
        }
        // Operands in the order written.
        let (vl, vr) = if side == Some(GroupSide::Right) {
            (*ox, x)
        } else {
            (x, *ox)
        };
        let Some(r) = apply(op, vl, vr) else {
            continue;
        };
        let value = if is_cmp(op) && !rb {
            if r == 0.0 {
                continue;
            }
            vl
        } else {
            r
        };
        let labels = result_labels(l, ol, m);
        if side.is_some() && !seen_out.insert(labels_string(&labels)) {
            return Err(Error::Eval(format!(
                "multiple matches for labels {}: grouping labels must ensure unique matches",
                labels_string(&labels)
            )));
        }
        out.push((labels, value));
    }
    Ok(out)
}

/// Labels of a binary result: one-to-one keeps the matched labels only; group_left /
/// group_right keep the "many" side's labels plus the listed labels of the "one" side.
fn result_labels(many: LabelPairs, one: &LabelPairs, m: Option<&VectorMatching>) -> LabelPairs {
    let Some(m) = m else {
        return many;
    };
    let mut l = many;
    match &m.group {
        None => l.retain(|(n, _)| m.labels.contains(n) == m.on),
        Some((_, include)) => {
            for name in include {
                l.retain(|(n, _)| n != name);
                if let Some((_, v)) = one.iter().find(|(n, _)| n == name) {
                    if !v.is_empty() {
                        l.push((name.clone(), v.clone()));
                    }
                }
            }
            l.sort();
        }
    }
    l
}

/// Orders by value, NaN last either way.
fn sort_by_value(v: &mut Vector, desc: bool) {
    v.sort_by(|a, b| match (a.1.is_nan(), b.1.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => {
            let o = a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal);
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    });
}

/// Prometheus' label_replace on one vector: when `re` matches the value of `src`
/// (absent = ""), `dst` becomes the expanded replacement (removed when empty).
fn label_replace(
    v: Vector,
    dst: &str,
    replacement: &str,
    src: &str,
    re: &regex::Regex,
) -> Result<Vector> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vector::with_capacity(v.len());
    for (mut l, x) in v {
        let value = l
            .iter()
            .find(|(n, _)| n == src)
            .map_or("", |(_, v)| v.as_str())
            .to_owned();
        if let Some(c) = re.captures(&value) {
            let mut res = String::new();
            c.expand(replacement, &mut res);
            l.retain(|(n, _)| n != dst);
            if !res.is_empty() {
                l.push((dst.to_owned(), res));
                l.sort();
            }
        }
        if !seen.insert(labels_string(&l)) {
            return Err(Error::Eval(format!(
                "vector cannot contain metrics with the same labelset {}",
                labels_string(&l)
            )));
        }
        out.push((l, x));
    }
    Ok(out)
}
