//! Delete-query validation and Loki's "has a filter" rule (spec §8.2): the query is a LogQL
//! log selector (stream matchers plus pipeline), never a metric query.

use loki_logql::{LogExpr, Stage};

/// Loki's 400 message for an unparsable delete query.
pub const INVALID_QUERY: &str = "invalid query expression";

/// Parses a delete query; `Err` carries the parser's reason (the API answers
/// [`INVALID_QUERY`]).
pub fn parse(query: &str) -> Result<LogExpr, String> {
    let expr = loki_logql::parse_log(query).map_err(|e| e.to_string())?;
    // Loki validates selectors: one matcher at least must reject the empty value, or the
    // request would select every stream of the tenant.
    if expr.matchers.iter().all(|m| m.matches("")) {
        return Err("queries require at least one regexp or equality matcher that does not have an empty-compatible value".into());
    }
    Ok(expr)
}

/// Loki's `HasFilter`: a label-filter stage, or a line filter other than the
/// match-everything `|= ""` / `|~ ""`. Parsers and formatters alone do not count. Decides
/// sharding and whole-chunk versus line-level deletion.
pub fn has_filter(expr: &LogExpr) -> bool {
    expr.stages.iter().any(|s| match s {
        Stage::LabelFilter(_) => true,
        Stage::LineFilter(f) => !f.matches_everything(),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_rule() {
        for (q, want) in [
            (r#"{app="a"}"#, false),
            (r#"{app="a"} |= """#, false),
            (r#"{app="a"} |~ """#, false),
            (r#"{app="a"} | json"#, false),
            (r#"{app="a"} | logfmt | line_format "{{.msg}}""#, false),
            (r#"{app="a"} |= "x""#, true),
            (r#"{app="a"} != """#, true),
            (r#"{app="a"} | level="error""#, true),
            (r#"{app="a"} | json | n > 3"#, true),
        ] {
            assert_eq!(has_filter(&parse(q).unwrap()), want, "{q}");
        }
    }

    #[test]
    fn rejects_non_selectors() {
        for q in [
            "",
            "app",
            r#"{app="a""#,
            r#"count_over_time({app="a"}[5m])"#,
            r#"{app="a"} |= "#,
            r#"{app=~".*"}"#,
            r#"{app=""}"#,
            r#"{app!="x"}"#,
        ] {
            assert!(parse(q).is_err(), "{q}");
        }
        for q in [r#"{app=~".+"}"#, r#"{app="a", env=~".*"}"#] {
            assert!(parse(q).is_ok(), "{q}");
        }
    }
}
