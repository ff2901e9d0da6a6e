//! The subset of Go's text/template that Loki users write in `line_format` and
//! `label_format`: `{{.label}}`, pipelines with functions, `if`/`else if`/`else`/`end`,
//! `{{-`/`-}}` trimming, `__line__` and `__timestamp__`.
use std::fmt::Write as _;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
}

type Pipeline = Vec<Cmd>;

#[derive(Debug, Clone)]
struct Cmd {
    /// A function name, or `None` for a bare operand.
    func: Option<String>,
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
enum Arg {
    Field(String),
    Dot,
    Str(String),
    Num(f64),
    Line,
    Timestamp,
    Sub(Pipeline),
    Bool(bool),
}

/// What the template sees while rendering.
pub trait Context {
    /// Value of a label (`""` when absent).
    fn label(&self, name: &str) -> Option<String>;
    /// The current line.
    fn line(&self) -> &str;
    /// The entry's timestamp (ns).
    fn timestamp_ns(&self) -> i64;
}

#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl Val {
    fn truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Num(n) => *n != 0.0,
            Val::Bool(b) => *b,
        }
    }
    fn into_string(self) -> String {
        match self {
            Val::Str(s) => s,
            Val::Num(n) => {
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    format!("{}", n as i64)
                } else {
                    format!("{n}")
                }
            }
            Val::Bool(b) => b.to_string(),
        }
    }
    fn num(&self) -> f64 {
        match self {
            Val::Str(s) => s.trim().parse().unwrap_or(0.0),
            Val::Num(n) => *n,
            Val::Bool(b) => f64::from(u8::from(*b)),
        }
    }
}

impl Template {
    /// Parses a template; errors are messages naming the byte offset.
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut items = Vec::new();
        let mut rest = src;
        let mut offset = 0;
        let mut trim_next = false;
        while let Some(open) = rest.find("{{") {
            let mut text = &rest[..open];
            if trim_next {
                text = text.trim_start();
            }
            let after = &rest[open + 2..];
            let trim_prev = after.starts_with('-') && after[1..].starts_with(char::is_whitespace);
            if trim_prev {
                text = text.trim_end();
            }
            if !text.is_empty() {
                items.push(Item::Text(text.to_owned()));
            }
            let Some(close) = after.find("}}") else {
                return Err(format!("unclosed action at offset {}", offset + open));
            };
            let mut body = &after[..close];
            if trim_prev {
                body = &body[1..];
            }
            trim_next =
                body.ends_with('-') && body[..body.len() - 1].ends_with(char::is_whitespace);
            if trim_next {
                body = &body[..body.len() - 1];
            }
            items.push(Item::Action(body.trim().to_owned(), offset + open));
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        let text = if trim_next { rest.trim_start() } else { rest };
        if !text.is_empty() {
            items.push(Item::Text(text.to_owned()));
        }
        let mut it = items.into_iter().peekable();
        let (nodes, end) = parse_nodes(&mut it)?;
        if let Some(e) = end {
            return Err(format!("unexpected {{{{{e}}}}}"));
        }
        Ok(Template { nodes })
    }

    /// Renders with `ctx`.
    pub fn render(&self, ctx: &dyn Context) -> String {
        let mut out = String::new();
        render_nodes(&self.nodes, ctx, &mut out);
        out
    }
}

enum Item {
    Text(String),
    Action(String, usize),
}

type Items = std::iter::Peekable<std::vec::IntoIter<Item>>;

