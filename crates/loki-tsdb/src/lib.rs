//! Read, write, query and merge Grafana Loki TSDB index files,
//! byte-compatibly with Loki (format versions 2, 3 and 4).
//!
//! * [`IndexReader`] opens a file from a memory map or from bytes (plain or
//!   gzip), verifying the CRC-32C of every section it reads.
//! * [`IndexView`] answers queries: label matchers, time ranges, shards,
//!   label names/values and stats, over a whole file or one tenant of an
//!   ingester's multi-tenant upload.
//! * [`IndexBuilder`] writes a file from series given in any order;
//!   [`IndexWriter`] is the streaming writer underneath.
//! * [`merge`] combines several files into one tenant's index in bounded
//!   memory, as Loki's compactor does.
//! * [`filter_in`] rewrites one file (or one tenant of an upload) keeping
//!   only the chunk refs a [`ChunkFilter`] retains, in the same bounded
//!   memory: retention and delete requests without loading the index.
//! * [`IndexFileName`], [`IndexObjectKey`] and [`TablePeriod`] handle names.
//!
//! ```
//! use loki_tsdb::{ChunkMeta, FormatVersion, IndexBuilder, IndexReader, Labels, parse_selector};
//!
//! let labels = Labels::new([("app", "api"), ("env", "prod")]);
//! let fp = labels.fingerprint();
//! let mut b = IndexBuilder::new(FormatVersion::V3);
//! b.add_series(labels, fp, [ChunkMeta {
//!     min_time: 1_000, max_time: 2_000, checksum: 0xdead_beef, kb: 4, entries: 10,
//!     ingested_at: 0,
//! }]);
//! let (bytes, summary) = b.build()?;
//!
//! let reader = IndexReader::from_bytes(bytes)?;
//! assert_eq!(reader.toc().checksum, summary.checksum);
//! let hits = reader.view().query(&parse_selector(r#"{env=~"p.*"}"#)?, 0, 5_000, None)?;
//! assert_eq!(hits[0].labels.get("app"), Some("api"));
//! assert_eq!(hits[0].chunks.len(), 1);
//! # Ok::<(), loki_tsdb::IndexError>(())
//! ```
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod builder;
mod chunk_meta;
mod decode;
mod encode;
mod error;
mod exercise;
mod filter;
mod fingerprint_offsets;
mod labels;
mod matchers;
mod merge;
mod names;
mod postings;
mod postings_spill;
mod postings_table;
mod reader;
mod scratch;
mod shard;
mod symbol_store;
mod symbols;
mod toc;
mod version;
mod view;
mod writer;

pub use builder::IndexBuilder;
pub use chunk_meta::ChunkMeta;
pub use error::{CorruptKind, IndexError, Result, Section};
#[doc(hidden)]
pub use exercise::exercise_reader;
pub use filter::{filter_in, ChunkFilter};
pub use labels::{Labels, Series};
pub use matchers::{parse_selector, MatchOp, Matcher};
pub use merge::{merge, merge_in};
pub use names::{IndexFileName, IndexObjectKey, TablePeriod};
pub use reader::{gunzip, gzip, IndexReader, SeriesCursor, TENANT_LABEL};
pub use shard::Shard;
pub use toc::Toc;
pub use version::FormatVersion;
pub use view::{ChunkRef, ChunkStats, IndexView};
pub use writer::{IndexWriter, WriteSummary};
