//! In-memory builder: add series in any order, get Loki's exact bytes.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;

use crate::chunk_meta::ChunkMeta;
use crate::error::Result;
use crate::labels::Labels;
use crate::version::FormatVersion;
use crate::writer::{IndexWriter, WriteSummary};

/// Collects series and writes them the way Loki's builder does: series
/// with the same label set are merged (the first fingerprint seen is kept),
/// chunks are sorted and de-duplicated on (min, max, checksum), series are
/// ordered by (fingerprint, labels).
#[derive(Debug, Clone)]
pub struct IndexBuilder {
    version: FormatVersion,
    series: HashMap<Labels, (u64, Vec<ChunkMeta>)>,
}

/// Sorts chunks and drops exact key duplicates (the first one is kept).
pub(crate) fn sort_dedup_chunks(chunks: &mut Vec<ChunkMeta>) {
    chunks.sort_by_key(|c| c.key());
    chunks.dedup_by_key(|c| c.key());
}

impl IndexBuilder {
    /// An empty builder for the given format version.
    pub fn new(version: FormatVersion) -> Self {
        IndexBuilder {
            version,
            series: HashMap::new(),
        }
    }

    /// Adds chunk refs of a stream. Calling again with the same labels
    /// appends chunks to that stream.
    pub fn add_series(
        &mut self,
        labels: Labels,
        fingerprint: u64,
        chunks: impl IntoIterator<Item = ChunkMeta>,
    ) {
        let e = self
            .series
            .entry(labels)
            .or_insert_with(|| (fingerprint, Vec::new()));
        e.1.extend(chunks);
    }

    /// Number of distinct label sets added.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True if nothing was added.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Writes the index to `out`.
    pub fn write_to<W: Write>(self, out: W) -> Result<(W, WriteSummary)> {
        let symbols: BTreeSet<&str> = self
            .series
            .keys()
            .flat_map(|l| l.iter().flat_map(|(n, v)| [n, v]))
            .collect();
        let symbols: Vec<String> = symbols.into_iter().map(str::to_owned).collect();
        let mut sorted: Vec<(&Labels, &(u64, Vec<ChunkMeta>))> = self.series.iter().collect();
        sorted.sort_by(|a, b| (a.1 .0, a.0).cmp(&(b.1 .0, b.0)));
        let mut w = IndexWriter::new(out, self.version, symbols)?;
        let mut ids = Vec::new();
        let mut chunks = Vec::new();
        for (labels, (fp, cs)) in sorted {
            ids.clear();
            for (n, v) in labels.iter() {
                // Every label string is in the symbol list built above.
                let n = w.symbol_index(n).unwrap_or(0);
                let v = w.symbol_index(v).unwrap_or(0);
                ids.push((n, v));
            }
            chunks.clear();
            chunks.extend_from_slice(cs);
            sort_dedup_chunks(&mut chunks);
            w.add_series(*fp, &ids, &chunks)?;
        }
        w.finish()
    }

    /// Writes the index into a new byte vector.
    pub fn build(self) -> Result<(Vec<u8>, WriteSummary)> {
        self.write_to(Vec::new())
    }
}
