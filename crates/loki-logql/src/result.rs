//! Query results and their JSON encoding as Loki's `/loki/api/v1/query_range` prints it.
use crate::labels::LabelPairs;
use crate::units::format_float;

/// One returned log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct OutEntry {
    /// Timestamp (ns).
    pub ts: i64,
    /// The (possibly reformatted) line.
    pub line: String,
    /// Structured metadata (categorized output only).
    pub structured_metadata: LabelPairs,
    /// Parsed labels (categorized output only).
    pub parsed: LabelPairs,
}

/// Entries of one result stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    /// The stream's labels.
    pub labels: LabelPairs,
    /// Entries in the query's direction.
    pub entries: Vec<OutEntry>,
}

/// A series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels.
    pub metric: LabelPairs,
    /// `(ms, value)` points.
    pub points: Vec<(i64, f64)>,
}

/// What a query returns.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// Log lines.
    Streams {
        /// Streams.
        streams: Vec<StreamResult>,
        /// Whether labels were categorized.
        categorized: bool,
    },
    /// Range query samples.
    Matrix(Vec<Series>),
    /// Instant query samples: `(labels, ms, value)`.
    Vector(Vec<(LabelPairs, i64, f64)>),
    /// A scalar at a time.
    Scalar(i64, f64),
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn obj(l: &[(String, String)]) -> String {
    let mut s = String::from("{");
    for (i, (n, v)) in l.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&js(n));
        s.push(':');
        s.push_str(&js(v));
    }
    s.push('}');
    s
}

fn ts_secs(ms: i64) -> String {
    format_float(ms as f64 / 1000.0)
}

impl QueryResult {
    /// The `resultType`.
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryResult::Streams { .. } => "streams",
            QueryResult::Matrix(_) => "matrix",
            QueryResult::Vector(_) => "vector",
            QueryResult::Scalar(..) => "scalar",
        }
    }

    /// The `data.result` array as JSON text.
    pub fn result_json(&self) -> String {
        let mut s = String::new();
        match self {
            QueryResult::Streams {
                streams,
                categorized,
            } => {
                s.push('[');
                for (i, st) in streams.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str("{\"stream\":");
                    s.push_str(&obj(&st.labels));
                    s.push_str(",\"values\":[");
                    for (j, e) in st.entries.iter().enumerate() {
                        if j > 0 {
                            s.push(',');
                        }
                        s.push_str(&format!("[\"{}\",{}", e.ts, js(&e.line)));
                        if *categorized {
                            let mut parts = Vec::new();
                            if !e.structured_metadata.is_empty() {
                                parts.push(format!(
                                    "\"structuredMetadata\":{}",
                                    obj(&e.structured_metadata)
                                ));
                            }
                            if !e.parsed.is_empty() {
                                parts.push(format!("\"parsed\":{}", obj(&e.parsed)));
                            }
                            s.push_str(&format!(",{{{}}}", parts.join(",")));
                        }
                        s.push(']');
                    }
                    s.push_str("]}");
                }
                s.push(']');
            }
            QueryResult::Matrix(series) => {
                s.push('[');
                for (i, se) in series.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str("{\"metric\":");
                    s.push_str(&obj(&se.metric));
                    s.push_str(",\"values\":[");
                    for (j, (t, v)) in se.points.iter().enumerate() {
                        if j > 0 {
                            s.push(',');
                        }
                        s.push_str(&format!("[{},\"{}\"]", ts_secs(*t), format_float(*v)));
                    }
                    s.push_str("]}");
                }
                s.push(']');
            }
            QueryResult::Vector(samples) => {
                s.push('[');
                for (i, (l, t, v)) in samples.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(&format!(
                        "{{\"metric\":{},\"value\":[{},\"{}\"]}}",
                        obj(l),
                        ts_secs(*t),
                        format_float(*v)
                    ));
                }
                s.push(']');
            }
            QueryResult::Scalar(t, v) => {
                s.push_str(&format!("[{},\"{}\"]", ts_secs(*t), format_float(*v)));
            }
        }
        s
    }

    /// The whole response body: `{"status":"success","data":{…}}` (no `stats`).
    pub fn to_loki_json(&self) -> String {
        let flags = match self {
            QueryResult::Streams {
                categorized: true, ..
            } => ",\"encodingFlags\":[\"categorize-labels\"]",
            _ => "",
        };
        format!(
            "{{\"status\":\"success\",\"data\":{{\"resultType\":\"{}\"{flags},\"result\":{}}}}}",
            self.result_type(),
            self.result_json()
        )
    }
}
