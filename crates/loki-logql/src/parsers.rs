//! The `json` and `logfmt` line parsers: flat `(name, value)` pairs from a line.

/// Flattens a JSON object line: nested keys joined with `_`, strings unescaped, numbers
/// and booleans as written, arrays skipped.
pub fn json_pairs(line: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = Json {
        s: line.as_bytes(),
        src: line,
        i: 0,
        out: Vec::new(),
    };
    p.ws();
    if p.peek() != Some(b'{') {
        return Err(format!(
            "Value looks like object, but can't find closing '}}' symbol at offset {}",
            p.i
        ));
    }
    p.object("")?;
    p.ws();
    Ok(p.out)
}

struct Json<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    out: Vec<(String, String)>,
}

impl Json<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn fail<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at offset {}", self.i))
    }
    fn object(&mut self, prefix: &str) -> Result<(), String> {
        self.i += 1; // `{`
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.fail("expected a key");
            }
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return self.fail("expected ':'");
            }
            self.i += 1;
            self.ws();
            let name = if prefix.is_empty() {
                crate::labels::sanitize_label_name(&key)
            } else {
                format!("{prefix}_{}", crate::labels::sanitize_label_name(&key))
            };
            match self.peek() {
                Some(b'{') => self.object(&name)?,
                Some(b'[') => self.skip_array()?,
                Some(b'"') => {
                    let v = self.string()?;
                    self.out.push((name, v));
                }
                Some(_) => {
                    let st = self.i;
                    while self.peek().is_some_and(|c| {
                        !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace()
                    }) {
                        self.i += 1;
                    }
                    let lit = &self.src[st..self.i];
                    match lit {
                        "null" => self.out.push((name, String::new())),
                        "true" | "false" => self.out.push((name, lit.to_owned())),
                        _ if lit.parse::<f64>().is_ok() => self.out.push((name, lit.to_owned())),
                        _ => return self.fail("invalid value"),
                    }
                }
                None => return self.fail("unexpected end"),
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.fail("expected ',' or '}'"),
            }
        }
    }
    fn skip_array(&mut self) -> Result<(), String> {
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        self.fail("unterminated array")
    }
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        let mut st = self.i;
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    out.push_str(&self.src[st..self.i]);
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.src[st..self.i]);
                    let e = self.s.get(self.i + 1).copied();
                    self.i += 2;
                    match e {
                        Some(b'n') => out.push('\n'),
                        Some(b't') => out.push('\t'),
                        Some(b'r') => out.push('\r'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'u') => {
                            let hex = self.src.get(self.i..self.i + 4).ok_or("short \\u escape")?;
                            let mut cp = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                            self.i += 4;
                            if (0xd800..0xdc00).contains(&cp)
                                && self.src.get(self.i..self.i + 2) == Some("\\u")
                            {
                                if let Some(lo) = self
                                    .src
                                    .get(self.i + 2..self.i + 6)
                                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                                {
                                    cp = 0x10000
                                        + ((cp - 0xd800) << 10)
                                        + (lo.wrapping_sub(0xdc00) & 0x3ff);
                                    self.i += 6;
                                }
                            }
                            out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                        }
                        Some(o) if o.is_ascii() => out.push(o as char),
                        Some(_) => return self.fail("invalid escape"),
                        None => return self.fail("unterminated escape"),
                    }
                    st = self.i;
                }
                _ => self.i += 1,
            }
        }
        self.fail("unterminated string")
    }
}

