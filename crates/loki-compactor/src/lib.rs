//! A drop-in replacement for the `compactor` module of Grafana Loki, for TSDB stores:
//!
//! * [`compact::compact_table`]: one table's multi-tenant uploads and per-tenant files
//!   merged into one per-tenant file per tenant, uploaded before anything is deleted;
//! * [`retention::Expiry`]: Loki's retention rules (global, per tenant, per stream);
//! * [`markers`]: durable lists of expired chunks, written before the index that drops
//!   them (native text format, or Loki's bbolt format via [`bbolt`]);
//! * [`sweeper::sweep`]: deletes marked chunks after `retention_delete_delay`;
//! * [`lease::Lease`]: single writer per bucket through conditional writes;
//! * [`runner::Compactor`]: the passes and loops, [`http`] the endpoints, [`metrics`]
//!   Loki's metric names.
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![forbid(unsafe_code)]

pub mod bbolt;
pub mod clock;
pub mod compact;
pub mod crash;
pub mod deletes;
pub mod error;
pub mod expired;
pub mod http;
pub mod lease;
pub mod logfmt;
pub mod markers;
pub mod metrics;
mod output;
pub mod periods;
pub mod purge;
pub mod retention;
pub mod runner;
pub mod staging;
pub mod sweeper;
pub mod tables;

pub use clock::Clock;
pub use error::{CompactorError, Result};
