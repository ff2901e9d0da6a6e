//! The syntax tree of a LogQL query.
use regex::Regex;

use crate::template::Template;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~` (anchored)
    Re,
    /// `!~` (anchored)
    Nre,
}

/// A label matcher of a stream selector or a string label filter.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// Right-hand side as written.
    pub value: String,
    /// Anchored regex for `=~`/`!~`.
    pub re: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher, compiling the regex anchored as Prometheus does.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, regex::Error> {
        let re = match op {
            MatchOp::Re | MatchOp::Nre => Some(Regex::new(&format!("^(?s:{value})$"))?),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            re,
        })
    }

    /// Whether `v` (the label's value, `""` when absent) matches.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Eq => v == self.value,
            MatchOp::Neq => v != self.value,
            MatchOp::Re => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::Nre => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

/// Line filter operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Match,
    /// `!~`
    NotMatch,
    /// `|>` (pattern)
    PatternMatch,
    /// `!>` (pattern)
    PatternNotMatch,
}

impl LineOp {
    /// `!=`, `!~`, `!>`: the line is kept when no alternative is found.
    pub fn is_negative(self) -> bool {
        matches!(
            self,
            LineOp::NotContains | LineOp::NotMatch | LineOp::PatternNotMatch
        )
    }
}

/// One alternative of a line filter (`|= "a" or "b"` has two).
#[derive(Debug, Clone)]
pub enum LineMatch {
    /// Substring (`|=`, `!=`).
    Literal(String),
    /// Unanchored regex (`|~`, `!~`).
    Regex(Regex),
    /// Pattern (`|>`, `!>`): literals in order, `<_>` matching anything.
    Pattern(crate::pattern::Pattern),
    /// `ip("…")`: some IP address in the line is in the range.
    Ip(crate::ip::IpRange),
}

impl LineMatch {
    /// Whether `line` has this alternative.
    pub fn found_in(&self, line: &str) -> bool {
        match self {
            LineMatch::Literal(s) => line.contains(s.as_str()),
            LineMatch::Regex(r) => r.is_match(line),
            LineMatch::Pattern(p) => p.matches(line).is_some(),
            LineMatch::Ip(r) => r.found_in_line(line),
        }
    }
}

/// A line filter stage: an operator and its `or` alternatives.
#[derive(Debug, Clone)]
pub struct LineFilter {
    /// Operator.
    pub op: LineOp,
    /// Alternatives; positive operators keep a line having any of them, negative ones a
    /// line having none.
    pub alternatives: Vec<LineMatch>,
}

impl LineFilter {
    /// `|= ""` / `|~ ""` (or an `or` chain with such an alternative): keeps every line.
    pub fn matches_everything(&self) -> bool {
        matches!(self.op, LineOp::Contains | LineOp::Match)
            && self.alternatives.iter().any(|m| match m {
                LineMatch::Literal(s) => s.is_empty(),
                LineMatch::Regex(r) => r.as_str().is_empty(),
                _ => false,
            })
    }

    /// Whether the filter keeps `line`.
    pub fn keeps(&self, line: &str) -> bool {
        let found = self.alternatives.iter().any(|m| m.found_in(line));
        found != self.op.is_negative()
    }
}

/// Numeric comparison in label filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==` or `=`
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CmpOp {
    /// Applies the comparison.
    pub fn apply(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Neq => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }
}

/// Kind of value a numeric label filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumKind {
    /// Plain number.
    Number,
    /// Duration (compared in seconds).
    Duration,
    /// Byte size.
    Bytes,
}

/// A label filter expression.
#[derive(Debug, Clone)]
pub enum LabelFilter {
    /// Both must hold.
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either holds.
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// String comparison.
    Str(Matcher),
    /// `name = ip("…")` (or `!=`): the label's value is an address in the range.
    Ip {
        /// Label name.
        name: String,
        /// `!=`: keep values that are not addresses in the range.
        negate: bool,
        /// The range.
        range: crate::ip::IpRange,
    },
    /// Numeric, duration or bytes comparison.
    Num {
        /// Label name.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Right-hand side (seconds for durations).
        value: f64,
        /// What to parse the label as.
        kind: NumKind,
    },
}

/// A `label_format` item.
#[derive(Debug, Clone)]
pub enum LabelFmt {
    /// `dst=src`: rename.
    Rename {
        /// New name.
        dst: String,
        /// Old name.
        src: String,
    },
    /// `dst="template"`.
    Template {
        /// Label to set.
        dst: String,
        /// Template.
        tmpl: Template,
    },
}

/// One pipeline stage.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `|= "x"` and friends.
    LineFilter(LineFilter),
    /// `| json` with optional `label="expr"` extractions.
    Json(Vec<(String, String)>),
    /// `| logfmt`, `| logfmt --strict --keep-empty`.
    Logfmt {
        /// Stop at the first syntax error and flag the line (default: skip bad tokens).
        strict: bool,
        /// Keep standalone keys (`key` without `=`) with an empty value.
        keep_empty: bool,
    },
    /// `| regexp "…"`.
    Regexp(Regex),
    /// `| pattern "…"`.
    Pattern(crate::pattern::Pattern),
    /// `| unpack` (treated as json of string values).
    Unpack,
    /// `| <label filter>`.
    LabelFilter(LabelFilter),
    /// `| line_format "…"`.
    LineFormat(Template),
    /// `| label_format …`.
    LabelFormat(Vec<LabelFmt>),
    /// `| drop a, b`.
    Drop(Vec<String>),
    /// `| keep a, b`.
    Keep(Vec<String>),
    /// `| decolorize`.
    Decolorize,
}

/// A log selector with its pipeline.
#[derive(Debug, Clone)]
pub struct LogExpr {
    /// Stream matchers.
    pub matchers: Vec<Matcher>,
    /// Pipeline stages in order.
    pub stages: Vec<Stage>,
}

