//! An in-memory `Source` for evaluator tests: hand-made streams whose selector matchers
//! are applied like an index would.
use loki_logql::{InputEntry, InputStream, LogExpr, Source};

pub const S: i64 = 1_000_000_000;

pub type Pairs = Vec<(&'static str, &'static str)>;
pub type Row = (i64, &'static str, Pairs);

/// Streams in memory; `select` applies the selector's matchers like an index would.
pub struct Mem(pub Vec<(Pairs, Vec<Row>)>);

impl Source for Mem {
    fn select(
        &mut self,
        log: &LogExpr,
        from: i64,
        through: i64,
    ) -> loki_logql::Result<Vec<InputStream>> {
        let mut out = Vec::new();
        for (labels, entries) in &self.0 {
            let labels: Vec<(String, String)> = labels
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            let ok = log.matchers.iter().all(|m| {
                m.matches(
                    labels
                        .iter()
                        .find(|(n, _)| *n == m.name)
                        .map_or("", |(_, v)| v.as_str()),
                )
            });
            if !ok {
                continue;
            }
            let es: Vec<loki_logql::Result<InputEntry>> = entries
                .iter()
                .filter(|(t, _, _)| *t >= from && *t < through)
                .map(|(t, l, sm)| {
                    Ok(InputEntry {
                        ts: *t,
                        line: l.to_string(),
                        metadata: sm
                            .iter()
                            .map(|(a, b)| (a.to_string(), b.to_string()))
                            .collect(),
                    })
                })
                .collect();
            out.push(InputStream {
                labels,
                entries: Box::new(es.into_iter()),
            });
        }
        Ok(out)
    }
}
