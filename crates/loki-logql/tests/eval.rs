//! Evaluator behaviour on small hand-made streams (values worked out by hand).
use loki_logql::{evaluate, parse, Direction, QueryParams, QueryResult};

mod common;
use common::{Mem, S};

fn data() -> Mem {
    Mem(vec![
        (
            vec![("app", "api"), ("env", "prod")],
            vec![
                (
                    10 * S,
                    "level=info dur=150ms size=1KB msg=\"ok\"",
                    vec![("user", "u1")],
                ),
                (
                    20 * S,
                    "level=error dur=2s size=3KB msg=\"boom\"",
                    vec![("user", "u2")],
                ),
                (30 * S, "level=info dur=50ms size=512B msg=\"ok\"", vec![]),
                (
                    70 * S,
                    "level=error dur=1s size=2KB msg=\"late\"",
                    vec![("user", "u1")],
                ),
            ],
        ),
        (
            vec![("app", "web"), ("env", "prod")],
            vec![
                (15 * S, r#"{"status":200,"path":"/a","lat":0.5}"#, vec![]),
                (25 * S, r#"{"status":503,"path":"/b","lat":1.5}"#, vec![]),
                (35 * S, "not json", vec![]),
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

fn run(q: &str, p: QueryParams) -> QueryResult {
    evaluate(&parse(q).unwrap(), &mut data(), &p).unwrap()
}

fn instant(q: &str, t: i64) -> Vec<(String, f64)> {
    let mut p = params(t, t, 0);
    p.instant = true;
    match run(q, p) {
        QueryResult::Vector(v) => v
            .into_iter()
            .map(|(l, _, x)| (loki_logql::labels_string(&l), x))
            .collect(),
        QueryResult::Scalar(_, x) => vec![(String::new(), x)],
        other => panic!("{other:?}"),
    }
}

fn lines(q: &str, p: QueryParams) -> Vec<String> {
    match run(q, p) {
        QueryResult::Streams { streams, .. } => {
            let mut v: Vec<(i64, String)> = streams
                .into_iter()
                .flat_map(|s| s.entries.into_iter().map(|e| (e.ts, e.line)))
                .collect();
            v.sort();
            v.into_iter().map(|e| e.1).collect()
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn logfmt_duration_and_bytes_filters() {
    let p = params(0, 100 * S, 0);
    assert_eq!(
        lines(r#"{app="api"} | logfmt | dur > 100ms and size >= 1KB"#, p).len(),
        3
    );
    assert_eq!(
        lines(r#"{app="api"} | logfmt | dur > 100ms and size < 2.5KB"#, p).len(),
        2
    );
    assert_eq!(
        lines(
            r#"{app="api"} | logfmt | level="error" or msg="ok" | user="u1""#,
            p
        )
        .len(),
        2
    );
}

#[test]
fn line_format_label_format_and_structured_metadata() {
    let p = params(0, 100 * S, 0);
    let got = lines(
        r#"{app="api"} | logfmt | label_format who=user, lvl=`{{ .level | upper }}` | line_format `{{.lvl}} {{.who}} {{ if eq .msg "ok" }}fine{{ else }}bad{{ end }}`"#,
        p,
    );
    assert_eq!(
        got,
        ["INFO u1 fine", "ERROR u2 bad", "INFO  fine", "ERROR u1 bad"]
    );
}

#[test]
fn json_errors_regexp_and_pattern() {
    let p = params(0, 100 * S, 0);
    assert_eq!(
        lines(r#"{app="web"} | json | __error__="JSONParserErr""#, p),
        ["not json"]
    );
    // A line with a parser error passes numeric filters (Loki keeps it, flagged).
    assert_eq!(lines(r#"{app="web"} | json | status >= 500"#, p).len(), 2);
    assert_eq!(
        lines(r#"{app="web"} | json | status >= 500 | __error__="""#, p).len(),
        1
    );
    assert_eq!(
        lines(
            r#"{app="web"} | regexp `"path":"(?P<p>[^"]+)"` | p="/b""#,
            p
        )
        .len(),
        1
    );
    assert_eq!(
        lines(
            r#"{app="web"} | pattern `{"status":<code>,<_>` | code="200""#,
            p
        )
        .len(),
        1
    );
}

#[test]
fn limit_and_direction() {
    let mut p = params(0, 100 * S, 0);
    p.limit = 2;
    p.direction = Direction::Backward;
    let r = run(r#"{env="prod"}"#, p);
    let QueryResult::Streams { streams, .. } = r else {
        panic!()
    };
    let ts: Vec<i64> = streams
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.ts))
        .collect();
    assert_eq!(ts.len(), 2);
    assert!(ts.contains(&(70 * S)) && ts.contains(&(35 * S)));
}

#[test]
fn range_aggregations() {
    // Window (40s, 100s]: only the 70s entry of api; (0, 60]: the rest.
    assert_eq!(
        instant(r#"sum(count_over_time({app="api"}[60s]))"#, 60 * S)[0].1,
        3.0
    );
    assert_eq!(instant(r#"sum(rate({app="api"}[60s]))"#, 60 * S)[0].1, 0.05);
    assert_eq!(
        instant(r#"bytes_over_time({app="api"} |= "late" [60s])"#, 100 * S)[0].1,
        38.0
    );
    assert_eq!(
        instant(
            r#"sum_over_time({app="api"} | logfmt | unwrap duration(dur) [100s]) by (app)"#,
            100 * S
        )[0]
        .1,
        // Summed in time order, in floating point.
        0.15 + 2.0 + 0.05 + 1.0
    );
    assert_eq!(
        instant(
            r#"max_over_time({app="web"} | json | unwrap lat | __error__="" [100s]) by (app)"#,
            100 * S
        )[0]
        .1,
        1.5
    );
    let q = instant(
        r#"quantile_over_time(0.5, {app="api"} | logfmt | unwrap bytes(size) [100s]) by (env)"#,
        100 * S,
    );
    assert_eq!(q, [(r#"{env="prod"}"#.to_owned(), 1500.0)]);
    assert_eq!(
        instant(
            r#"avg_over_time({app="web"} | json | unwrap status | __error__="" [100s]) by (app)"#,
            100 * S
        )[0]
        .1,
        351.5
    );
    assert_eq!(
        instant(
            r#"first_over_time({app="web"} | json | unwrap lat | __error__="" [100s]) by (app)"#,
            100 * S
        )[0]
        .1,
        0.5
    );
    assert_eq!(
        instant(r#"absent_over_time({app="nope"}[10s])"#, 100 * S),
        [(r#"{app="nope"}"#.to_owned(), 1.0)]
    );
    // Offset moves the window back: (0, 60] at t=100 offset 40s.
    assert_eq!(
        instant(
            r#"sum(count_over_time({app="api"}[60s] offset 40s))"#,
            100 * S
        )[0]
        .1,
        3.0
    );
}

#[test]
fn vector_aggregations_and_binary_ops() {
    let t = 100 * S;
    assert_eq!(
        instant(r#"sum(count_over_time({env="prod"}[100s]))"#, t)[0].1,
        7.0
    );
    assert_eq!(
        instant(r#"sum by (app) (count_over_time({env="prod"}[100s]))"#, t),
        [
            (r#"{app="api"}"#.to_owned(), 4.0),
            (r#"{app="web"}"#.to_owned(), 3.0)
        ]
    );
    let top = instant(
        r#"topk(1, sum by (app) (count_over_time({env="prod"}[100s])))"#,
        t,
    );
    assert_eq!(top, [(r#"{app="api"}"#.to_owned(), 4.0)]);
    let bottom = instant(
        r#"bottomk(1, sum by (app) (count_over_time({env="prod"}[100s])))"#,
        t,
    );
    assert_eq!(bottom, [(r#"{app="web"}"#.to_owned(), 3.0)]);
    assert_eq!(
        instant(
            r#"count(sum by (app) (count_over_time({env="prod"}[100s])))"#,
            t
        )[0]
        .1,
        2.0
    );
    assert_eq!(
        instant(
            r#"avg(sum by (app) (count_over_time({env="prod"}[100s]))) * 2 + 1"#,
            t
        )[0]
        .1,
        8.0
    );
    assert_eq!(
        instant(
            r#"sum by (app) (count_over_time({env="prod"}[100s])) > 3"#,
            t
        )
        .len(),
        1
    );
    assert_eq!(
        instant(
            r#"sum by (app) (count_over_time({env="prod"}[100s])) > bool 3"#,
            t
        )
        .len(),
        2
    );
    assert_eq!(
        instant(
            r#"sum without (env, user) (count_over_time({app="api"} | logfmt | drop dur, size, msg, level [100s]))"#,
            t
        ),
        [(r#"{app="api"}"#.to_owned(), 4.0)]
    );
    assert_eq!(instant("1 + 2 * 3", t)[0].1, 7.0);
}

#[test]
fn range_query_steps() {
    let r = run(
        r#"count_over_time({app="api"}[30s])"#,
        params(30 * S, 90 * S, 30 * S),
    );
    let QueryResult::Matrix(m) = r else { panic!() };
    assert_eq!(m.len(), 3, "one series per user-metadata label set");
    let json = QueryResult::Matrix(m).to_loki_json();
    assert!(json.contains(r#"[30,"1"]"#), "{json}");
    assert!(json.contains(r#"[90,"1"]"#), "{json}");
}

#[test]
fn metric_queries_reject_pipeline_errors() {
    let mut p = params(100 * S, 100 * S, 0);
    p.instant = true;
    let q = parse(r#"sum by (app) (count_over_time({app="web"} | json [100s]))"#).unwrap();
    let err = evaluate(&q, &mut data(), &p).unwrap_err().to_string();
    assert!(err.contains("JSONParserErr"), "{err}");
    let ok = instant(
        r#"sum by (app) (count_over_time({app="web"} | json | __error__="" [100s]))"#,
        100 * S,
    );
    assert_eq!(ok[0].1, 2.0);
}