/// How `unwrap` converts the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwrapConv {
    /// Plain float.
    None,
    /// `duration()`/`duration_seconds()`.
    Duration,
    /// `bytes()`.
    Bytes,
}

/// `| unwrap label` and the label filters after it.
#[derive(Debug, Clone)]
pub struct Unwrap {
    /// Label to take the sample value from.
    pub label: String,
    /// Conversion.
    pub conv: UnwrapConv,
    /// Label filters applied after the unwrap (e.g. `| __error__=""`).
    pub post: Vec<LabelFilter>,
}

/// `by (…)` / `without (…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// `without` instead of `by`.
    pub without: bool,
    /// Label names.
    pub labels: Vec<String>,
}

/// Range aggregation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    RateCounter,
    BytesOverTime,
    BytesRate,
    SumOverTime,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
    AbsentOverTime,
}

/// Vector aggregation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum VecOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Gt,
    Ge,
    Lt,
    Le,
    And,
    Or,
    Unless,
}

/// A range aggregation over a log selector.
#[derive(Debug, Clone)]
pub struct RangeAgg {
    /// Function.
    pub op: RangeOp,
    /// Parameter (quantile).
    pub param: Option<f64>,
    /// The selector and pipeline.
    pub log: LogExpr,
    /// `unwrap`, when present.
    pub unwrap: Option<Unwrap>,
    /// Window length (ns).
    pub range_ns: i64,
    /// `offset` (ns).
    pub offset_ns: i64,
    /// `by`/`without` inside the range aggregation.
    pub grouping: Option<Grouping>,
}

/// Which side of a vector match has many series per match group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSide {
    /// `group_left`: the left side is the "many" side.
    Left,
    /// `group_right`: the right side is.
    Right,
}

/// `on(…)`/`ignoring(…)` and `group_left(…)`/`group_right(…)` of a binary operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    /// `on` (match on these labels only) instead of `ignoring` (all but these).
    pub on: bool,
    /// The labels of `on`/`ignoring`.
    pub labels: Vec<String>,
    /// Many-to-one or one-to-many, with the labels copied from the "one" side.
    pub group: Option<(GroupSide, Vec<String>)>,
}

/// A metric (sample-producing) expression.
#[derive(Debug, Clone)]
pub enum MetricExpr {
    /// Range aggregation.
    Range(RangeAgg),
    /// Vector aggregation.
    Vector {
        /// Function.
        op: VecOp,
        /// `k` of topk/bottomk.
        param: Option<f64>,
        /// Grouping.
        grouping: Option<Grouping>,
        /// Operand.
        inner: Box<MetricExpr>,
    },
    /// Binary operation.
    Binary {
        /// Operator.
        op: BinOp,
        /// `bool` modifier on comparisons.
        return_bool: bool,
        /// `on`/`ignoring`/`group_*`; `None` matches identical label sets.
        matching: Option<VectorMatching>,
        /// Left side.
        lhs: Box<MetricExpr>,
        /// Right side.
        rhs: Box<MetricExpr>,
    },
    /// A number.
    Scalar(f64),
    /// `vector(x)`: one series without labels.
    VectorLit(f64),
    /// `sort(…)` / `sort_desc(…)`: orders an instant vector by value.
    Sort {
        /// `sort_desc`.
        desc: bool,
        /// Operand.
        inner: Box<MetricExpr>,
    },
    /// `label_replace(v, "dst", "replacement", "src", "regex")`.
    LabelReplace {
        /// Operand.
        inner: Box<MetricExpr>,
        /// Label to set.
        dst: String,
        /// Replacement with `$1`/`${name}` references.
        replacement: String,
        /// Label whose value the regex matches.
        src: String,
        /// The regex, anchored.
        re: Regex,
    },
}

/// A parsed query.
#[derive(Debug, Clone)]
pub enum Expr {
    /// Returns log lines.
    Log(LogExpr),
    /// Returns samples.
    Metric(MetricExpr),
}

impl Expr {
    /// The log selectors the query reads (one per range aggregation).
    pub fn selectors(&self) -> Vec<&LogExpr> {
        fn walk<'a>(m: &'a MetricExpr, out: &mut Vec<&'a LogExpr>) {
            match m {
                MetricExpr::Range(r) => out.push(&r.log),
                MetricExpr::Vector { inner, .. }
                | MetricExpr::Sort { inner, .. }
                | MetricExpr::LabelReplace { inner, .. } => walk(inner, out),
                MetricExpr::Binary { lhs, rhs, .. } => {
                    walk(lhs, out);
                    walk(rhs, out);
                }
                MetricExpr::Scalar(_) | MetricExpr::VectorLit(_) => {}
            }
        }
        match self {
            Expr::Log(l) => vec![l],
            Expr::Metric(m) => {
                let mut out = Vec::new();
                walk(m, &mut out);
                out
            }
        }
    }

    /// Longest `range + offset` of the query's range aggregations (ns), i.e. how far
    /// before the query start data must be read.
    pub fn max_lookback_ns(&self) -> i64 {
        fn walk(m: &MetricExpr) -> i64 {
            match m {
                MetricExpr::Range(r) => r.range_ns + r.offset_ns,
                MetricExpr::Vector { inner, .. }
                | MetricExpr::Sort { inner, .. }
                | MetricExpr::LabelReplace { inner, .. } => walk(inner),
                MetricExpr::Binary { lhs, rhs, .. } => walk(lhs).max(walk(rhs)),
                MetricExpr::Scalar(_) | MetricExpr::VectorLit(_) => 0,
            }
        }
        match self {
            Expr::Log(_) => 0,
            Expr::Metric(m) => walk(m),
        }
    }
}
