//! Recursive-descent LogQL parser.
use regex::Regex;

use crate::ast::*;
use crate::error::{perr, Result};
use crate::lexer::{lex, Kind, Tok};
use crate::template::Template;
use crate::units::{parse_bytes, parse_duration_ns};

/// Parses a LogQL query.
pub fn parse(src: &str) -> Result<Expr> {
    let toks = lex(src)?;
    let mut p = Parser { toks, i: 0 };
    let e = p.expr()?;
    if !p.at_eof() {
        return perr(p.pos(), "unexpected trailing input");
    }
    Ok(e)
}

/// Parses a bare stream selector with an optional pipeline (a log query).
pub fn parse_log(src: &str) -> Result<LogExpr> {
    match parse(src)? {
        Expr::Log(l) => Ok(l),
        Expr::Metric(_) => perr(0, "expected a log selector, got a metric query"),
    }
}

struct Parser {
    toks: Vec<Tok>,
    i: usize,
}

fn range_op(name: &str) -> Option<RangeOp> {
    Some(match name {
        "count_over_time" => RangeOp::CountOverTime,
        "rate" => RangeOp::Rate,
        "rate_counter" => RangeOp::RateCounter,
        "bytes_over_time" => RangeOp::BytesOverTime,
        "bytes_rate" => RangeOp::BytesRate,
        "sum_over_time" => RangeOp::SumOverTime,
        "avg_over_time" => RangeOp::AvgOverTime,
        "min_over_time" => RangeOp::MinOverTime,
        "max_over_time" => RangeOp::MaxOverTime,
        "stddev_over_time" => RangeOp::StddevOverTime,
        "stdvar_over_time" => RangeOp::StdvarOverTime,
        "quantile_over_time" => RangeOp::QuantileOverTime,
        "first_over_time" => RangeOp::FirstOverTime,
        "last_over_time" => RangeOp::LastOverTime,
        "absent_over_time" => RangeOp::AbsentOverTime,
        _ => return None,
    })
}

fn vec_op(name: &str) -> Option<VecOp> {
    Some(match name {
        "sum" => VecOp::Sum,
        "avg" => VecOp::Avg,
        "min" => VecOp::Min,
        "max" => VecOp::Max,
        "count" => VecOp::Count,
        "stddev" => VecOp::Stddev,
        "stdvar" => VecOp::Stdvar,
        "topk" => VecOp::Topk,
        "bottomk" => VecOp::Bottomk,
        _ => return None,
    })
}

/// Binary operators by precedence level, lowest first.
const LEVELS: [&[(&str, BinOp)]; 5] = [
    &[("or", BinOp::Or)],
    &[("and", BinOp::And), ("unless", BinOp::Unless)],
    &[
        ("==", BinOp::Eq),
        ("!=", BinOp::Neq),
        (">=", BinOp::Ge),
        ("<=", BinOp::Le),
        (">", BinOp::Gt),
        ("<", BinOp::Lt),
    ],
    &[("+", BinOp::Add), ("-", BinOp::Sub)],
    &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Mod)],
];

