//! Writes a filesystem bucket (schema v13 layout) from chunk objects: each object under
//! `<tenant>/<fp>/<base64 range>`, and one per-tenant compacted index per day table that
//! lists every chunk of that day. Shared by the query bench and the `gen_store` example.
use std::collections::BTreeMap;
use std::path::Path;

use loki_chunk::ChunkObject;
use loki_tsdb::{gzip, ChunkMeta, FormatVersion, IndexBuilder, IndexFileName, Labels};

const DAY_MS: i64 = 86_400_000;

/// One table's series: labels → (fingerprint, chunk metas).
type TableSeries = BTreeMap<Vec<(String, String)>, (u64, Vec<ChunkMeta>)>;

/// Collects chunks, then writes the index tables.
#[derive(Default)]
pub struct StoreWriter {
    /// By (tenant, day).
    tables: BTreeMap<(String, i64), TableSeries>,
}

impl StoreWriter {
    /// Stores one chunk object under `root` and remembers its index entry. `payload` is
    /// the chunk's uncompressed size (lines plus structured metadata) and `entries` its
    /// entry count: the KB and Entries stats of the index.
    pub fn add(&mut self, root: &Path, object: &ChunkObject, payload: u64, entries: u64) {
        let key = object.key();
        let path = root.join(key.to_filesystem_path(13));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, object.object_bytes()).unwrap();
        let labels: Vec<(String, String)> = object
            .meta
            .stream_labels()
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        let meta = ChunkMeta {
            min_time: key.from_ms,
            max_time: key.through_ms,
            checksum: key.checksum,
            kb: ((payload + 512) / 1024) as u32,
            entries: entries as u32,
            ingested_at: 0,
        };
        // A chunk is indexed in every day table its time range touches.
        for day in key.from_ms.div_euclid(DAY_MS)..=key.through_ms.div_euclid(DAY_MS) {
            self.tables
                .entry((key.tenant.clone(), day))
                .or_default()
                .entry(labels.clone())
                .or_insert_with(|| (key.fingerprint, Vec::new()))
                .1
                .push(meta);
        }
    }

    /// Writes `index/index_<day>/<tenant>/<compacted name>.tsdb.gz` for every table.
    pub fn finish(self, root: &Path) {
        for ((tenant, day), series) in self.tables {
            let mut b = IndexBuilder::new(FormatVersion::V3);
            for (labels, (fp, metas)) in series {
                b.add_series(Labels::new(labels), fp, metas);
            }
            let (bytes, summary) = b.build().unwrap();
            let name = IndexFileName::compacted(1_795_000_000_000_000_000, &summary);
            let dir = root.join(format!("index/index_{day}/{tenant}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
        }
    }
}
