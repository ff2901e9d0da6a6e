//! Rewriting one chunk without (or with redacted) lines (spec §8.6).
//!
//! Every surviving entry is appended again to a fresh [`ChunkWriter`] with the original's
//! format version and codec. Unlike Loki ≥ 3.6 we do not copy unchanged blocks verbatim:
//! Loki rebuilds the structured-metadata symbol table while copying blocks that still refer
//! to the old one, so their metadata can point at the wrong strings (chunk-format §9). A
//! fresh writer has exactly the symbols its entries use. The result: same tenant,
//! fingerprint and labels, new bounds and checksum, `ingestedAt` copied.

use loki_chunk::{
    normalize_metadata_name, ns_to_ms_ceil, ns_to_ms_floor, ChunkObject, ChunkWriter,
    FormatVersion, ObjectMeta, WriterOptions, DEFAULT_BLOCK_SIZE,
};
use loki_tsdb::ChunkMeta;

/// What happens to one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Kept as is.
    Keep,
    /// Removed.
    Drop,
    /// Kept with this line instead (redaction).
    Replace(Vec<u8>),
}

/// A rewritten chunk, ready to upload and index.
#[derive(Debug, Clone)]
pub struct Rewritten {
    /// The new object (its key is `object.key()`).
    pub object: ChunkObject,
    /// The index entry of the new chunk.
    pub meta: ChunkMeta,
    /// Entries removed.
    pub removed: u64,
    /// Entries whose line was redacted.
    pub redacted: u64,
}

/// Result of a rewrite.
#[derive(Debug, Clone)]
pub enum Rewrite {
    /// No entry was selected: the chunk stays as it is.
    Unchanged,
    /// Every entry was removed: the chunk is deleted whole.
    Emptied {
        /// Entries removed.
        removed: u64,
    },
    /// A new chunk replaces the original.
    New(Box<Rewritten>),
}

/// An entry as the deciding function sees it.
#[derive(Debug)]
pub struct EntryView<'a> {
    /// Unix ns.
    pub ts_ns: i64,
    /// Raw line.
    pub line: &'a [u8],
    /// Structured metadata, names normalised as queriers see them.
    pub metadata: &'a [(String, String)],
}

