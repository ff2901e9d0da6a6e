//! Read and write Grafana Loki chunks, byte-compatibly with Loki.
//!
//! Three layers, each usable alone:
//!
//! * [`Chunk`]: a parsed *MemChunk* (format versions 1 to 4, every codec Loki knows), with
//!   every CRC-32C checked and streaming, zero-copy iteration over its [`Entry`]s, forward or
//!   backward, with time-range and line-filter pushdown.
//! * [`ChunkWriter`]: builds v3/v4 MemChunks with Loki's block cutting, duplicate rule,
//!   chunk-full test and reordering, so the same appends give the same blocks as Loki.
//! * [`ChunkObject`]: the object stored in the bucket (length-prefixed snappy-framed JSON
//!   metadata plus the MemChunk) and its [`ChunkKey`].
//!
//! The crate does no I/O: bytes in, bytes out.
//!
//! ```
//! use loki_chunk::{ChunkObject, ChunkWriter, Encoding, Labels, ObjectMeta, WriterOptions};
//!
//! let mut w = ChunkWriter::new(WriterOptions { encoding: Encoding::Snappy, ..Default::default() });
//! w.append(1_700_000_000_000_000_000, b"GET /health 200", &[("trace_id", "abc")])?;
//! w.append(1_700_000_000_500_000_123, b"GET /login 302", &[] as &[(&str, &str)])?;
//! w.close()?;
//! let (from, through) = w.bounds().unwrap();
//! let stream = Labels::new([("app", "foo"), ("env", "dev")]);
//! let meta = ObjectMeta::for_stream("fake", &stream, from, through);
//! let object = ChunkObject::encode(&meta, &w.to_bytes()?)?;
//! let key = object.key().to_key(13);
//! assert!(key.starts_with("fake/10530763924b4da6/18bcfe56800:18bcfe569f5:"));
//!
//! let read = ChunkObject::decode(object.object_bytes().clone())?;
//! let lines: Vec<_> = read.chunk()?.entries().map(|e| e.map(|e| e.line)).collect::<Result<_, _>>()?;
//! assert_eq!(lines, ["GET /health 200", "GET /login 302"]);
//! # Ok::<(), loki_chunk::Error>(())
//! ```
#![warn(missing_docs)]

mod codec;
mod entry;
mod error;
mod fast_decode;
mod fast_encode;
mod format;
mod iter;
mod key;
mod labels;
mod object;
mod reader;
mod varint;
mod writer;

pub use codec::{CodecError, Encoding, UnknownEncodingName, MAX_DECOMPRESSED_LEN};
pub use entry::Entry;
pub use error::{Error, Result, Section};
pub use format::FormatVersion;
pub use iter::{Direction, Entries, IterOptions};
pub use key::ChunkKey;
pub use labels::{normalize_metadata_name, Labels, METRIC_NAME_LABEL};
pub use object::{ns_to_ms_ceil, ns_to_ms_floor, ChunkObject, ObjectMeta, LOG_CHUNK_ENCODING};
pub use reader::{BlockMeta, Chunk, Verify};
pub use writer::{Appended, ChunkWriter, WriterOptions, DEFAULT_BLOCK_SIZE, DEFAULT_TARGET_SIZE};
