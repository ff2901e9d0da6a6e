//! Finds the line of a dotted key path in block-style YAML, for errors found after parsing
//! (cross-field rules), where the YAML parser's own position is no longer available.
//! Flow-style mappings are not searched; the error then simply carries no line.

/// A path step: a mapping key or a sequence index.
#[derive(Clone, Debug)]
pub(crate) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// 1-based line of the node at `path`; `None` when any step is missing.
pub(crate) fn line_of(text: &str, path: &[Step<'_>]) -> Option<usize> {
    // Tokens: (line, indent, Some(key)) for `key:` and (line, indent, None) for a `-` item
    // marker; a `- key: v` line yields both, the key indented past the dash.
    let mut toks: Vec<(usize, usize, Option<&str>)> = Vec::new();
    for (ln, raw) in text.lines().enumerate() {
        let content = strip_comment(raw);
        if content.trim().is_empty() {
            continue;
        }
        let mut indent = raw.len() - raw.trim_start().len();
        let mut t = content.trim_start();
        while let Some(rest) = t
            .strip_prefix('-')
            .filter(|r| r.is_empty() || r.starts_with(' '))
        {
            toks.push((ln, indent, None));
            let trimmed = rest.trim_start();
            indent += 1 + (rest.len() - trimmed.len());
            t = trimmed;
        }
        if let Some(k) = key_of(t) {
            toks.push((ln, indent, Some(k)));
        }
    }
    let mut range = 0..toks.len();
    let mut found = None;
    for step in path {
        let level = toks[range.clone()].iter().map(|t| t.1).min()?;
        let mut seen = 0usize;
        let mut hit = None;
        for i in range.clone() {
            let (_, ind, key) = toks[i];
            if ind != level {
                continue;
            }
            match (step, key) {
                (Step::Key(k), Some(key)) if key == *k => {
                    hit = Some(i);
                    break;
                }
                (Step::Index(n), None) => {
                    if seen == *n {
                        hit = Some(i);
                        break;
                    }
                    seen += 1;
                }
                _ => {}
            }
        }
        let i = hit?;
        found = Some(toks[i].0 + 1);
        let ind = toks[i].1;
        let mut j = i + 1;
        while j < range.end && toks[j].1 > ind {
            j += 1;
        }
        range = i + 1..j;
        if range.is_empty() {
            // A leaf: only valid as the last step.
            if !std::ptr::eq(step, path.last()?) {
                return None;
            }
        }
    }
    found
}

fn strip_comment(line: &str) -> &str {
    // A `#` starts a comment at line start or after whitespace, outside quotes (good enough
    // for locating keys).
    let mut in_s = false;
    let mut in_d = false;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' if !in_d => in_s = !in_s,
            b'"' if !in_s => in_d = !in_d,
            b'#' if !in_s && !in_d && (i == 0 || bytes[i - 1].is_ascii_whitespace()) => {
                return &line[..i]
            }
            _ => {}
        }
    }
    line
}

fn key_of(t: &str) -> Option<&str> {
    let (k, _) = t.split_once(':')?;
    let k = k.trim();
    Some(k.trim_matches('"').trim_matches('\''))
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: &str = "auth_enabled: true\n\
schema_config:\n  configs:\n    - from: 2020-01-01\n      store: boltdb\n      index:\n        period: 168h\n    - from: \"2024-01-01\"\n      store: tsdb\n      # comment\n      index:\n        prefix: index_\n        period: 24h\ncompactor:\n  delete_request_store: s3\n";

    #[test]
    fn finds_nested_keys_and_items() {
        use Step::*;
        assert_eq!(line_of(Y, &[Key("auth_enabled")]), Some(1));
        assert_eq!(
            line_of(
                Y,
                &[Key("schema_config"), Key("configs"), Index(0), Key("from")]
            ),
            Some(4)
        );
        assert_eq!(
            line_of(
                Y,
                &[
                    Key("schema_config"),
                    Key("configs"),
                    Index(0),
                    Key("index"),
                    Key("period")
                ]
            ),
            Some(7)
        );
        assert_eq!(
            line_of(
                Y,
                &[Key("schema_config"), Key("configs"), Index(1), Key("store")]
            ),
            Some(9)
        );
        assert_eq!(
            line_of(
                Y,
                &[
                    Key("schema_config"),
                    Key("configs"),
                    Index(1),
                    Key("index"),
                    Key("period")
                ]
            ),
            Some(13)
        );
        assert_eq!(
            line_of(Y, &[Key("compactor"), Key("delete_request_store")]),
            Some(15)
        );
        assert_eq!(line_of(Y, &[Key("nope")]), None);
    }
}
