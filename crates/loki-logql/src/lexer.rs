//! Tokens of LogQL.
use crate::error::{perr, Result};

/// A token and its byte offset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tok {
    pub(crate) kind: Kind,
    pub(crate) pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Ident(String),
    Str(String),
    /// A number, possibly with a unit suffix (`5m`, `20MB`): kept as text.
    Num(String),
    Punct(&'static str),
    Eof,
}

const PUNCTS: [&str; 27] = [
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",",
    "|", "=", ">", "<", "+", "-", "*", "/", "%", "^",
];

pub(crate) fn lex(src: &str) -> Result<Vec<Tok>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let pos = i;
        if c == b'"' {
            let (s, end) = lex_quoted(src, i)?;
            out.push(Tok {
                kind: Kind::Str(s),
                pos,
            });
            i = end;
        } else if c == b'`' {
            let Some(len) = src[i + 1..].find('`') else {
                return perr(pos, "unterminated raw string");
            };
            out.push(Tok {
                kind: Kind::Str(src[i + 1..i + 1 + len].to_owned()),
                pos,
            });
            i += len + 2;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'.' || b[j] == b'_') {
                // An exponent sign belongs to the number (1e-3).
                j += 1;
                if j < b.len()
                    && (b[j] == b'-' || b[j] == b'+')
                    && (b[j - 1] == b'e' || b[j - 1] == b'E')
                    && b[i..j - 1].iter().all(|c| c.is_ascii_digit() || *c == b'.')
                {
                    j += 1;
                }
            }
            out.push(Tok {
                kind: Kind::Num(src[i..j].to_owned()),
                pos,
            });
            i = j;
        } else if c == b'-'
            && b.get(i + 1) == Some(&b'-')
            && b.get(i + 2).is_some_and(u8::is_ascii_alphabetic)
        {
            // A parser flag (`logfmt --keep-empty`): one identifier token with its dashes.
            let mut j = i + 2;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-' || b[j] == b'_') {
                j += 1;
            }
            out.push(Tok {
                kind: Kind::Ident(src[i..j].to_owned()),
                pos,
            });
            i = j;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                j += 1;
            }
            out.push(Tok {
                kind: Kind::Ident(src[i..j].to_owned()),
                pos,
            });
            i = j;
        } else {
            let Some(p) = PUNCTS.iter().find(|p| src[i..].starts_with(**p)) else {
                return perr(
                    pos,
                    format!(
                        "unexpected character {:?}",
                        src[i..].chars().next().unwrap_or(' ')
                    ),
                );
            };
            out.push(Tok {
                kind: Kind::Punct(p),
                pos,
            });
            i += p.len();
        }
    }
    out.push(Tok {
        kind: Kind::Eof,
        pos: src.len(),
    });
    Ok(out)
}

/// A Go-style double-quoted string starting at `start`; returns the value and the offset
/// after the closing quote.
fn lex_quoted(src: &str, start: usize) -> Result<(String, usize)> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((k, ch)) = chars.next() {
        let at = start + 1 + k;
        match ch {
            '"' => return Ok((out, at + 1)),
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    return perr(at, "unterminated escape");
                };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut hex = String::new();
                        for _ in 0..n {
                            match chars.next() {
                                Some((_, h)) => hex.push(h),
                                None => return perr(at, "short escape"),
                            }
                        }
                        let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                        else {
                            return perr(at, format!("invalid escape \\{e}{hex}"));
                        };
                        out.push(c);
                    }
                    _ => return perr(at, format!("unknown escape \\{e}")),
                }
            }
            _ => out.push(ch),
        }
    }
    perr(start, "unterminated string")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t = lex(r#"{a="b\"c"} |= `x` [5m] >= 1.5e-3"#).unwrap();
        let k: Vec<_> = t.into_iter().map(|t| t.kind).collect();
        assert_eq!(k[3], Kind::Str("b\"c".into()));
        assert_eq!(k[5], Kind::Punct("|="));
        assert_eq!(k[8], Kind::Num("5m".into()));
        assert_eq!(k[11], Kind::Num("1.5e-3".into()));
        let t = lex(r#"| logfmt --keep-empty --strict |> "<_>" !> `x` 2^3"#).unwrap();
        let k: Vec<_> = t.into_iter().map(|t| t.kind).collect();
        assert_eq!(k[2], Kind::Ident("--keep-empty".into()));
        assert_eq!(k[3], Kind::Ident("--strict".into()));
        assert_eq!(k[4], Kind::Punct("|>"));
        assert_eq!(k[6], Kind::Punct("!>"));
        assert_eq!(k[9], Kind::Punct("^"));
    }

    #[test]
    fn errors_name_position() {
        assert_eq!(
            lex("{a=\"b}").unwrap_err().to_string(),
            "parse error at position 3: unterminated string"
        );
    }
}
