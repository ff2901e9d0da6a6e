//! `-config.expand-env=true`: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR` and `$$`
//! are substituted in the raw text before YAML parsing, as Loki does, so line numbers of
//! later errors still match the file (substitutions never add lines unless a value does).

/// Expands environment references in `text` using `lookup`. A variable that is unset and has
/// no default becomes the empty string (Loki's behaviour); its name is logged at debug level.
/// Returns `(line, message)` for a malformed reference.
pub(crate) fn expand(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let line_of = |pos: usize| text[..pos].matches('\n').count() + 1;
    while let Some((pos, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek().map(|&(_, c)| c) {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some('{') => {
                chars.next();
                let mut body = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    if c == '\n' {
                        break;
                    }
                    body.push(c);
                }
                if !closed {
                    return Err((
                        line_of(pos),
                        format!("unterminated `${{{body}` in environment reference"),
                    ));
                }
                let (name, default, empty_counts) = if let Some((n, d)) = body.split_once(":-") {
                    (n, Some(d), true)
                } else if let Some((n, d)) = body.split_once('-') {
                    (n, Some(d), false)
                } else {
                    (body.as_str(), None, false)
                };
                if !is_name(name) {
                    return Err((
                        line_of(pos),
                        format!("invalid environment variable name `{name}` in `${{{body}}}`"),
                    ));
                }
                let value = lookup(name);
                let value = match (value, default) {
                    (Some(v), Some(d)) if v.is_empty() && empty_counts => d.to_string(),
                    (Some(v), _) => v,
                    (None, Some(d)) => d.to_string(),
                    (None, None) => {
                        tracing::debug!(
                            variable = name,
                            "environment variable unset; expanded to empty string"
                        );
                        String::new()
                    }
                };
                out.push_str(&value);
            }
            Some(c2) if c2 == '_' || c2.is_ascii_alphabetic() => {
                let mut name = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c == '_' || c.is_ascii_alphanumeric() {
                        name.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                match lookup(&name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        tracing::debug!(variable = %name, "environment variable unset; expanded to empty string")
                    }
                }
            }
            _ => out.push('$'),
        }
    }
    Ok(out)
}

fn is_name(n: &str) -> bool {
    let mut cs = n.chars();
    matches!(cs.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && cs.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "BUCKET" => Some("logs".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_forms() {
        let got = expand("a: ${BUCKET}\nb: ${MISSING:-dflt}\nc: $BUCKET/x\nd: $$5\ne: ${EMPTY:-e}\nf: ${EMPTY-f}\ng: ${MISSING}", &env).unwrap();
        assert_eq!(got, "a: logs\nb: dflt\nc: logs/x\nd: $5\ne: e\nf: \ng: ");
    }

    #[test]
    fn reports_line_of_bad_reference() {
        let err = expand("a: 1\nb: ${OOPS\n", &env).unwrap_err();
        assert_eq!(err.0, 2);
        let err = expand("a: ${1BAD}", &env).unwrap_err();
        assert_eq!(err.0, 1);
    }
}
