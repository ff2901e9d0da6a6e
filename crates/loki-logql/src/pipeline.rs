//! Running pipeline stages over one entry.
use std::borrow::Cow;

use crate::ast::{LabelFilter, LabelFmt, NumKind, Stage, Unwrap, UnwrapConv};
use crate::labels::LabelsBuilder;
use crate::template::Context;
use crate::units::{parse_bytes, parse_duration_ns};

struct Ctx<'a> {
    lbs: &'a LabelsBuilder,
    line: &'a str,
    ts: i64,
}

impl Context for Ctx<'_> {
    fn label(&self, name: &str) -> Option<String> {
        self.lbs.get(name).map(str::to_owned)
    }
    fn line(&self) -> &str {
        self.line
    }
    fn timestamp_ns(&self) -> i64 {
        self.ts
    }
}

/// Runs `stages` on one entry; `None` when a stage drops it. `lbs` holds the entry's
/// labels on return.
pub fn run<'l>(
    stages: &[Stage],
    ts: i64,
    line: &'l str,
    lbs: &mut LabelsBuilder,
) -> Option<Cow<'l, str>> {
    let mut line: Cow<'l, str> = Cow::Borrowed(line);
    for st in stages {
        match st {
            Stage::LineFilter(f) => {
                if !f.keeps(&line) {
                    return None;
                }
            }
            Stage::Json(params) if params.is_empty() => match crate::parsers::json_pairs(&line) {
                Ok(pairs) => add_parsed(lbs, pairs),
                Err(e) => lbs.set_error("JSONParserErr", e),
            },
            Stage::Json(params) => match crate::json_path::parse_line(&line) {
                Ok(doc) => {
                    for (name, path) in params {
                        let v = crate::json_path::extract(doc, path);
                        let name = if lbs.base_has(name) {
                            format!("{name}_extracted")
                        } else {
                            name.clone()
                        };
                        lbs.set_parsed(&name, v.unwrap_or_default());
                    }
                }
                Err(e) => lbs.set_error("JSONParserErr", e),
            },
            Stage::Unpack => match crate::parsers::json_pairs(&line) {
                Ok(pairs) => {
                    let mut new_line = None;
                    let rest: Vec<_> = pairs
                        .into_iter()
                        .filter(|(k, v)| {
                            if k == "_entry" {
                                new_line = Some(v.clone());
                                false
                            } else {
                                true
                            }
                        })
                        .collect();
                    add_parsed(lbs, rest);
                    if let Some(l) = new_line {
                        line = Cow::Owned(l);
                    }
                }
                Err(e) => lbs.set_error("JSONParserErr", e),
            },
            Stage::Logfmt { strict, keep_empty } => {
                let (pairs, err) = crate::parsers::logfmt_pairs(&line, *strict, *keep_empty);
                add_parsed(
                    lbs,
                    pairs
                        .into_iter()
                        .map(|(k, v)| (crate::labels::sanitize_label_name(&k), v))
                        .collect(),
                );
                if let Some(e) = err {
                    lbs.set_error("LogfmtParserErr", e);
                }
            }
            Stage::Regexp(re) => {
                if let Some(c) = re.captures(&line) {
                    let pairs = re
                        .capture_names()
                        .enumerate()
                        .filter_map(|(i, n)| {
                            Some((
                                n?.to_owned(),
                                c.get(i).map_or("", |m| m.as_str()).to_owned(),
                            ))
                        })
                        .collect();
                    add_parsed(lbs, pairs);
                }
            }
            Stage::Pattern(p) => {
                if let Some(m) = p.matches(&line) {
                    let pairs = m
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect();
                    add_parsed(lbs, pairs);
                }
            }
            Stage::LabelFilter(f) => {
                if !label_filter(f, lbs) {
                    return None;
                }
            }
            Stage::LineFormat(t) => {
                let out = t.render(&Ctx {
                    lbs,
                    line: &line,
                    ts,
                });
                line = Cow::Owned(out);
            }
            Stage::LabelFormat(fmts) => {
                // All templates see the labels as they were before this stage.
                let snapshot = lbs.clone();
                for f in fmts {
                    match f {
                        LabelFmt::Rename { dst, src } => {
                            let v = snapshot.get(src).unwrap_or("").to_owned();
                            lbs.delete(src);
                            lbs.set(dst, v);
                        }
                        LabelFmt::Template { dst, tmpl } => {
                            let v = tmpl.render(&Ctx {
                                lbs: &snapshot,
                                line: &line,
                                ts,
                            });
                            lbs.set(dst, v);
                        }
                    }
                }
            }
            Stage::Drop(names) => names.iter().for_each(|n| lbs.delete(n)),
            Stage::Keep(names) => lbs.keep(names),
            Stage::Decolorize => {
                if line.contains('\u{1b}') {
                    line = Cow::Owned(strip_ansi(&line));
                }
            }
        }
    }
    Some(line)
}

