//! Label matchers and a small parser for `{name="value", ...}` selectors.
//!
//! Regexes are fully anchored and dot-matches-newline, as Prometheus and
//! Loki compile them (`^(?s:re)$`); the `regex` crate is RE2-class like Go's.

use regex::Regex;

use crate::error::{IndexError, Result};

/// Matcher operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

/// One label matcher. A series without the label is treated as having the
/// empty value, as in Prometheus and Loki.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    re: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher; regex operators compile `value` anchored.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?s:{value})$")).map_err(|e| IndexError::BadRegex {
                    pattern: value.clone(),
                    source: Box::new(e),
                })?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            re,
        })
    }

    /// Label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// Value or pattern as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Does a label value (empty when the label is absent) match?
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

struct P<'a> {
    s: &'a [u8],
    pos: usize,
}

impl P<'_> {
    fn err(&self, reason: impl Into<String>) -> IndexError {
        IndexError::BadSelector {
            pos: self.pos,
            reason: reason.into(),
        }
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Result<String> {
        self.ws();
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_')
        {
            self.pos += 1;
        }
        if start == self.pos || self.s[start].is_ascii_digit() {
            return Err(self.err("expected a label name"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn op(&mut self) -> Result<MatchOp> {
        self.ws();
        let rest = &self.s[self.pos..];
        let (op, n) = if rest.starts_with(b"=~") {
            (MatchOp::Regex, 2)
        } else if rest.starts_with(b"!=") {
            (MatchOp::NotEqual, 2)
        } else if rest.starts_with(b"!~") {
            (MatchOp::NotRegex, 2)
        } else if rest.starts_with(b"=") {
            (MatchOp::Equal, 1)
        } else {
            return Err(self.err("expected one of = != =~ !~"));
        };
        self.pos += n;
        Ok(op)
    }

    /// A Go string literal: "..." with escapes, or `...` raw.
    fn string(&mut self) -> Result<String> {
        self.ws();
        let Some(&q) = self.s.get(self.pos) else {
            return Err(self.err("expected a quoted value"));
        };
        if q != b'"' && q != b'`' {
            return Err(self.err("expected a quoted value"));
        }
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(self.err("unterminated string"));
            };
            self.pos += 1;
            if c == q {
                break;
            }
            if c == b'\\' && q == b'"' {
                let Some(&e) = self.s.get(self.pos) else {
                    return Err(self.err("unterminated escape"));
                };
                self.pos += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'\\' | b'"' | b'\'' => out.push(e),
                    _ => return Err(self.err(format!("unsupported escape \\{}", e as char))),
                }
            } else {
                out.push(c);
            }
        }
        String::from_utf8(out).map_err(|_| self.err("value is not UTF-8"))
    }
}

/// Parses a stream selector such as `{app="x", env=~"p.*"}`.
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>> {
    let mut p = P {
        s: s.as_bytes(),
        pos: 0,
    };
    if !p.eat(b'{') {
        return Err(p.err("expected '{'"));
    }
    let mut out = Vec::new();
    if !p.eat(b'}') {
        loop {
            let name = p.ident()?;
            let op = p.op()?;
            let value = p.string()?;
            out.push(Matcher::new(op, name, value)?);
            if p.eat(b'}') {
                break;
            }
            if !p.eat(b',') {
                return Err(p.err("expected ',' or '}'"));
            }
        }
    }
    p.ws();
    if p.pos != p.s.len() {
        return Err(p.err("trailing characters after '}'"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let m = parse_selector(r#"{app="x", env=~"p.*", ns!~"kube-.*|monitoring", s!="e\"rr"}"#)
            .unwrap();
        assert_eq!(m.len(), 4);
        assert!(m[0].matches("x") && !m[0].matches("xy"));
        assert!(m[1].matches("prod") && !m[1].matches("xprod"));
        assert!(!m[2].matches("kube-system") && m[2].matches("kube"));
        assert!(!m[3].matches("e\"rr") && m[3].matches(""));
        // Anchoring applies to the whole alternation.
        assert!(m[2].matches("monitoringx") && !m[2].matches("monitoring"));
    }

    #[test]
    fn rejects_bad_selectors() {
        for s in [
            "",
            "{",
            "{a}",
            "{a=}",
            "{a=\"x\"",
            "{a=\"x\"} x",
            "{1a=\"x\"}",
            "{a=~\"(\"}",
        ] {
            assert!(parse_selector(s).is_err(), "{s}");
        }
        assert!(parse_selector("{}").unwrap().is_empty());
    }
}
