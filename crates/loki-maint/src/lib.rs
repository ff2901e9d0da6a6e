//! Store maintenance for Loki buckets, the library behind `loki-inspect verify`, `repair`,
//! `rebuild-index` and `replicate`: it lives apart from the binary so the CLI stays thin
//! glue and the compactor can reuse the checks.
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![forbid(unsafe_code)]

pub mod error;
pub mod rebuild;
pub mod repair;
pub mod replicate;
pub mod report;
pub mod target;
pub mod verify;
