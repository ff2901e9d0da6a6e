//! Which log lines a delete request selects (spec §8.5). One rule for both sides: the
//! compactor removes exactly what queriers hide while the request is pending
//! (`loki-inspect` filters with this type too).
//!
//! A line is selected when its stream matches the request's selector, its timestamp lies in
//! the request's inclusive range, and the request's pipeline (line filters, parsers, label
//! filters; structured metadata counts as labels) keeps the line.

use std::borrow::Cow;

use loki_logql::{parse_log, LabelsBuilder, LogExpr};

/// A parsed delete query with its time range.
#[derive(Debug, Clone)]
pub struct DeleteSelector {
    expr: LogExpr,
    /// First selected instant, unix ns.
    pub start_ns: i64,
    /// Last selected instant, unix ns (the end millisecond is included entirely).
    pub end_ns: i64,
}

impl DeleteSelector {
    /// Parses `query` for the range `[start_ms, end_ms]`.
    pub fn new(query: &str, start_ms: i64, end_ms: i64) -> Result<Self, loki_logql::Error> {
        Ok(DeleteSelector {
            expr: parse_log(query)?,
            start_ns: start_ms.saturating_mul(1_000_000),
            end_ns: end_ms.saturating_mul(1_000_000).saturating_add(999_999),
        })
    }

    /// Whether the query has pipeline stages (line filters, parsers, label filters): such a
    /// request never deletes whole chunks blindly.
    pub fn has_filters(&self) -> bool {
        !self.expr.stages.is_empty()
    }

    /// Whether a stream with `labels` is selected (absent labels match as `""`).
    pub fn matches_stream<'a>(&self, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        let labels: Vec<(&str, &str)> = labels.into_iter().collect();
        self.expr.matchers.iter().all(|m| {
            m.matches(
                labels
                    .iter()
                    .find(|(n, _)| *n == m.name)
                    .map_or("", |(_, v)| v),
            )
        })
    }

    /// Whether `[from_ms, through_ms]` overlaps the request's range.
    pub fn overlaps_ms(&self, from_ms: i64, through_ms: i64) -> bool {
        from_ms.saturating_mul(1_000_000) <= self.end_ns
            && through_ms.saturating_mul(1_000_000).saturating_add(999_999) >= self.start_ns
    }

    /// Whether a chunk `[from_ms, through_ms]` is deleted whole without reading it: no
    /// pipeline, and the range covers the chunk.
    pub fn covers_chunk_ms(&self, from_ms: i64, through_ms: i64) -> bool {
        !self.has_filters()
            && from_ms.saturating_mul(1_000_000) >= self.start_ns
            && through_ms.saturating_mul(1_000_000) <= self.end_ns
    }

    /// Whether the entry is selected. `stream` are the stream labels, `metadata` the
    /// entry's structured metadata; the stream is assumed to match
    /// ([`matches_stream`](Self::matches_stream)).
    pub fn selects_line(
        &self,
        stream: &[(String, String)],
        ts_ns: i64,
        line: &str,
        metadata: &[(String, String)],
    ) -> bool {
        if ts_ns < self.start_ns || ts_ns > self.end_ns {
            return false;
        }
        if self.expr.stages.is_empty() {
            return true;
        }
        let mut lbs = LabelsBuilder::new(stream, metadata);
        loki_logql::run_pipeline(&self.expr.stages, ts_ns, line, &mut lbs).is_some()
    }

    /// [`selects_line`](Self::selects_line) for raw bytes (Loki lines need not be UTF-8;
    /// invalid sequences are matched as U+FFFD, as Go's string conversion would see them).
    pub fn selects_raw(
        &self,
        stream: &[(String, String)],
        ts_ns: i64,
        line: &[u8],
        metadata: &[(String, String)],
    ) -> bool {
        let line: Cow<'_, str> = String::from_utf8_lossy(line);
        self.selects_line(stream, ts_ns, &line, metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn stream_range_and_filters() {
        let d = DeleteSelector::new(r#"{app="api"} |= "secret""#, 1000, 2000).unwrap();
        assert!(d.matches_stream([("app", "api"), ("x", "y")]));
        assert!(!d.matches_stream([("app", "web")]));
        let st = s(&[("app", "api")]);
        assert!(d.selects_line(&st, 1_500_000_000, "a secret", &[]));
        assert!(!d.selects_line(&st, 1_500_000_000, "public", &[]));
        // Both range ends inclusive, the end to the last ns of its millisecond.
        assert!(d.selects_line(&st, 1_000_000_000, "secret", &[]));
        assert!(d.selects_line(&st, 2_000_999_999, "secret", &[]));
        assert!(!d.selects_line(&st, 2_001_000_000, "secret", &[]));
        assert!(!d.selects_line(&st, 999_999_999, "secret", &[]));
        assert!(
            !d.covers_chunk_ms(1000, 2000),
            "filters never delete blindly"
        );
    }

    #[test]
    fn structured_metadata_is_a_label() {
        let d = DeleteSelector::new(r#"{app="api"} | player_id="p-2""#, 0, 10).unwrap();
        let st = s(&[("app", "api")]);
        assert!(d.selects_line(&st, 5, "x", &s(&[("player_id", "p-2")])));
        assert!(!d.selects_line(&st, 5, "x", &s(&[("player_id", "p-22")])));
        assert!(!d.selects_line(&st, 5, "x", &[]));
    }

    #[test]
    fn whole_chunk_cover() {
        let d = DeleteSelector::new(r#"{app="api"}"#, 1000, 2000).unwrap();
        assert!(d.covers_chunk_ms(1000, 2000));
        assert!(!d.covers_chunk_ms(999, 2000));
        assert!(!d.covers_chunk_ms(1000, 2001));
        assert!(d.overlaps_ms(2000, 3000));
        assert!(d.overlaps_ms(0, 1000));
        assert!(!d.overlaps_ms(2001, 3000));
    }
}
