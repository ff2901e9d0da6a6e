//! Line filter alternatives, `ip()`, pattern filters, logfmt flags, json paths, vector
//! matching, `vector()`, `sort`, `label_replace` and `^` on hand-made streams (expected
//! values worked out by hand from Prometheus'/Loki's documented semantics).
use loki_logql::{evaluate, parse, Direction, QueryParams, QueryResult};

mod common;
use common::{Mem, S};

fn data() -> Mem {
    Mem(vec![
        (
            vec![("app", "gw"), ("env", "prod")],
            vec![
                (10 * S, "GET /a from 10.1.2.3:5555 status=200", vec![]),
                (20 * S, "GET /b from 192.168.1.9 status=500", vec![]),
                (30 * S, "POST /c from 10.2.0.1 status=200", vec![]),
                (40 * S, "timeout talking to fe80::1", vec![]),
            ],
        ),
        (
            vec![("app", "svc"), ("env", "prod")],
            vec![
                (11 * S, r#"level=info flag dur=1s bad"x n=1"#, vec![]),
                (21 * S, r#"level=warn msg="unterminated"#, vec![]),
                (
                    31 * S,
                    r#"{"req":{"ip":"10.1.0.7","hdr":{"User-Agent":"curl"}},"tags":["a","b"],"n":1.50}"#,
                    vec![],
                ),
            ],
        ),
        (
            vec![("app", "svc"), ("env", "dev")],
            vec![
                (12 * S, "level=info", vec![]),
                (22 * S, "level=info", vec![]),
            ],
        ),
    ])
}

fn params(start: i64, end: i64, step: i64) -> QueryParams {
    QueryParams {
        start_ns: start,
        end_ns: end,
        step_ns: step,
        limit: 100,
        direction: Direction::Forward,
        categorize: false,
        instant: false,
    }
}

fn run(q: &str, p: QueryParams) -> loki_logql::Result<QueryResult> {
    evaluate(&parse(q).unwrap(), &mut data(), &p)
}

fn instant(q: &str) -> Vec<(String, f64)> {
    let mut p = params(100 * S, 100 * S, 0);
    p.instant = true;
    match run(q, p).unwrap() {
        QueryResult::Vector(v) => v
            .into_iter()
            .map(|(l, _, x)| (loki_logql::labels_string(&l), x))
            .collect(),
        QueryResult::Scalar(_, x) => vec![(String::new(), x)],
        other => panic!("{other:?}"),
    }
}

fn instant_err(q: &str) -> String {
    let mut p = params(100 * S, 100 * S, 0);
    p.instant = true;
    run(q, p).unwrap_err().to_string()
}

/// Entries as `(line, labels)` in time order.
fn entries(q: &str) -> Vec<(String, String)> {
    match run(q, params(0, 100 * S, 0)).unwrap() {
        QueryResult::Streams { streams, .. } => {
            let mut v: Vec<(i64, String, String)> = streams
                .into_iter()
                .flat_map(|s| {
                    let l = loki_logql::labels_string(&s.labels);
                    s.entries
                        .into_iter()
                        .map(move |e| (e.ts, e.line, l.clone()))
                })
                .collect();
            v.sort();
            v.into_iter().map(|e| (e.1, e.2)).collect()
        }
        other => panic!("{other:?}"),
    }
}

fn lines(q: &str) -> Vec<String> {
    entries(q).into_iter().map(|e| e.0).collect()
}

fn pairs(v: &[(&str, f64)]) -> Vec<(String, f64)> {
    v.iter().map(|(a, b)| (a.to_string(), *b)).collect()
}

#[test]
fn line_filter_alternatives() {
    assert_eq!(
        lines(r#"{app="gw"} |= "/a" or "/c""#),
        [
            "GET /a from 10.1.2.3:5555 status=200",
            "POST /c from 10.2.0.1 status=200"
        ]
    );
    // Negative operators drop a line having any alternative.
    assert_eq!(
        lines(r#"{app="gw"} != "/a" or "/c""#),
        [
            "GET /b from 192.168.1.9 status=500",
            "timeout talking to fe80::1"
        ]
    );
    assert_eq!(
        lines(r#"{app="gw"} |~ "^GET" or "timeout" != "/b""#).len(),
        2
    );
    // `or` after a line filter followed by something else is not an alternative.
    assert!(parse(r#"count_over_time({app="gw"} |= "a" [1m]) or vector(0)"#).is_ok());
}

#[test]
fn ip_line_and_label_filters() {
    assert_eq!(
        lines(r#"{app="gw"} |= ip("10.0.0.0/8")"#),
        [
            "GET /a from 10.1.2.3:5555 status=200",
            "POST /c from 10.2.0.1 status=200"
        ]
    );
    assert_eq!(lines(r#"{app="gw"} != ip("10.1.0.0/16")"#).len(), 3);
    assert_eq!(
        lines(r#"{app="gw"} |= ip("192.168.1.1-192.168.1.10") or ip("fe80::/10")"#).len(),
        2
    );
    assert_eq!(
        lines(r#"{app="gw"} | pattern "<_> <_> from <addr> <_>" | addr = ip("10.2.0.0/16")"#),
        ["POST /c from 10.2.0.1 status=200"]
    );
    assert_eq!(
        lines(r#"{app="gw"} | pattern "<_> <_> from <addr> <_>" | addr != ip("10.2.0.0/16")"#)
            .len(),
        3
    );
    let e = parse(r#"{app="gw"} |= ip("10.0.0.0/40")"#)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "parse error at position 17: invalid CIDR prefix \"40\" in \"10.0.0.0/40\""
    );
    assert!(parse(r#"{app="gw"} |~ ip("10.0.0.1")"#)
        .unwrap_err()
        .to_string()
        .contains("position 14"));
    assert!(parse(r#"{app="gw"} | addr > ip("10.0.0.1")"#).is_err());
}

#[test]
fn pattern_line_filters() {
    assert_eq!(
        lines(r#"{app="gw"} |> "<_> /<_> from <_> status=500""#),
        ["GET /b from 192.168.1.9 status=500"]
    );
    assert_eq!(
        lines(r#"{app="gw"} !> "GET <_>" or "POST <_>""#),
        ["timeout talking to fe80::1"]
    );
    assert!(parse(r#"{app="gw"} |> "<a><b>""#)
        .unwrap_err()
        .to_string()
        .starts_with("parse error at position 14"));
}

#[test]
fn logfmt_flags() {
    let q = |flags: &str| {
        entries(&format!(
            r#"{{app="svc", env="prod"}} |= "level" | logfmt {flags}"#
        ))
    };
    // Default: the bad token is skipped, `flag` (no value) is not a label.
    assert_eq!(
        q("")[0].1,
        r#"{app="svc", dur="1s", env="prod", level="info", n="1"}"#
    );
    // An unterminated quote ends the line quietly by default.
    assert_eq!(q("")[1].1, r#"{app="svc", env="prod", level="warn"}"#);
    // --strict: stop at the first error and flag the line.
    let strict = q("--strict");
    assert!(
        strict[0].1.contains(r#"__error__="LogfmtParserErr""#),
        "{strict:?}"
    );
    assert!(strict[0].1.contains(r#"level="info""#));
    assert!(!strict[0].1.contains(r#"n="1""#));
    assert!(strict[1].1.contains("unterminated quoted value"));
    // --keep-empty keeps `flag` as a parsed label with an empty value; results never
    // print empty values, so it shows only to later stages: a later parser cannot set it
    // (the first value of a label in a line wins).
    let later = |flags: &str| {
        entries(&format!(
            r#"{{app="svc", env="prod"}} |= "level=info" | logfmt {flags} | regexp "(?P<flag>fl\\w+)""#
        ))[0]
            .1
            .clone()
    };
    assert!(later("").contains(r#"flag="flag""#), "{}", later(""));
    assert!(!later("--keep-empty").contains("flag="));
    assert!(parse(r#"{app="svc"} | logfmt --nope"#)
        .unwrap_err()
        .to_string()
        .starts_with("parse error at position 21: unknown logfmt flag"));
}

#[test]
fn json_paths() {
    let e = entries(
        r#"{app="svc", env="prod"} |= "req" | json ip="req.ip", ua=`req.hdr["User-Agent"]`, second="tags[1]", n="n", missing="req.nope""#,
    );
    assert_eq!(
        e[0].1,
        r#"{app="svc", env="prod", ip="10.1.0.7", n="1.50", second="b", ua="curl"}"#
    );
    let e = entries(
        r#"{app="svc", env="prod"} |= "req" | json hdr="req.hdr" | line_format "{{.hdr}}""#,
    );
    assert_eq!(e[0].0, r#"{"User-Agent":"curl"}"#);
    assert_eq!(
        parse(r#"{app="svc"} | json a="x..y""#)
            .unwrap_err()
            .to_string(),
        "parse error at position 21: json path \"x..y\": expected a field name at offset 2"
    );
}

const BY_APP_ENV: &str = r#"sum by (app, env) (count_over_time({env=~".+"}[100s]))"#;
const BY_ENV: &str = r#"sum by (env) (count_over_time({env=~".+"}[100s]))"#;

#[test]
fn vector_matching() {
    // gw/prod 4, svc/prod 3, svc/dev 2; by env: prod 7, dev 2.
    assert_eq!(
        instant(&format!("{BY_APP_ENV} / on(env) group_left {BY_ENV}")),
        pairs(&[
            (r#"{app="gw", env="prod"}"#, 4.0 / 7.0),
            (r#"{app="svc", env="dev"}"#, 1.0),
            (r#"{app="svc", env="prod"}"#, 3.0 / 7.0),
        ])
    );
    assert_eq!(
        instant(&format!("{BY_APP_ENV} / ignoring(app) group_left {BY_ENV}")).len(),
        3
    );
    // group_right: the right side is the "many" side; values keep the written order.
    assert_eq!(
        instant(&format!("{BY_ENV} - on(env) group_right {BY_APP_ENV}")),
        pairs(&[
            (r#"{app="gw", env="prod"}"#, 3.0),
            (r#"{app="svc", env="dev"}"#, 0.0),
            (r#"{app="svc", env="prod"}"#, 4.0),
        ])
    );
    // group_left(label) copies the label from the "one" side.
    let info = r#"label_replace(sum by (env) (count_over_time({env=~".+"}[100s])), "tier", "t-$1", "env", "(.*)")"#;
    assert_eq!(
        instant(&format!("{BY_APP_ENV} * on(env) group_left(tier) {info}"))[0],
        (r#"{app="gw", env="prod", tier="t-prod"}"#.to_owned(), 28.0)
    );
    // One-to-one with on(): the result keeps the matched labels only.
    assert_eq!(
        instant(&format!(
            r#"sum by (env) (count_over_time({{app="svc"}}[100s])) + on(env) {BY_ENV}"#
        )),
        pairs(&[(r#"{env="dev"}"#, 4.0), (r#"{env="prod"}"#, 10.0)])
    );
    // Many-to-one without group_left is an error, as in Prometheus.
    assert!(instant_err(&format!("{BY_APP_ENV} / on(env) {BY_ENV}"))
        .contains("many-to-one matching must be explicit"));
    assert!(
        instant_err(&format!("{BY_ENV} / on(env) group_left {BY_APP_ENV}"))
            .contains("found duplicate series")
    );
    // Set operators with on().
    assert_eq!(
        instant(&format!(
            r#"{BY_APP_ENV} and on(env) sum by (env) (count_over_time({{env="dev"}}[100s]))"#
        )),
        pairs(&[(r#"{app="svc", env="dev"}"#, 2.0)])
    );
    assert_eq!(
        instant(&format!(
            r#"{BY_APP_ENV} unless ignoring(app) sum by (env) (count_over_time({{env="dev"}}[100s]))"#
        ))
        .len(),
        2
    );
    // Comparisons: filter keeps the left value; bool gives 0/1.
    assert_eq!(
        instant(&format!("{BY_APP_ENV} > on(env) group_left {BY_ENV} / 2")),
        pairs(&[
            (r#"{app="gw", env="prod"}"#, 4.0),
            (r#"{app="svc", env="dev"}"#, 2.0)
        ])
    );
    assert_eq!(
        instant(&format!(
            "{BY_APP_ENV} > bool on(env) group_left {BY_ENV} / 2"
        )),
        pairs(&[
            (r#"{app="gw", env="prod"}"#, 1.0),
            (r#"{app="svc", env="dev"}"#, 1.0),
            (r#"{app="svc", env="prod"}"#, 0.0),
        ])
    );
    assert!(parse(&format!("{BY_ENV} + bool {BY_ENV}"))
        .unwrap_err()
        .to_string()
        .contains("`bool` is only allowed on comparison operators"));
    assert!(parse(&format!("{BY_ENV} and on(env) group_left {BY_ENV}")).is_err());
}

#[test]
fn vector_literal_sort_label_replace_pow() {
    assert_eq!(instant("vector(3)"), pairs(&[("{}", 3.0)]));
    assert_eq!(
        instant(r#"sum(count_over_time({app="none"}[100s])) or vector(0)"#),
        pairs(&[("{}", 0.0)])
    );
    assert_eq!(
        instant(&format!("sort({BY_APP_ENV})")),
        pairs(&[
            (r#"{app="svc", env="dev"}"#, 2.0),
            (r#"{app="svc", env="prod"}"#, 3.0),
            (r#"{app="gw", env="prod"}"#, 4.0),
        ])
    );
    assert_eq!(
        instant(&format!("sort_desc({BY_APP_ENV})"))[0],
        (r#"{app="gw", env="prod"}"#.to_owned(), 4.0)
    );
    // Matching regex: replaced; not matching: unchanged; empty result: label removed.
    assert_eq!(
        instant(&format!(
            r#"label_replace({BY_APP_ENV}, "svc", "$1-x", "app", "(s.*)")"#
        )),
        pairs(&[
            (r#"{app="gw", env="prod"}"#, 4.0),
            (r#"{app="svc", env="dev", svc="svc-x"}"#, 2.0),
            (r#"{app="svc", env="prod", svc="svc-x"}"#, 3.0),
        ])
    );
    assert_eq!(
        instant(&format!(
            r#"label_replace({BY_APP_ENV}, "env", "", "env", "dev")"#
        ))[1]
            .0,
        r#"{app="svc"}"#
    );
    assert!(instant_err(&format!(
        r#"label_replace({BY_APP_ENV}, "app", "x", "app", ".*")"#
    ))
    .contains("same labelset"));
    assert!(
        parse(&format!(r#"label_replace({BY_ENV}, "1x", "", "env", "(")"#))
            .unwrap_err()
            .to_string()
            .contains("invalid destination label name")
    );
    assert_eq!(instant("2 ^ 3 ^ 2"), pairs(&[("", 512.0)]));
    assert_eq!(instant("-2 ^ 2"), pairs(&[("", -4.0)]));
    assert_eq!(
        instant(&format!("{BY_ENV} ^ 2")),
        pairs(&[(r#"{env="dev"}"#, 4.0), (r#"{env="prod"}"#, 49.0)])
    );
}

#[test]
fn absent_and_offset_still_work() {
    assert_eq!(
        instant(r#"absent_over_time({app="none", env="x"}[100s])"#),
        pairs(&[(r#"{app="none", env="x"}"#, 1.0)])
    );
    // offset 61s: window (-21s, 39s] holds gw's entries at 10, 20, 30 (not 40).
    assert_eq!(
        instant(r#"count_over_time({app="gw"}[60s] offset 61s)"#),
        pairs(&[(r#"{app="gw", env="prod"}"#, 3.0)])
    );
}
