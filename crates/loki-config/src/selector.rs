//! LogQL stream selectors (`{namespace="prod", app=~"api|web"}`), the label-matcher subset
//! `retention_stream` rules use. Regexes are fully anchored, as in Prometheus.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Matcher operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    NotRe,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Neq => "!=",
            Self::Re => "=~",
            Self::NotRe => "!~",
        }
    }
}

/// One label matcher.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// Value or pattern as written.
    pub value: String,
    re: Option<regex::Regex>,
}

impl Matcher {
    /// Does `v` (the label's value, empty when the label is absent) satisfy this matcher?
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Eq => v == self.value,
            MatchOp::Neq => v != self.value,
            MatchOp::Re => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRe => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

/// A parsed stream selector.
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    /// The matchers, all of which must match.
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses `{name op "value", …}`.
    pub fn parse(s: &str) -> Result<Selector, String> {
        let mut p = P { s, i: 0 };
        p.ws();
        p.expect('{')?;
        let mut matchers = Vec::new();
        loop {
            p.ws();
            if p.eat('}') {
                break;
            }
            if !matchers.is_empty() {
                p.expect(',')?;
                p.ws();
                if p.eat('}') {
                    break;
                }
            }
            let name = p.ident()?;
            p.ws();
            let op = if p.eat_str("=~") {
                MatchOp::Re
            } else if p.eat_str("!~") {
                MatchOp::NotRe
            } else if p.eat_str("!=") {
                MatchOp::Neq
            } else if p.eat_str("=") {
                MatchOp::Eq
            } else {
                return Err(p.err("expected one of =, !=, =~, !~"));
            };
            p.ws();
            let value = p.string()?;
            let re = match op {
                MatchOp::Re | MatchOp::NotRe => Some(
                    regex::Regex::new(&format!("^(?s:{value})$"))
                        .map_err(|e| format!("invalid regex `{value}` for label `{name}`: {e}"))?,
                ),
                _ => None,
            };
            matchers.push(Matcher {
                name,
                op,
                value,
                re,
            });
        }
        p.ws();
        if p.i != s.len() {
            return Err(p.err("unexpected text after `}`"));
        }
        if matchers.is_empty() {
            return Err(format!("selector `{s}` has no matchers"));
        }
        // LogQL refuses selectors that match every stream.
        if matchers.iter().all(|m| m.matches("")) {
            return Err(format!("selector `{s}` must contain at least one matcher that does not match the empty value"));
        }
        Ok(Selector { matchers })
    }

    /// True when every matcher accepts the stream's labels (absent label = empty value).
    pub fn matches<'a>(
        &self,
        labels: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> bool {
        self.matchers.iter().all(|m| {
            let v = labels
                .clone()
                .into_iter()
                .find(|(n, _)| *n == m.name)
                .map(|(_, v)| v)
                .unwrap_or("");
            m.matches(v)
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}{}{:?}", m.name, m.op.as_str(), m.value)?;
        }
        f.write_str("}")
    }
}

impl Serialize for Selector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::error::de_str(
            d,
            "a stream selector such as {namespace=\"prod\"}",
            Selector::parse,
        )
    }
}

struct P<'a> {
    s: &'a str,
    i: usize,
}

impl P<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }
    fn err(&self, what: &str) -> String {
        format!("invalid selector `{}` at offset {}: {what}", self.s, self.i)
    }
    fn ws(&mut self) {
        let r = self.rest();
        self.i += r.len() - r.trim_start().len();
    }
    fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn eat_str(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(&format!("expected `{c}`")))
        }
    }
    fn ident(&mut self) -> Result<String, String> {
        let r = self.rest();
        let n = r
            .char_indices()
            .take_while(|&(k, c)| {
                c == '_' || c.is_ascii_alphabetic() || (k > 0 && c.is_ascii_digit())
            })
            .count();
        if n == 0 {
            return Err(self.err("expected a label name"));
        }
        let id = r[..n].to_string();
        self.i += n;
        Ok(id)
    }
    fn string(&mut self) -> Result<String, String> {
        if self.eat('`') {
            let r = self.rest();
            let end = r
                .find('`')
                .ok_or_else(|| self.err("unterminated `…` string"))?;
            let v = r[..end].to_string();
            self.i += end + 1;
            return Ok(v);
        }
        let quote = if self.eat('"') {
            '"'
        } else if self.eat('\'') {
            '\''
        } else {
            return Err(self.err("expected a quoted value"));
        };
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((k, c)) = chars.next() {
            if c == quote {
                self.i += k + 1;
                return Ok(out);
            }
            if c == '\\' {
                let (_, e) = chars.next().ok_or_else(|| self.err("dangling `\\`"))?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' | '"' | '\'' => out.push(e),
                    other => {
                        // Unknown escapes are kept so regex escapes like `\d` survive.
                        out.push('\\');
                        out.push(other);
                    }
                }
            } else {
                out.push(c);
            }
        }
        Err(self.err("unterminated string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let s = Selector::parse(r#"{namespace="prod", app=~"api|web", env!="dev", team!~"x.*"}"#)
            .unwrap();
        assert_eq!(s.matchers.len(), 4);
        assert!(s.matches([("namespace", "prod"), ("app", "web")]));
        assert!(
            !s.matches([("namespace", "prod"), ("app", "webby")]),
            "regex is anchored"
        );
        assert!(!s.matches([("namespace", "prod"), ("app", "api"), ("team", "xyz")]));
        assert!(!s.matches([("app", "api")]));
    }

    #[test]
    fn rejects_bad_selectors() {
        for bad in [
            "",
            "namespace=\"x\"",
            "{namespace}",
            "{namespace=prod}",
            "{a=\"x\"",
            "{a=~\"(\"}",
            "{}",
            "{a=\"\"}",
            "{a=\"x\"} junk",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
    }
}