/// Splits a logfmt line into pairs. Keys with an empty value (`key`, `key=`) are kept
/// only with `keep_empty`. A syntax error ends parsing with `strict` (pairs before it are
/// kept and the error returned); otherwise the bad token is skipped, up to the next
/// whitespace, and parsing goes on.
pub fn logfmt_pairs(
    line: &str,
    strict: bool,
    keep_empty: bool,
) -> (Vec<(String, String)>, Option<String>) {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let is_ws = |c: u8| c == b' ' || c == b'\t' || c == b'\n' || c == b'\r';
    let skip_token = |mut i: usize| {
        while i < b.len() && !is_ws(b[i]) {
            i += 1;
        }
        i
    };
    let push = |out: &mut Vec<(String, String)>, k: &str, v: String| {
        if keep_empty || !v.is_empty() {
            out.push((k.to_owned(), v));
        }
    };
    while i < b.len() {
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && b[i] > b' ' && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        let key = &line[ks..i];
        if key.is_empty() {
            let err = format!(
                "logfmt syntax error at pos {}: unexpected '{}'",
                i + 1,
                b[i] as char
            );
            if strict {
                return (out, Some(err));
            }
            i = skip_token(i + 1);
            continue;
        }
        if i >= b.len() || b[i] != b'=' {
            push(&mut out, key, String::new());
            continue;
        }
        i += 1;
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            let mut st = i;
            loop {
                if i >= b.len() {
                    let err = format!(
                        "logfmt syntax error at pos {}: unterminated quoted value",
                        i + 1
                    );
                    // Nothing after an unterminated quote can be split reliably.
                    return (out, strict.then_some(err));
                }
                match b[i] {
                    b'"' => {
                        v.push_str(&line[st..i]);
                        i += 1;
                        break;
                    }
                    // An escape of a non-ASCII character is kept as written.
                    b'\\' if i + 1 < b.len() && b[i + 1].is_ascii() => {
                        v.push_str(&line[st..i]);
                        match b[i + 1] {
                            b'n' => v.push('\n'),
                            b't' => v.push('\t'),
                            b'r' => v.push('\r'),
                            o => v.push(o as char),
                        }
                        i += 2;
                        st = i;
                    }
                    _ => i += 1,
                }
            }
            push(&mut out, key, v);
        } else {
            let vs = i;
            let mut bad = None;
            while i < b.len() && b[i] > b' ' {
                if b[i] == b'"' || b[i] == b'=' {
                    bad = Some(i);
                    break;
                }
                i += 1;
            }
            if let Some(at) = bad {
                let err = format!(
                    "logfmt syntax error at pos {}: unexpected '{}'",
                    at + 1,
                    b[at] as char
                );
                if strict {
                    return (out, Some(err));
                }
                i = skip_token(at);
                continue;
            }
            push(&mut out, key, line[vs..i].to_owned());
        }
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_flattens() {
        let p = json_pairs(r#"{"a":1.50,"b":{"c d":"x\"y","e":[1,{"f":2}]},"g":true,"h":null}"#)
            .unwrap();
        let want: Vec<(String, String)> =
            [("a", "1.50"), ("b_c_d", "x\"y"), ("g", "true"), ("h", "")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        assert_eq!(p, want);
        assert!(json_pairs("not json").is_err());
        assert!(json_pairs(r#"{"a":"\é"}"#).is_err());
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn logfmt_splits() {
        let (p, e) = logfmt_pairs(r#"level=info msg="hello \"w\"" flag dur=5s"#, false, true);
        assert!(e.is_none());
        assert_eq!(p[1], ("msg".into(), "hello \"w\"".into()));
        assert_eq!(p[2], ("flag".into(), String::new()));
        assert_eq!(p[3], ("dur".into(), "5s".into()));
        assert!(logfmt_pairs(r#"a="b"#, true, false).1.is_some());
        assert_eq!(logfmt_pairs(r#"a="x\é""#, false, false).0[0].1, "x\\é");
    }

    #[test]
    fn logfmt_keep_empty_and_strict() {
        let line = r#"a=1 flag b= c=x"y d=4 =e f=6"#;
        // Default: empty keys dropped, bad tokens skipped, no error.
        let (p, e) = logfmt_pairs(line, false, false);
        assert_eq!(p, pairs(&[("a", "1"), ("d", "4"), ("f", "6")]));
        assert!(e.is_none());
        // --keep-empty keeps `flag` and `b=`.
        let (p, _) = logfmt_pairs(line, false, true);
        assert_eq!(
            p,
            pairs(&[("a", "1"), ("flag", ""), ("b", ""), ("d", "4"), ("f", "6")])
        );
        // --strict stops at `c=x"y`, keeping what came before.
        let (p, e) = logfmt_pairs(line, true, false);
        assert_eq!(p, pairs(&[("a", "1")]));
        assert_eq!(
            e.as_deref(),
            Some("logfmt syntax error at pos 16: unexpected '\"'")
        );
    }
}
