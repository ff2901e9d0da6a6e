//! The `pattern` parser: literals and `<name>` captures (`<_>` captures nothing).

/// A compiled pattern expression.
#[derive(Debug, Clone)]
pub struct Pattern {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Capture(Option<String>),
}

impl Pattern {
    /// Parses `<ip> - <_> [<ts>] "<method> <path> <_>"`.
    pub fn parse(src: &str) -> Result<Pattern, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after.find('>');
            let name = close.map(|c| &after[..c]);
            let valid = name.is_some_and(|n| {
                !n.is_empty()
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !n.starts_with(|c: char| c.is_ascii_digit())
            });
            if let (true, Some(n), Some(c)) = (valid, name, close) {
                lit.push_str(&rest[..open]);
                if !lit.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut lit)));
                }
                if matches!(parts.last(), Some(Part::Capture(_))) {
                    return Err("consecutive captures need a literal between them".into());
                }
                parts.push(Part::Capture((n != "_").then(|| n.to_owned())));
                rest = &after[c + 1..];
            } else {
                lit.push_str(&rest[..open + 1]);
                rest = after;
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Literal(lit));
        }
        if !parts.iter().any(|p| matches!(p, Part::Capture(_))) {
            return Err("a pattern needs at least one capture".into());
        }
        Ok(Pattern { parts })
    }

    /// A pattern for a line filter (`|>`, `!>`): captures are optional there.
    pub fn parse_filter(src: &str) -> Result<Pattern, String> {
        if !src.contains('<') {
            if src.is_empty() {
                return Err("empty pattern".into());
            }
            return Ok(Pattern {
                parts: vec![Part::Literal(src.to_owned())],
            });
        }
        Pattern::parse(src)
    }

    /// Named captures of `line`, or `None` when the line does not match.
    pub fn matches<'a>(&self, line: &'a str) -> Option<Vec<(&str, &'a str)>> {
        let mut out = Vec::new();
        let mut rest = line;
        let mut i = 0;
        while i < self.parts.len() {
            match &self.parts[i] {
                Part::Literal(l) => {
                    rest = rest.strip_prefix(l.as_str())?;
                }
                Part::Capture(name) => {
                    let (val, next) = match self.parts.get(i + 1) {
                        Some(Part::Literal(l)) => {
                            let at = rest.find(l.as_str())?;
                            (&rest[..at], &rest[at..])
                        }
                        _ => (rest, ""),
                    };
                    if let Some(n) = name {
                        out.push((n.as_str(), val));
                    }
                    rest = next;
                }
            }
            i += 1;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures() {
        let p = Pattern::parse(r#"<ip> - <_> "<method> <path> <_>" <status>"#).unwrap();
        let m = p.matches(r#"1.2.3.4 - - "GET /x HTTP/1.1" 200"#).unwrap();
        assert_eq!(
            m,
            [
                ("ip", "1.2.3.4"),
                ("method", "GET"),
                ("path", "/x"),
                ("status", "200")
            ]
        );
        assert!(p.matches("nope").is_none());
    }
}