/// Rewrites `obj` (whose index entry is `old`), asking `decide` about every entry.
pub fn rewrite_chunk(
    obj: &ChunkObject,
    old: &ChunkMeta,
    mut decide: impl FnMut(&EntryView<'_>) -> Verdict,
) -> loki_chunk::Result<Rewrite> {
    let chunk = obj.chunk()?;
    let version = match chunk.version() {
        v @ (FormatVersion::V3 | FormatVersion::V4) => v,
        // The writer produces V3/V4 only; V3 reads back everywhere Loki reads V1/V2.
        _ => FormatVersion::V3,
    };
    // The ingester cut every block but the last once it reached `chunk_block_size`: the
    // smallest such block bounds that setting, and keeps the rewrite's blocks as small.
    let blocks = chunk.blocks();
    let block_size = blocks[..blocks.len().saturating_sub(1)]
        .iter()
        .map(|b| b.uncompressed_size as usize)
        .filter(|&s| s > 0)
        .min()
        .unwrap_or(DEFAULT_BLOCK_SIZE);
    let mut w = ChunkWriter::new(WriterOptions {
        version,
        encoding: chunk.encoding(),
        block_size,
        ..WriterOptions::default()
    });
    let (mut removed, mut redacted, mut kept) = (0u64, 0u64, 0u64);
    let mut md: Vec<(String, String)> = Vec::new();
    for e in chunk.entries() {
        let e = e?;
        md.clear();
        for (n, v) in &e.structured_metadata {
            let n = String::from_utf8_lossy(n);
            let n = normalize_metadata_name(&n).unwrap_or_else(|| n.into_owned());
            md.push((n, String::from_utf8_lossy(v).into_owned()));
        }
        let view = EntryView {
            ts_ns: e.timestamp_ns,
            line: &e.line,
            metadata: &md,
        };
        match decide(&view) {
            Verdict::Keep => {
                w.append(e.timestamp_ns, &e.line, &e.structured_metadata)?;
                kept += 1;
            }
            Verdict::Drop => removed += 1,
            Verdict::Replace(line) => {
                w.append(e.timestamp_ns, &line, &e.structured_metadata)?;
                redacted += 1;
                kept += 1;
            }
        }
    }
    if removed == 0 && redacted == 0 {
        return Ok(Rewrite::Unchanged);
    }
    if kept == 0 {
        return Ok(Rewrite::Emptied { removed });
    }
    w.close()?;
    let Some((from_ns, through_ns)) = w.bounds() else {
        return Ok(Rewrite::Emptied { removed });
    };
    let memchunk = w.to_bytes()?;
    let meta = ObjectMeta {
        from_ms: ns_to_ms_floor(from_ns),
        through_ms: ns_to_ms_ceil(through_ns),
        ..obj.meta.clone()
    };
    let object = ChunkObject::encode(&meta, &memchunk)?;
    let parsed = object.chunk()?;
    let index_meta = ChunkMeta {
        min_time: meta.from_ms,
        max_time: meta.through_ms,
        checksum: object.checksum,
        kb: u32::try_from(parsed.uncompressed_size().saturating_add(512) / 1024)
            .unwrap_or(u32::MAX),
        entries: u32::try_from(parsed.num_entries()).unwrap_or(u32::MAX),
        ingested_at: old.ingested_at,
    };
    Ok(Rewrite::New(Box::new(Rewritten {
        object,
        meta: index_meta,
        removed,
        redacted,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loki_chunk::{Encoding, Labels};

    type In<'a> = (i64, &'a str, &'a [(&'a str, &'a str)]);
    type Out = (i64, String, Vec<(String, String)>);

    fn object(entries: &[In<'_>]) -> (ChunkObject, ChunkMeta) {
        let mut w = ChunkWriter::new(WriterOptions {
            encoding: Encoding::Snappy,
            ..Default::default()
        });
        for (ts, l, md) in entries {
            w.append(*ts, l.as_bytes(), md).unwrap();
        }
        w.close().unwrap();
        let (f, t) = w.bounds().unwrap();
        let meta = ObjectMeta::for_stream("t", &Labels::new([("app", "a")]), f, t);
        let o = ChunkObject::encode(&meta, &w.to_bytes().unwrap()).unwrap();
        let m = ChunkMeta {
            min_time: meta.from_ms,
            max_time: meta.through_ms,
            checksum: o.checksum,
            ingested_at: 7,
            ..Default::default()
        };
        (o, m)
    }

    fn lines(o: &ChunkObject) -> Vec<Out> {
        o.chunk()
            .unwrap()
            .entries()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.timestamp_ns,
                    String::from_utf8(e.line.to_vec()).unwrap(),
                    e.structured_metadata
                        .iter()
                        .map(|(a, b)| {
                            (
                                String::from_utf8(a.to_vec()).unwrap(),
                                String::from_utf8(b.to_vec()).unwrap(),
                            )
                        })
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn drops_lines_keeps_metadata_and_rebounds() {
        let (o, m) = object(&[
            (1_000_000_500, "secret a", &[("trace_id", "t1")]),
            (2_000_000_000, "public b", &[("player_id", "p1")]),
            (3_000_000_700, "public c", &[("trace_id", "t3")]),
            (4_000_000_000, "secret d", &[]),
        ]);
        let r = rewrite_chunk(&o, &m, |e| {
            if e.line.starts_with(b"secret") {
                Verdict::Drop
            } else {
                Verdict::Keep
            }
        })
        .unwrap();
        let Rewrite::New(n) = r else {
            panic!("expected a new chunk")
        };
        assert_eq!(n.removed, 2);
        assert_eq!((n.meta.min_time, n.meta.max_time), (2000, 3001));
        assert_eq!(n.meta.entries, 2);
        assert_eq!(n.meta.ingested_at, 7);
        assert_eq!(n.object.meta.fingerprint, o.meta.fingerprint);
        assert_eq!(n.object.meta.metric, o.meta.metric);
        assert_eq!(n.object.key().checksum, n.meta.checksum);
        // Each surviving entry keeps its own metadata: the symbol table is rebuilt, not stale.
        assert_eq!(
            lines(&n.object),
            vec![
                (
                    2_000_000_000,
                    "public b".into(),
                    vec![("player_id".into(), "p1".into())]
                ),
                (
                    3_000_000_700,
                    "public c".into(),
                    vec![("trace_id".into(), "t3".into())]
                ),
            ]
        );
        assert_eq!(n.object.chunk().unwrap().symbols().len(), 4);
    }

    #[test]
    fn unchanged_emptied_and_redacted() {
        let (o, m) = object(&[(10, "a", &[]), (20, "b", &[])]);
        assert!(matches!(
            rewrite_chunk(&o, &m, |_| Verdict::Keep).unwrap(),
            Rewrite::Unchanged
        ));
        assert!(matches!(
            rewrite_chunk(&o, &m, |_| Verdict::Drop).unwrap(),
            Rewrite::Emptied { removed: 2 }
        ));
        let Rewrite::New(n) = rewrite_chunk(&o, &m, |e| {
            if e.line == b"b" {
                Verdict::Replace(b"***".to_vec())
            } else {
                Verdict::Keep
            }
        })
        .unwrap() else {
            panic!()
        };
        assert_eq!((n.removed, n.redacted), (0, 1));
        let l: Vec<String> = lines(&n.object).into_iter().map(|e| e.1).collect();
        assert_eq!(l, ["a", "***"]);
    }
}