fn add_parsed(lbs: &mut LabelsBuilder, pairs: Vec<(String, String)>) {
    for (k, v) in pairs {
        let k = if lbs.base_has(&k) {
            format!("{k}_extracted")
        } else {
            k
        };
        if lbs.parsed_has(&k) {
            // The first occurrence in a line wins.
            continue;
        }
        lbs.set_parsed(&k, v);
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\u{1b}' && it.peek() == Some(&'[') {
            it.next();
            for n in it.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Converts a label value for a numeric filter or unwrap.
fn convert(v: &str, kind: NumKind) -> Result<f64, String> {
    match kind {
        NumKind::Number => v
            .trim()
            .parse::<f64>()
            .map_err(|e| format!("strconv.ParseFloat: parsing {v:?}: {e}")),
        NumKind::Duration => parse_duration_ns(v.trim())
            .map(|ns| ns as f64 / 1e9)
            .ok_or_else(|| format!("time: invalid duration {v:?}")),
        NumKind::Bytes => parse_bytes(v).ok_or_else(|| format!("invalid bytes {v:?}")),
    }
}

/// Evaluates a label filter, recording conversion errors as Loki does (the entry is kept
/// with `__error__` set).
pub fn label_filter(f: &LabelFilter, lbs: &mut LabelsBuilder) -> bool {
    match f {
        LabelFilter::And(a, b) => {
            let x = label_filter(a, lbs);
            let y = label_filter(b, lbs);
            x && y
        }
        LabelFilter::Or(a, b) => {
            let x = label_filter(a, lbs);
            let y = label_filter(b, lbs);
            x || y
        }
        LabelFilter::Str(m) => m.matches(lbs.get(&m.name).unwrap_or("")),
        LabelFilter::Ip {
            name,
            negate,
            range,
        } => {
            let inside = lbs.get(name).is_some_and(|v| range.contains_str(v));
            inside != *negate
        }
        LabelFilter::Num {
            name,
            op,
            value,
            kind,
        } => {
            // Errors from earlier stages pass through untouched.
            if lbs.has_error() {
                return true;
            }
            let Some(v) = lbs.get(name) else {
                return false;
            };
            match convert(v, *kind) {
                Ok(x) => op.apply(x, *value),
                Err(e) => {
                    lbs.set_error("LabelFilterErr", e);
                    true
                }
            }
        }
    }
}

/// Takes the sample value of an unwrap; the unwrapped label is removed. `None` means the
/// entry is dropped by the post-unwrap filters.
pub fn unwrap_value(u: &Unwrap, lbs: &mut LabelsBuilder) -> Option<f64> {
    let kind = match u.conv {
        UnwrapConv::None => NumKind::Number,
        UnwrapConv::Duration => NumKind::Duration,
        UnwrapConv::Bytes => NumKind::Bytes,
    };
    let v = lbs.get(&u.label).unwrap_or("").to_owned();
    let value = match convert(&v, kind) {
        Ok(x) => x,
        Err(e) => {
            lbs.set_error("SampleExtractionErr", e);
            0.0
        }
    };
    lbs.delete(&u.label);
    for f in &u.post {
        if !label_filter(f, lbs) {
            return None;
        }
    }
    Some(value)
}