impl Parser {
    fn peek(&self) -> &Kind {
        &self.toks[self.i].kind
    }
    fn peek_at(&self, n: usize) -> &Kind {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].kind
    }
    fn pos(&self) -> usize {
        self.toks[self.i].pos
    }
    fn at_eof(&self) -> bool {
        matches!(self.peek(), Kind::Eof)
    }
    fn bump(&mut self) -> Kind {
        let k = self.toks[self.i].kind.clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        k
    }
    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Kind::Punct(q) if *q == p)
    }
    fn is_ident(&self, s: &str) -> bool {
        matches!(self.peek(), Kind::Ident(q) if q == s)
    }
    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect_punct(&mut self, p: &str) -> Result<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            perr(
                self.pos(),
                format!("expected `{p}`, found {}", self.describe()),
            )
        }
    }
    fn describe(&self) -> String {
        match self.peek() {
            Kind::Ident(s) => format!("`{s}`"),
            Kind::Str(s) => format!("string {s:?}"),
            Kind::Num(s) => format!("`{s}`"),
            Kind::Punct(p) => format!("`{p}`"),
            Kind::Eof => "end of query".into(),
        }
    }
    fn ident(&mut self) -> Result<String> {
        match self.peek().clone() {
            Kind::Ident(s) => {
                self.bump();
                Ok(s)
            }
            _ => perr(
                self.pos(),
                format!("expected a name, found {}", self.describe()),
            ),
        }
    }
    fn string(&mut self) -> Result<String> {
        match self.peek().clone() {
            Kind::Str(s) => {
                self.bump();
                Ok(s)
            }
            _ => perr(
                self.pos(),
                format!("expected a string, found {}", self.describe()),
            ),
        }
    }

    fn expr(&mut self) -> Result<Expr> {
        if self.is_punct("{") {
            let l = self.log_expr()?;
            if self.at_eof() || self.is_punct(")") {
                return Ok(Expr::Log(l));
            }
            return perr(self.pos(), "a log query cannot be combined with operators");
        }
        Ok(Expr::Metric(self.binary(0)?))
    }

    fn binary(&mut self, level: usize) -> Result<MetricExpr> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        loop {
            let found = LEVELS[level].iter().find(|(t, _)| match self.peek() {
                Kind::Punct(p) => p == t,
                Kind::Ident(s) => s == t,
                _ => false,
            });
            let Some(&(_, op)) = found else { break };
            self.bump();
            let bool_pos = self.pos();
            let return_bool = if self.is_ident("bool") {
                self.bump();
                true
            } else {
                false
            };
            if return_bool && !is_comparison(op) {
                return perr(bool_pos, "`bool` is only allowed on comparison operators");
            }
            let matching = self.vector_matching(op)?;
            let rhs = self.binary(level + 1)?;
            lhs = MetricExpr::Binary {
                op,
                return_bool,
                matching,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    /// `on(…)`/`ignoring(…)` then `group_left(…)`/`group_right(…)`, after an operator.
    fn vector_matching(&mut self, op: BinOp) -> Result<Option<VectorMatching>> {
        let on = if self.is_ident("on") {
            true
        } else if self.is_ident("ignoring") {
            false
        } else {
            return Ok(None);
        };
        self.bump();
        let labels = self.label_list()?;
        let pos = self.pos();
        let side = if self.is_ident("group_left") {
            Some(GroupSide::Left)
        } else if self.is_ident("group_right") {
            Some(GroupSide::Right)
        } else {
            None
        };
        let group = match side {
            None => None,
            Some(side) => {
                if matches!(op, BinOp::And | BinOp::Or | BinOp::Unless) {
                    return perr(pos, "no grouping allowed for `and`, `or`, `unless`");
                }
                self.bump();
                let include = if self.is_punct("(") {
                    self.label_list()?
                } else {
                    Vec::new()
                };
                if let Some(l) = include.iter().find(|l| on && labels.contains(l)) {
                    return perr(
                        pos,
                        format!("label `{l}` must not occur in both on() and group_*() clauses"),
                    );
                }
                Some((side, include))
            }
        };
        Ok(Some(VectorMatching { on, labels, group }))
    }

    /// `(a, b, …)`, possibly empty.
    fn label_list(&mut self) -> Result<Vec<String>> {
        self.expect_punct("(")?;
        let mut labels = Vec::new();
        if !self.is_punct(")") {
            loop {
                labels.push(self.ident()?);
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        self.expect_punct(")")?;
        Ok(labels)
    }

    fn unary(&mut self) -> Result<MetricExpr> {
        if self.eat_punct("-") {
            let inner = self.unary()?;
            return Ok(match inner {
                MetricExpr::Scalar(v) => MetricExpr::Scalar(-v),
                e => MetricExpr::Binary {
                    op: BinOp::Mul,
                    return_bool: false,
                    matching: None,
                    lhs: Box::new(e),
                    rhs: Box::new(MetricExpr::Scalar(-1.0)),
                },
            });
        }
        if self.eat_punct("+") {
            return self.unary();
        }
        self.pow()
    }

    /// `a ^ b`: binds tighter than unary minus on its left (`-2^2` is -4), right
    /// associative.
    fn pow(&mut self) -> Result<MetricExpr> {
        let base = self.primary()?;
        if !self.eat_punct("^") {
            return Ok(base);
        }
        let bool_pos = self.pos();
        if self.is_ident("bool") {
            return perr(bool_pos, "`bool` is only allowed on comparison operators");
        }
        let matching = self.vector_matching(BinOp::Pow)?;
        let exp = self.unary()?;
        Ok(MetricExpr::Binary {
            op: BinOp::Pow,
            return_bool: false,
            matching,
            lhs: Box::new(base),
            rhs: Box::new(exp),
        })
    }

    fn primary(&mut self) -> Result<MetricExpr> {
        let pos = self.pos();
        match self.peek().clone() {
            Kind::Num(n) => {
                self.bump();
                n.parse::<f64>()
                    .map(MetricExpr::Scalar)
                    .or_else(|_| perr(pos, format!("invalid number `{n}`")))
            }
            Kind::Punct("(") => {
                self.bump();
                let e = self.binary(0)?;
                self.expect_punct(")")?;
                Ok(e)
            }
            Kind::Ident(name) => {
                if let Some(op) = range_op(&name) {
                    self.bump();
                    self.range_agg(op)
                } else if let Some(op) = vec_op(&name) {
                    self.bump();
                    self.vector_agg(op)
                } else if name == "vector" {
                    self.bump();
                    self.expect_punct("(")?;
                    let v = self.number()?;
                    self.expect_punct(")")?;
                    Ok(MetricExpr::VectorLit(v))
                } else if name == "sort" || name == "sort_desc" {
                    self.bump();
                    self.expect_punct("(")?;
                    let inner = self.binary(0)?;
                    self.expect_punct(")")?;
                    Ok(MetricExpr::Sort {
                        desc: name == "sort_desc",
                        inner: Box::new(inner),
                    })
                } else if name == "label_replace" {
                    self.bump();
                    self.label_replace()
                } else {
                    perr(pos, format!("unknown function `{name}`"))
                }
            }
            _ => perr(
                pos,
                format!("expected a metric expression, found {}", self.describe()),
            ),
        }
    }

    /// `label_replace(v, "dst", "replacement", "src", "regex")`, after the name.
    fn label_replace(&mut self) -> Result<MetricExpr> {
        self.expect_punct("(")?;
        let inner = self.binary(0)?;
        self.expect_punct(",")?;
        let dpos = self.pos();
        let dst = self.string()?;
        if !valid_label_name(&dst) {
            return perr(dpos, format!("invalid destination label name {dst:?}"));
        }
        self.expect_punct(",")?;
        let replacement = self.string()?;
        self.expect_punct(",")?;
        let spos = self.pos();
        let src = self.string()?;
        if !valid_label_name(&src) {
            return perr(spos, format!("invalid source label name {src:?}"));
        }
        self.expect_punct(",")?;
        let rpos = self.pos();
        let re = self.string()?;
        let re = Regex::new(&format!("^(?s:{re})$"))
            .or_else(|e| perr(rpos, format!("invalid regex: {e}")))?;
        self.expect_punct(")")?;
        Ok(MetricExpr::LabelReplace {
            inner: Box::new(inner),
            dst,
            replacement,
            src,
            re,
        })
    }

    fn number(&mut self) -> Result<f64> {
        let pos = self.pos();
        let neg = self.eat_punct("-");
        match self.bump() {
            Kind::Num(n) => match n.parse::<f64>() {
                Ok(v) => Ok(if neg { -v } else { v }),
                Err(_) => perr(pos, format!("invalid number `{n}`")),
            },
            _ => perr(pos, "expected a number"),
        }
    }

    fn grouping(&mut self) -> Result<Option<Grouping>> {
        let without = if self.is_ident("by") {
            false
        } else if self.is_ident("without") {
            true
        } else {
            return Ok(None);
        };
        self.bump();
        self.expect_punct("(")?;
        let mut labels = Vec::new();
        if !self.is_punct(")") {
            loop {
                labels.push(self.ident()?);
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        self.expect_punct(")")?;
        Ok(Some(Grouping { without, labels }))
    }

    fn vector_agg(&mut self, op: VecOp) -> Result<MetricExpr> {
        let mut grouping = self.grouping()?;
        self.expect_punct("(")?;
        let param = if matches!(op, VecOp::Topk | VecOp::Bottomk) {
            let k = self.number()?;
            self.expect_punct(",")?;
            Some(k)
        } else {
            None
        };
        let inner = self.binary(0)?;
        self.expect_punct(")")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        Ok(MetricExpr::Vector {
            op,
            param,
            grouping,
            inner: Box::new(inner),
        })
    }

    fn range_agg(&mut self, op: RangeOp) -> Result<MetricExpr> {
        self.expect_punct("(")?;
        let param = if op == RangeOp::QuantileOverTime {
            let q = self.number()?;
            self.expect_punct(",")?;
            Some(q)
        } else {
            None
        };
        // The selector may be wrapped in parentheses: `rate(({a="b"} |= "x")[5m])`.
        let paren = self.is_punct("(") && matches!(self.peek_at(1), Kind::Punct("{"));
        if paren {
            self.bump();
        }
        let mut log = self.log_expr_partial()?;
        let mut unwrap = None;
        if paren {
            unwrap = self.unwrap_tail(&mut log)?;
            self.expect_punct(")")?;
        }
        let pos = self.pos();
        self.expect_punct("[")?;
        let range_ns = match self.bump() {
            Kind::Num(d) => parse_duration_ns(&d)
                .ok_or(())
                .or_else(|_| perr(pos, format!("invalid duration `{d}`")))?,
            _ => return perr(pos, "expected a range duration"),
        };
        self.expect_punct("]")?;
        let mut offset_ns = 0;
        if self.is_ident("offset") {
            self.bump();
            let pos = self.pos();
            offset_ns = match self.bump() {
                Kind::Num(d) => parse_duration_ns(&d)
                    .ok_or(())
                    .or_else(|_| perr(pos, "invalid offset"))?,
                _ => return perr(pos, "expected an offset duration"),
            };
        }
        if !paren {
            // `{…} | json | unwrap x | __error__="" [1h]`: the pipeline ran up to `[`.
            unwrap = log.1.take();
        }
        self.expect_punct(")")?;
        let grouping = self.grouping()?;
        let needs_unwrap = !matches!(
            op,
            RangeOp::CountOverTime
                | RangeOp::Rate
                | RangeOp::BytesOverTime
                | RangeOp::BytesRate
                | RangeOp::AbsentOverTime
        );
        if needs_unwrap && unwrap.is_none() {
            return perr(pos, "this range aggregation needs `| unwrap <label>`");
        }
        Ok(MetricExpr::Range(RangeAgg {
            op,
            param,
            log: log.0,
            unwrap,
            range_ns,
            offset_ns,
            grouping,
        }))
    }

    fn unwrap_tail(&mut self, log: &mut (LogExpr, Option<Unwrap>)) -> Result<Option<Unwrap>> {
        Ok(log.1.take())
    }

    fn log_expr(&mut self) -> Result<LogExpr> {
        let (l, u) = self.log_expr_partial()?;
        if u.is_some() {
            return perr(
                self.pos(),
                "`unwrap` is only allowed inside a range aggregation",
            );
        }
        Ok(l)
    }

    /// Selector and pipeline, stopping before `[`, `)` or the end; `unwrap` and the label
    /// filters after it are returned separately.
    fn log_expr_partial(&mut self) -> Result<(LogExpr, Option<Unwrap>)> {
        let matchers = self.selector()?;
        let mut stages = Vec::new();
        let mut unwrap: Option<Unwrap> = None;
        loop {
            let pos = self.pos();
            let line_op = match self.peek() {
                Kind::Punct("|=") => Some(LineOp::Contains),
                Kind::Punct("!=") => Some(LineOp::NotContains),
                Kind::Punct("|~") => Some(LineOp::Match),
                Kind::Punct("!~") => Some(LineOp::NotMatch),
                Kind::Punct("|>") => Some(LineOp::PatternMatch),
                Kind::Punct("!>") => Some(LineOp::PatternNotMatch),
                _ => None,
            };
            if let Some(op) = line_op {
                if unwrap.is_some() {
                    return perr(pos, "line filters are not allowed after unwrap");
                }
                self.bump();
                stages.push(self.line_filter(op)?);
                continue;
            }
            if !self.eat_punct("|") {
                break;
            }
            if let Some(u) = unwrap.as_mut() {
                u.post.push(self.label_filter_or()?);
                continue;
            }
            if self.is_punct("(") {
                stages.push(Stage::LabelFilter(self.label_filter_or()?));
                continue;
            }
            let pos = self.pos();
            let name = match self.peek().clone() {
                Kind::Ident(n) => n,
                _ => {
                    return perr(
                        pos,
                        format!("expected a pipeline stage, found {}", self.describe()),
                    )
                }
            };
            // A label filter starts with a name followed by a comparison.
            let is_filter = matches!(
                self.peek_at(1),
                Kind::Punct("=" | "!=" | "=~" | "!~" | "==" | ">" | ">=" | "<" | "<=")
            );
            if is_filter {
                stages.push(Stage::LabelFilter(self.label_filter_or()?));
                continue;
            }
            self.bump();
            let stage = match name.as_str() {
                "json" => Stage::Json(self.extraction_params()?),
                "logfmt" => {
                    let (mut strict, mut keep_empty) = (false, false);
                    loop {
                        if self.is_ident("--strict") {
                            strict = true;
                        } else if self.is_ident("--keep-empty") {
                            keep_empty = true;
                        } else if let Kind::Ident(f) = self.peek() {
                            if f.starts_with("--") {
                                return perr(
                                    self.pos(),
                                    format!("unknown logfmt flag `{f}` (--strict, --keep-empty)"),
                                );
                            }
                            break;
                        } else {
                            break;
                        }
                        self.bump();
                    }
                    Stage::Logfmt { strict, keep_empty }
                }
                "unpack" => Stage::Unpack,
                "regexp" => {
                    let p = self.pos();
                    let s = self.string()?;
                    Stage::Regexp(compile(&s, p)?)
                }
                "pattern" => {
                    let p = self.pos();
                    let s = self.string()?;
                    Stage::Pattern(crate::pattern::Pattern::parse(&s).or_else(|m| perr(p, m))?)
                }
                "line_format" => {
                    let p = self.pos();
                    let s = self.string()?;
                    Stage::LineFormat(Template::parse(&s).or_else(|m| perr(p, m))?)
                }
                "label_format" => Stage::LabelFormat(self.label_formats()?),
                "drop" => Stage::Drop(self.name_list()?),
                "keep" => Stage::Keep(self.name_list()?),
                "decolorize" => Stage::Decolorize,
                "unwrap" => {
                    let (label, conv) = self.unwrap_label()?;
                    unwrap = Some(Unwrap {
                        label,
                        conv,
                        post: Vec::new(),
                    });
                    continue;
                }
                _ => return perr(pos, format!("unknown pipeline stage `{name}`")),
            };
            stages.push(stage);
        }
        Ok((LogExpr { matchers, stages }, unwrap))
    }

    fn unwrap_label(&mut self) -> Result<(String, UnwrapConv)> {
        let name = self.ident()?;
        let conv = match name.as_str() {
            "duration" | "duration_seconds" => UnwrapConv::Duration,
            "bytes" => UnwrapConv::Bytes,
            _ => return Ok((name, UnwrapConv::None)),
        };
        if !self.eat_punct("(") {
            return Ok((name, UnwrapConv::None));
        }
        let l = self.ident()?;
        self.expect_punct(")")?;
        Ok((l, conv))
    }

    fn name_list(&mut self) -> Result<Vec<String>> {
        let mut out = vec![self.ident()?];
        while self.eat_punct(",") {
            out.push(self.ident()?);
        }
        Ok(out)
    }

    fn extraction_params(&mut self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        if !matches!(self.peek(), Kind::Ident(_)) || !matches!(self.peek_at(1), Kind::Punct("=")) {
            return Ok(out);
        }
        loop {
            let n = self.ident()?;
            if self.eat_punct("=") {
                let pos = self.pos();
                let e = self.string()?;
                crate::json_path::parse_path(&e).or_else(|m| perr(pos, m))?;
                out.push((n, e));
            } else {
                out.push((n.clone(), n));
            }
            if !self.eat_punct(",") {
                break;
            }
        }
        Ok(out)
    }

    fn label_formats(&mut self) -> Result<Vec<LabelFmt>> {
        let mut out = Vec::new();
        loop {
            let dst = self.ident()?;
            self.expect_punct("=")?;
            let pos = self.pos();
            match self.bump() {
                Kind::Ident(src) => out.push(LabelFmt::Rename { dst, src }),
                Kind::Str(t) => out.push(LabelFmt::Template {
                    dst,
                    tmpl: Template::parse(&t).or_else(|m| perr(pos, m))?,
                }),
                _ => return perr(pos, "expected a label name or a template string"),
            }
            if !self.eat_punct(",") {
                break;
            }
        }
        Ok(out)
    }

    fn line_filter(&mut self, op: LineOp) -> Result<Stage> {
        let mut alternatives = vec![self.line_match(op)?];
        // `|= "a" or "b"`: more alternatives of the same operator.
        while self.is_ident("or")
            && (matches!(self.peek_at(1), Kind::Str(_))
                || (matches!(self.peek_at(1), Kind::Ident(f) if f == "ip")
                    && matches!(self.peek_at(2), Kind::Punct("("))))
        {
            self.bump();
            alternatives.push(self.line_match(op)?);
        }
        Ok(Stage::LineFilter(LineFilter { op, alternatives }))
    }

    fn line_match(&mut self, op: LineOp) -> Result<LineMatch> {
        let pos = self.pos();
        let value = match self.peek().clone() {
            Kind::Str(s) => {
                self.bump();
                s
            }
            Kind::Ident(f) if f == "ip" => {
                if !matches!(op, LineOp::Contains | LineOp::NotContains) {
                    return perr(pos, "ip() goes with `|=` or `!=` only");
                }
                return Ok(LineMatch::Ip(self.ip_call()?));
            }
            _ => return perr(pos, "expected a string after a line filter"),
        };
        Ok(match op {
            LineOp::Contains | LineOp::NotContains => LineMatch::Literal(value),
            LineOp::Match | LineOp::NotMatch => LineMatch::Regex(compile(&value, pos)?),
            LineOp::PatternMatch | LineOp::PatternNotMatch => LineMatch::Pattern(
                crate::pattern::Pattern::parse_filter(&value).or_else(|m| perr(pos, m))?,
            ),
        })
    }

    /// `ip("…")`, at `ip`.
    fn ip_call(&mut self) -> Result<crate::ip::IpRange> {
        self.bump();
        self.expect_punct("(")?;
        let pos = self.pos();
        let s = self.string()?;
        let r = crate::ip::IpRange::parse(&s).or_else(|m| perr(pos, m))?;
        self.expect_punct(")")?;
        Ok(r)
    }

    fn label_filter_or(&mut self) -> Result<LabelFilter> {
        let mut lhs = self.label_filter_and()?;
        while self.is_ident("or") {
            self.bump();
            let rhs = self.label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_and(&mut self) -> Result<LabelFilter> {
        let mut lhs = self.label_filter_atom()?;
        loop {
            if self.is_ident("and") || self.is_punct(",") {
                self.bump();
            } else if matches!(self.peek(), Kind::Ident(_))
                && !self.is_ident("or")
                && !self.is_ident("offset")
                && matches!(
                    self.peek_at(1),
                    Kind::Punct("=" | "!=" | "=~" | "!~" | "==" | ">" | ">=" | "<" | "<=")
                )
            {
                // Whitespace between filters means `and`.
            } else {
                break;
            }
            let rhs = self.label_filter_atom()?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_atom(&mut self) -> Result<LabelFilter> {
        if self.eat_punct("(") {
            let f = self.label_filter_or()?;
            self.expect_punct(")")?;
            return Ok(f);
        }
        let name = self.ident()?;
        let pos = self.pos();
        let op = match self.bump() {
            Kind::Punct(p) => p,
            _ => return perr(pos, "expected a comparison operator"),
        };
        let vpos = self.pos();
        if self.is_ident("ip") && matches!(self.peek_at(1), Kind::Punct("(")) {
            let negate = match op {
                "=" | "==" => false,
                "!=" => true,
                _ => return perr(pos, format!("`{op}` cannot compare with ip()")),
            };
            let range = self.ip_call()?;
            return Ok(LabelFilter::Ip {
                name,
                negate,
                range,
            });
        }
        match self.peek().clone() {
            Kind::Str(v) => {
                self.bump();
                let mop = match op {
                    "=" | "==" => MatchOp::Eq,
                    "!=" => MatchOp::Neq,
                    "=~" => MatchOp::Re,
                    "!~" => MatchOp::Nre,
                    _ => return perr(pos, format!("`{op}` cannot compare strings")),
                };
                let m = Matcher::new(&name, mop, &v).or_else(|e| perr(vpos, e.to_string()))?;
                Ok(LabelFilter::Str(m))
            }
            Kind::Num(_) | Kind::Punct("-") => {
                let neg = self.eat_punct("-");
                let Kind::Num(text) = self.bump() else {
                    return perr(vpos, "expected a number");
                };
                let (value, kind) = if let Ok(v) = text.parse::<f64>() {
                    (v, NumKind::Number)
                } else if let Some(ns) = parse_duration_ns(&text) {
                    (ns as f64 / 1e9, NumKind::Duration)
                } else if let Some(b) = parse_bytes(&text) {
                    (b, NumKind::Bytes)
                } else {
                    return perr(vpos, format!("invalid number, duration or size `{text}`"));
                };
                let op = match op {
                    "=" | "==" => CmpOp::Eq,
                    "!=" => CmpOp::Neq,
                    ">" => CmpOp::Gt,
                    ">=" => CmpOp::Ge,
                    "<" => CmpOp::Lt,
                    "<=" => CmpOp::Le,
                    _ => return perr(pos, format!("`{op}` cannot compare numbers")),
                };
                Ok(LabelFilter::Num {
                    name,
                    op,
                    value: if neg { -value } else { value },
                    kind,
                })
            }
            _ => perr(vpos, format!("expected a value, found {}", self.describe())),
        }
    }

    fn selector(&mut self) -> Result<Vec<Matcher>> {
        self.expect_punct("{")?;
        let mut out = Vec::new();
        while !self.is_punct("}") {
            let name = self.ident()?;
            let pos = self.pos();
            let op = match self.bump() {
                Kind::Punct("=") => MatchOp::Eq,
                Kind::Punct("!=") => MatchOp::Neq,
                Kind::Punct("=~") => MatchOp::Re,
                Kind::Punct("!~") => MatchOp::Nre,
                _ => return perr(pos, "expected =, !=, =~ or !~"),
            };
            let vpos = self.pos();
            let v = self.string()?;
            out.push(Matcher::new(&name, op, &v).or_else(|e| perr(vpos, e.to_string()))?);
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct("}")?;
        if out.is_empty() {
            return perr(self.pos(), "a stream selector needs at least one matcher");
        }
        Ok(out)
    }
}

fn is_comparison(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le
    )
}

fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn compile(pattern: &str, pos: usize) -> Result<Regex> {
    Regex::new(pattern).or_else(|e| perr(pos, format!("invalid regex: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_golden_shapes() {
        for q in [
            r#"{a="b"}"#,
            r#"{a="b", c=~"x|y"} |= "e" != "f" |~ "(?i)g" !~ "h""#,
            r#"{a="b"} | json | status_code >= 500 and level="error" or x < 2"#,
            r#"{a="b"} | json | status="failed" | line_format "{{.player_id}} {{.reason}}""#,
            r#"sum by (k) (count_over_time({a=~".+"}[1h]))"#,
            r#"quantile_over_time(0.99, {a="b"} | json | unwrap latency_ms | __error__="" [1h]) by (k)"#,
            r#"sum(rate({a="b"} |= "health" [15m])) by (x) * 2"#,
            r#"topk(3, sum by (a) (bytes_rate({a="b"} | logfmt | dur > 5s [5m])))"#,
            r#"{a="b"} | label_format x=`{{ .y | upper }}`, z=y | size > 20MB"#,
            r#"avg_over_time({a="b"} | unwrap duration(d) [1m] offset 5m)"#,
        ] {
            parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    #[test]
    fn no_panic_on_truncated_or_damaged_queries() {
        let samples = [
            r#"quantile_over_time(0.99, {a="b"} | json | unwrap duration(x) | __error__="" [1h] offset 5m) by (k)"#,
            r#"{a="b", c=~"x|y"} |= `e` | logfmt | label_format x=`{{ .y | upper }}` | line_format "{{if .a}}{{.b}}{{end}}""#,
            r#"topk(3, sum by (a) (bytes_rate({a="é"} | pattern `<ip> <_>` | dur > 5s and size <= 1KiB [5m]))) / 2"#,
            r#"sort_desc(label_replace(sum by (a) (rate({a="b"} |= ip("10.0.0.0/8") or "x" |> "<_> y" | logfmt --strict --keep-empty | json k="a.b[0]" | c != ip("::1") [5m])), "d", "$1", "a", "(.*)")) / on(a) group_left(d) vector(1) ^ 2"#,
        ];
        for q in samples {
            let chars: Vec<(usize, char)> = q.char_indices().collect();
            for &(i, _) in &chars {
                let _ = parse(&q[..i]);
                let mut damaged = q.to_owned();
                damaged.remove(i);
                let _ = parse(&damaged);
            }
        }
    }

    #[test]
    fn errors_name_position() {
        let e = parse(r#"{a="b"} | nope"#).unwrap_err().to_string();
        assert_eq!(
            e,
            "parse error at position 10: unknown pipeline stage `nope`"
        );
        let e = parse(r#"sum(rate({a="b"}[5x]))"#).unwrap_err().to_string();
        assert!(e.contains("position 16"), "{e}");
    }
}