/// Parses nodes until `end`/`else…` (returned as the terminator).
fn parse_nodes(it: &mut Items) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some(item) = it.next() {
        match item {
            Item::Text(t) => nodes.push(Node::Text(t)),
            Item::Action(a, pos) => {
                if a.starts_with("/*") {
                    continue;
                }
                if a == "end" || a == "else" || a.starts_with("else ") {
                    return Ok((nodes, Some(a)));
                }
                if let Some(cond) = a.strip_prefix("if ") {
                    let mut branches = vec![(parse_pipeline(cond, pos)?, Vec::new())];
                    let mut otherwise = Vec::new();
                    loop {
                        let (body, term) = parse_nodes(it)?;
                        let Some(term) = term else {
                            return Err(format!("`if` at offset {pos} has no `end`"));
                        };
                        if let Some(last) = branches.last_mut() {
                            if last.1.is_empty() {
                                last.1 = body;
                            } else {
                                otherwise = body;
                            }
                        }
                        if term == "end" {
                            break;
                        }
                        if let Some(c) = term.strip_prefix("else if ") {
                            branches.push((parse_pipeline(c, pos)?, Vec::new()));
                        } else {
                            // Plain else: the next body is the fallback.
                            let (body, term) = parse_nodes(it)?;
                            if term.as_deref() != Some("end") {
                                return Err(format!("`else` at offset {pos} has no `end`"));
                            }
                            otherwise = body;
                            break;
                        }
                    }
                    nodes.push(Node::If(branches, otherwise));
                    continue;
                }
                nodes.push(Node::Action(parse_pipeline(&a, pos)?));
            }
        }
    }
    Ok((nodes, None))
}

fn tokenize(src: &str, pos: usize) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '`' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                if c == '"' && chars[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err(format!("unterminated string in action at offset {pos}"));
            }
            out.push(chars[i..=j].iter().collect());
            i = j + 1;
        } else if c == '|' || c == '(' || c == ')' {
            out.push(c.to_string());
            i += 1;
        } else {
            let mut j = i;
            while j < chars.len() && !chars[j].is_whitespace() && !"|()".contains(chars[j]) {
                j += 1;
            }
            out.push(chars[i..j].iter().collect());
            i = j;
        }
    }
    Ok(out)
}

fn parse_pipeline(src: &str, pos: usize) -> Result<Pipeline, String> {
    let toks = tokenize(src, pos)?;
    let mut i = 0;
    let p = pipeline_from(&toks, &mut i, pos)?;
    if i != toks.len() {
        return Err(format!(
            "unexpected `{}` in action at offset {pos}",
            toks[i]
        ));
    }
    Ok(p)
}

fn pipeline_from(toks: &[String], i: &mut usize, pos: usize) -> Result<Pipeline, String> {
    let mut cmds = Vec::new();
    loop {
        let mut args = Vec::new();
        let mut func = None;
        while *i < toks.len() && toks[*i] != "|" && toks[*i] != ")" {
            let t = &toks[*i];
            *i += 1;
            let arg = if t == "(" {
                let sub = pipeline_from(toks, i, pos)?;
                if toks.get(*i).map(String::as_str) != Some(")") {
                    return Err(format!("missing `)` in action at offset {pos}"));
                }
                *i += 1;
                Arg::Sub(sub)
            } else if t == "." {
                Arg::Dot
            } else if let Some(f) = t.strip_prefix('.') {
                Arg::Field(f.to_owned())
            } else if t.starts_with('"') {
                Arg::Str(unquote(t).ok_or_else(|| format!("bad string {t} at offset {pos}"))?)
            } else if let Some(raw) = t.strip_prefix('`') {
                Arg::Str(raw.trim_end_matches('`').to_owned())
            } else if t == "__line__" {
                Arg::Line
            } else if t == "__timestamp__" {
                Arg::Timestamp
            } else if t == "true" || t == "false" {
                Arg::Bool(t == "true")
            } else if let Ok(n) = t.parse::<f64>() {
                Arg::Num(n)
            } else if args.is_empty() && func.is_none() {
                if !is_known(t) {
                    return Err(format!("function {t:?} not defined (offset {pos})"));
                }
                func = Some(t.clone());
                continue;
            } else {
                return Err(format!("unexpected `{t}` in action at offset {pos}"));
            };
            args.push(arg);
        }
        if func.is_none() && args.is_empty() {
            return Err(format!("empty command in action at offset {pos}"));
        }
        cmds.push(Cmd { func, args });
        if *i < toks.len() && toks[*i] == "|" {
            *i += 1;
        } else {
            return Ok(cmds);
        }
    }
}

