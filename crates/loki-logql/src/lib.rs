//! LogQL for offline queries: a parser and an evaluator over log entry streams that
//! returns what Loki's query API returns.
//!
//! The crate does no I/O: a [`Source`] hands the evaluator the streams a selector
//! matches (labels plus entries with structured metadata); [`evaluate`] runs log queries
//! (limit, direction) and metric queries (range and vector aggregations, binary operators
//! with scalars, `start`/`end`/`step` as in `query_range`), and [`QueryResult::to_loki_json`]
//! prints the response body.
//!
//! ```
//! use loki_logql::{evaluate, parse, Direction, InputEntry, InputStream, LogExpr, QueryParams, Source};
//!
//! struct One;
//! impl Source for One {
//!     fn select(&mut self, _: &LogExpr, _: i64, _: i64) -> loki_logql::Result<Vec<InputStream>> {
//!         let e = |ts, line: &str| Ok(InputEntry { ts, line: line.into(), metadata: vec![] });
//!         Ok(vec![InputStream {
//!             labels: vec![("app".into(), "api".into())],
//!             entries: Box::new(vec![e(1_000_000_000, "level=error"), e(2_000_000_000, "level=info")].into_iter()),
//!         }])
//!     }
//! }
//! let q = parse(r#"{app="api"} | logfmt | level="error""#)?;
//! let p = QueryParams { start_ns: 0, end_ns: 10_000_000_000, step_ns: 0, limit: 100,
//!                       direction: Direction::Forward, categorize: false, instant: false };
//! let r = evaluate(&q, &mut One, &p)?;
//! assert_eq!(r.to_loki_json(), r#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{"app":"api","level":"error"},"values":[["1000000000","level=error"]]}]}}"#);
//! # Ok::<(), loki_logql::Error>(())
//! ```
#![warn(missing_docs)]

mod ast;
mod error;
mod eval;
mod ip;
mod json_path;
mod labels;
mod lexer;
mod parser;
mod parsers;
mod pattern;
mod pipeline;
mod result;
mod template;
mod time;
mod units;

pub use ast::*;
pub use error::{Error, Result};
pub use eval::{evaluate, Direction, InputEntry, InputStream, QueryParams, Source};
pub use ip::IpRange;
pub use labels::{labels_string, LabelPairs, LabelsBuilder};
pub use parser::{parse, parse_log};
pub use pattern::Pattern;
pub use pipeline::run as run_pipeline;
pub use result::{OutEntry, QueryResult, Series, StreamResult};
pub use template::{Context as TemplateContext, Template};
pub use time::{format_rfc3339_nanos, parse_step_ns, parse_time_ns};
pub use units::{format_float, parse_bytes, parse_duration_ns};
