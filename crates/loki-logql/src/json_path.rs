//! `| json name="path"`: values picked from a JSON line by path (`a.b`, `list[0]`,
//! `headers["User-Agent"]`).
use std::collections::HashMap;

use serde_json::value::RawValue;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// Object member.
    Key(String),
    /// Array element.
    Index(usize),
}

/// Parses a path expression; the error names the byte offset in the path.
pub fn parse_path(p: &str) -> Result<Vec<Seg>, String> {
    let b = p.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_' || b[*i] == b'-') {
            *i += 1;
        }
        p[s..*i].to_owned()
    };
    let first = ident(&mut i);
    if first.is_empty() && !p.starts_with('[') {
        return Err(format!(
            "json path {p:?}: expected a field name at offset 0"
        ));
    }
    if !first.is_empty() {
        out.push(Seg::Key(first));
    }
    while i < b.len() {
        match b[i] {
            b'.' => {
                i += 1;
                let k = ident(&mut i);
                if k.is_empty() {
                    return Err(format!(
                        "json path {p:?}: expected a field name at offset {i}"
                    ));
                }
                out.push(Seg::Key(k));
            }
            b'[' => {
                i += 1;
                if b.get(i) == Some(&b'"') {
                    let Some(len) = p[i + 1..].find('"') else {
                        return Err(format!(
                            "json path {p:?}: unterminated string at offset {i}"
                        ));
                    };
                    out.push(Seg::Key(p[i + 1..i + 1 + len].to_owned()));
                    i += len + 2;
                } else {
                    let s = i;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    let n = p[s..i].parse::<usize>().map_err(|_| {
                        format!("json path {p:?}: expected an index or a quoted key at offset {s}")
                    })?;
                    out.push(Seg::Index(n));
                }
                if b.get(i) != Some(&b']') {
                    return Err(format!("json path {p:?}: expected `]` at offset {i}"));
                }
                i += 1;
            }
            _ => {
                return Err(format!(
                    "json path {p:?}: unexpected character at offset {i}"
                ))
            }
        }
    }
    Ok(out)
}

/// Checks that the line is one JSON value and keeps it for [`extract`].
pub fn parse_line(line: &str) -> Result<&RawValue, String> {
    if !line.trim_start().starts_with('{') {
        return Err("Value looks like object, but can't find opening '{' symbol".into());
    }
    serde_json::from_str::<&RawValue>(line).map_err(|e| e.to_string())
}

/// The value at `path`: strings unquoted, numbers and booleans as written, objects and
/// arrays as their JSON text; `None` when absent or `null`.
pub fn extract(doc: &RawValue, path: &str) -> Option<String> {
    let segs = parse_path(path).ok()?;
    let mut cur: &RawValue = doc;
    for seg in &segs {
        cur = match seg {
            Seg::Key(k) => {
                let m: HashMap<String, &RawValue> = serde_json::from_str(cur.get()).ok()?;
                m.get(k).copied()?
            }
            Seg::Index(n) => {
                let v: Vec<&RawValue> = serde_json::from_str(cur.get()).ok()?;
                v.get(*n).copied()?
            }
        };
    }
    let raw = cur.get().trim();
    match raw.as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(raw).ok(),
        b'n' => None,
        _ => Some(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path(r#"a.b[2]["c d"]"#).unwrap(),
            [
                Seg::Key("a".into()),
                Seg::Key("b".into()),
                Seg::Index(2),
                Seg::Key("c d".into())
            ]
        );
        assert!(parse_path("a..b").unwrap_err().contains("offset 2"));
        assert!(parse_path("a[x]").unwrap_err().contains("offset 2"));
        assert!(parse_path(r#"a["b"#).is_err());
    }

    #[test]
    fn values() {
        let line = r#"{"a":{"b":[1.50,{"c d":"x\"y"}],"t":true,"n":null},"o":{"k":[1, 2]}}"#;
        let doc = parse_line(line).unwrap();
        assert_eq!(extract(doc, "a.b[0]").as_deref(), Some("1.50"));
        assert_eq!(extract(doc, r#"a.b[1]["c d"]"#).as_deref(), Some("x\"y"));
        assert_eq!(extract(doc, "a.t").as_deref(), Some("true"));
        assert_eq!(extract(doc, "a.n"), None);
        assert_eq!(extract(doc, "a.b[5]"), None);
        assert_eq!(extract(doc, "a.zz"), None);
        assert_eq!(extract(doc, "o").as_deref(), Some(r#"{"k":[1, 2]}"#));
        assert!(parse_line("{broken").is_err());
    }
}
