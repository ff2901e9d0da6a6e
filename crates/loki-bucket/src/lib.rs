//! Object storage for Loki's formats at rest: backends built from Loki's own config (S3 with
//! the environment credential chain, GCS, Azure, local filesystem, memory), Loki's bucket
//! layout as types, and the layers every request goes through — retries with backoff,
//! request metrics (Prometheus text and a cost estimate), a concurrency limit, and a fault
//! injector for tests.
//!
//! ```
//! use bytes::Bytes;
//! use loki_bucket::{Bucket, BucketOptions, ChunkRef, Inventory, Layout, Op};
//! use loki_config::SchemaVersion;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let bucket = Bucket::from_url("memory://", None, BucketOptions::default())?;
//! let chunk = ChunkRef { tenant: "fake".into(), fingerprint: 0xb0813ccd7b078ed8,
//!                        from_ms: 1, through_ms: 2, checksum: 0xabc };
//! let key = bucket.codec().chunk_object(&chunk, SchemaVersion::V13);
//! bucket.put(&key, Bytes::from_static(b"chunk bytes")).await?;
//! bucket.put("index/index_20782/1795610613-vm-1.tsdb.gz", Bytes::from_static(b"idx")).await?;
//!
//! let inv = Inventory::scan(&bucket, &Layout::new(bucket.codec()), |_| {}).await?;
//! assert_eq!(inv.chunks["fake"].count, 1);
//! assert_eq!(inv.tables["index_20782"].multi_tenant.len(), 1);
//! assert_eq!(bucket.metrics().snapshot(Op::Put).requests, 2);
//! assert!(bucket.metrics().render_prometheus().contains("loki_objstore_bucket_operations_total"));
//! # Ok::<(), loki_bucket::BucketError>(()) }).unwrap();
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod backend;
mod bucket;
pub mod compactor_state;
mod error;
mod fault;
mod get_body;
mod inventory;
mod keys;
mod layout;
mod metrics;
mod ops;
mod retry;
mod transfer;
mod upload;

pub use backend::{build_backend, describe, retry_from_backoff, spec_from_url, BackendOptions};
pub use bucket::{Bucket, BucketOptions, ObjectInfo};
/// Root of `loki-compactor`'s own state (the same constant as [`compactor_state::ROOT`]).
pub use compactor_state::ROOT as COMPACTOR_STATE_PREFIX;
pub use error::{BucketError, Result};
pub use fault::{Fault, FaultInjector, FaultRule, FaultStore, InjectedFault};
pub use inventory::{ChunkTotals, IndexFileInfo, Inventory, TableInfo};
pub use keys::{ChunkRef, KeyCodec};
pub use layout::{IndexFileName, Layout, ObjectKind};
pub use metrics::{CostEstimate, CostModel, MetricsStore, OpSnapshot, RequestMetrics};
pub use ops::Op;
pub use retry::{Jitter, RetrySettings, RetryStore};
pub use transfer::{PART_SIZE, SINGLE_PUT_MAX};