fn unquote(t: &str) -> Option<String> {
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                o => out.push(o),
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

const FUNCS: &[&str] = &[
    "ToUpper",
    "upper",
    "ToLower",
    "lower",
    "title",
    "trim",
    "trimSpace",
    "TrimSpace",
    "trimAll",
    "trimPrefix",
    "TrimPrefix",
    "trimSuffix",
    "TrimSuffix",
    "replace",
    "Replace",
    "default",
    "len",
    "printf",
    "substr",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "repeat",
    "urlencode",
    "urldecode",
    "b64enc",
    "b64dec",
    "alignLeft",
    "alignRight",
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
    "count",
    "indent",
    "nindent",
    "print",
    "println",
    "abbrev",
    "quote",
    "squote",
    "trunc",
];

fn is_known(f: &str) -> bool {
    FUNCS.contains(&f)
}

fn render_nodes(nodes: &[Node], ctx: &dyn Context, out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&eval_pipeline(p, ctx).into_string()),
            Node::If(branches, otherwise) => {
                let body = branches
                    .iter()
                    .find(|(c, _)| eval_pipeline(c, ctx).truthy())
                    .map(|(_, b)| b)
                    .unwrap_or(otherwise);
                render_nodes(body, ctx, out);
            }
        }
    }
}

fn eval_pipeline(p: &Pipeline, ctx: &dyn Context) -> Val {
    let mut prev: Option<Val> = None;
    for cmd in p {
        let mut args: Vec<Val> = cmd.args.iter().map(|a| eval_arg(a, ctx)).collect();
        if let Some(v) = prev.take() {
            args.push(v);
        }
        prev = Some(match &cmd.func {
            None => args.pop().unwrap_or(Val::Str(String::new())),
            Some(f) => call(f, args),
        });
    }
    prev.unwrap_or(Val::Str(String::new()))
}

fn eval_arg(a: &Arg, ctx: &dyn Context) -> Val {
    match a {
        Arg::Field(f) => Val::Str(ctx.label(f).unwrap_or_default()),
        Arg::Dot => Val::Str(String::new()),
        Arg::Str(s) => Val::Str(s.clone()),
        Arg::Num(n) => Val::Num(*n),
        Arg::Bool(b) => Val::Bool(*b),
        Arg::Line => Val::Str(ctx.line().to_owned()),
        Arg::Timestamp => Val::Str(crate::time::format_rfc3339_nanos(ctx.timestamp_ns())),
        Arg::Sub(p) => eval_pipeline(p, ctx),
    }
}

fn s(args: &[Val], i: usize) -> String {
    args.get(i)
        .cloned()
        .map(Val::into_string)
        .unwrap_or_default()
}

fn call(f: &str, a: Vec<Val>) -> Val {
    let last = a.len().saturating_sub(1);
    let str_ = |v: String| Val::Str(v);
    match f {
        "ToUpper" | "upper" => str_(s(&a, last).to_uppercase()),
        "ToLower" | "lower" => str_(s(&a, last).to_lowercase()),
        "title" => {
            let mut out = String::new();
            let mut start = true;
            for c in s(&a, last).chars() {
                if start {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = c.is_whitespace();
            }
            str_(out)
        }
        "trim" | "trimSpace" | "TrimSpace" => str_(s(&a, last).trim().to_owned()),
        "trimAll" => {
            let cut = s(&a, 0);
            str_(s(&a, 1).trim_matches(|c| cut.contains(c)).to_owned())
        }
        "trimPrefix" | "TrimPrefix" => {
            let (p, v) = (s(&a, 0), s(&a, 1));
            str_(v.strip_prefix(p.as_str()).unwrap_or(&v).to_owned())
        }
        "trimSuffix" | "TrimSuffix" => {
            let (p, v) = (s(&a, 0), s(&a, 1));
            str_(v.strip_suffix(p.as_str()).unwrap_or(&v).to_owned())
        }
        "replace" | "Replace" => str_(s(&a, 2).replace(&s(&a, 0), &s(&a, 1))),
        "default" => {
            let given = a.get(1).cloned().unwrap_or(Val::Str(String::new()));
            if given.truthy() {
                given
            } else {
                a.first().cloned().unwrap_or(Val::Str(String::new()))
            }
        }
        "len" | "count" => Val::Num(s(&a, last).chars().count() as f64),
        "printf" => str_(go_sprintf(&s(&a, 0), &a[1.min(a.len())..])),
        "print" => str_(a.into_iter().map(Val::into_string).collect()),
        "println" => str_(
            a.into_iter()
                .map(Val::into_string)
                .collect::<Vec<_>>()
                .join(" ")
                + "\n",
        ),
        "substr" => {
            let chars: Vec<char> = s(&a, 2).chars().collect();
            let st = (a.first().map_or(0.0, Val::num).max(0.0) as usize).min(chars.len());
            let en = a.get(1).map_or(0.0, Val::num);
            let en = if en < 0.0 {
                chars.len()
            } else {
                (en as usize).min(chars.len())
            };
            str_(chars[st..en.max(st)].iter().collect())
        }
        "trunc" => {
            let n = a.first().map_or(0.0, Val::num) as usize;
            str_(s(&a, 1).chars().take(n).collect())
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            let Ok(re) = regex::Regex::new(&s(&a, 0)) else {
                return str_(s(&a, 1));
            };
            let (v, repl) = (s(&a, 1), s(&a, 2));
            if f == "regexReplaceAll" {
                str_(re.replace_all(&v, repl.as_str()).into_owned())
            } else {
                str_(re.replace_all(&v, regex::NoExpand(&repl)).into_owned())
            }
        }
        "contains" => Val::Bool(s(&a, 1).contains(&s(&a, 0))),
        "hasPrefix" => Val::Bool(s(&a, 1).starts_with(&s(&a, 0))),
        "hasSuffix" => Val::Bool(s(&a, 1).ends_with(&s(&a, 0))),
        "eq" => Val::Bool(a.iter().skip(1).any(|v| cmp_eq(&a[0], v))),
        "ne" => Val::Bool(a.len() == 2 && !cmp_eq(&a[0], &a[1])),
        "lt" | "le" | "gt" | "ge" => {
            let (x, y) = (a.first(), a.get(1));
            let (Some(x), Some(y)) = (x, y) else {
                return Val::Bool(false);
            };
            let ord = match (x, y) {
                (Val::Str(p), Val::Str(q)) => p.cmp(q),
                _ => x
                    .num()
                    .partial_cmp(&y.num())
                    .unwrap_or(std::cmp::Ordering::Equal),
            };
            Val::Bool(match f {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        "and" => a
            .iter()
            .find(|v| !v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Val::Bool(false)),
        "or" => a
            .iter()
            .find(|v| v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Val::Bool(false)),
        "not" => Val::Bool(!a.first().is_some_and(Val::truthy)),
        "int" => Val::Num(a.first().map_or(0.0, Val::num).trunc()),
        "float64" => Val::Num(a.first().map_or(0.0, Val::num)),
        "add" | "addf" => Val::Num(a.iter().map(Val::num).sum()),
        "mul" | "mulf" => Val::Num(a.iter().map(Val::num).product()),
        "sub" | "subf" | "div" | "divf" | "mod" => {
            let (x, y) = (
                a.first().map_or(0.0, Val::num),
                a.get(1).map_or(0.0, Val::num),
            );
            Val::Num(match f {
                "sub" | "subf" => x - y,
                "div" => (x / y).trunc(),
                "divf" => x / y,
                _ => x % y,
            })
        }
        "repeat" => str_(s(&a, 1).repeat(a.first().map_or(0.0, Val::num).max(0.0) as usize)),
        "quote" => str_(format!("{:?}", s(&a, last))),
        "squote" => str_(format!("'{}'", s(&a, last))),
        "alignLeft" | "alignRight" => {
            let n = a.first().map_or(0.0, Val::num).max(0.0) as usize;
            let v = s(&a, 1);
            let len = v.chars().count();
            if len >= n {
                str_(v.chars().take(n).collect())
            } else if f == "alignLeft" {
                str_(format!("{v}{}", " ".repeat(n - len)))
            } else {
                str_(format!("{}{v}", " ".repeat(n - len)))
            }
        }
        "indent" | "nindent" => {
            let pad = " ".repeat(a.first().map_or(0.0, Val::num).max(0.0) as usize);
            let body = s(&a, 1)
                .lines()
                .map(|l| format!("{pad}{l}"))
                .collect::<Vec<_>>()
                .join("\n");
            str_(if f == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "abbrev" => {
            let n = a.first().map_or(0.0, Val::num).max(3.0) as usize;
            let v = s(&a, 1);
            if v.chars().count() <= n {
                str_(v)
            } else {
                str_(v.chars().take(n - 3).collect::<String>() + "...")
            }
        }
        _ => str_(s(&a, last)),
    }
}

fn cmp_eq(x: &Val, y: &Val) -> bool {
    match (x, y) {
        (Val::Num(p), Val::Num(q)) => p == q,
        (Val::Bool(p), Val::Bool(q)) => p == q,
        _ => x.clone().into_string() == y.clone().into_string(),
    }
}

/// `%s`, `%d`, `%v`, `%f`, `%.Nf`, `%q` and `%%` — what templates use in practice.
fn go_sprintf(fmt: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            spec.push(n);
            chars.next();
            if n.is_ascii_alphabetic() || n == '%' {
                break;
            }
        }
        let verb = spec.chars().last().unwrap_or('v');
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args.next().cloned().unwrap_or(Val::Str(String::new()));
        let prec: Option<usize> = spec
            .split_once('.')
            .and_then(|(_, p)| p.get(..p.len().saturating_sub(1))?.parse().ok());
        let _ = match verb {
            'd' => write!(out, "{}", arg.num() as i64),
            'f' => write!(out, "{:.*}", prec.unwrap_or(6), arg.num()),
            'q' => write!(out, "{:?}", arg.into_string()),
            _ => write!(out, "{}", arg.into_string()),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ctx;
    impl Context for Ctx {
        fn label(&self, name: &str) -> Option<String> {
            match name {
                "a" => Some("hello".into()),
                "n" => Some("42".into()),
                _ => None,
            }
        }
        fn line(&self) -> &str {
            "the line"
        }
        fn timestamp_ns(&self) -> i64 {
            0
        }
    }

    fn r(t: &str) -> String {
        Template::parse(t).unwrap().render(&Ctx)
    }

    #[test]
    fn renders() {
        assert_eq!(r("{{.a}} {{.missing}}!"), "hello !");
        assert_eq!(r("{{ .a | upper }}"), "HELLO");
        assert_eq!(
            r(r#"{{ if eq .a "hello" }}yes{{ else }}no{{ end }}"#),
            "yes"
        );
        assert_eq!(
            r(r#"{{ if .missing }}yes{{ else if .a }}mid{{ else }}no{{ end }}"#),
            "mid"
        );
        assert_eq!(r("{{ __line__ | len }}"), "8");
        assert_eq!(r(r#"{{ printf "%s=%d" .a .n }}"#), "hello=42");
        assert_eq!(r(r#"{{ .a | replace "l" "L" }}"#), "heLLo");
        assert_eq!(r("a  {{- .a -}}  b"), "ahellob");
        assert_eq!(r(r#"{{ default "x" .missing }}"#), "x");
        assert!(Template::parse("{{ nope .a }}").is_err());
        assert_eq!(r(r#"{{ printf "%." .a }}"#), "hello");
    }
}
