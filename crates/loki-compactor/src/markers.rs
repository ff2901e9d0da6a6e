//! Marker objects: the durable list of chunk ids the sweeper will delete once
//! `retention_delete_delay` has passed. Each marker is named by its creation time in
//! unix nanoseconds (the sweeper derives its age from the name).
//!
//! Two formats:
//! * native (default): a text object in the bucket under `loki-compactor/markers/`,
//!   `loki-compactor markers v1` then one chunk id per line and an `end <count>` line
//!   (a truncated file is rejected rather than half-swept);
//! * Loki's: a bbolt file with bucket `chunks` (spec §7.1), written where Loki's own
//!   sweeper looks (the `deletion_marker_object_store_prefix`, or the local
//!   `<working_directory>/retention/<store>_<from>/markers/` directory), so that a switch
//!   back to Loki's compactor still sweeps them.
//!
//! Reading accepts both formats from all of those locations, so a switch from Loki's
//! compactor loses nothing either.

use std::path::PathBuf;

use bytes::Bytes;
use loki_bucket::Bucket;

use crate::bbolt;
use crate::clock::Clock;
use crate::error::{CompactorError, Result};

/// Default prefix of native markers in the bucket.
pub const NATIVE_PREFIX: &str = loki_bucket::compactor_state::MARKERS;
const HEADER: &str = "loki-compactor markers v1\n";
/// Loki rolls a marker file over after this many entries.
pub const MAX_PER_FILE: usize = 100_000;

/// Which format new markers are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MarkerFormat {
    /// Our text format in the bucket.
    #[default]
    Native,
    /// Loki's bbolt format and location.
    Loki,
}

/// Where one marker is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerSource {
    /// An object in the bucket.
    Object(String),
    /// A file in a local directory (Loki's default marker location).
    Local(PathBuf),
}

/// A marker found by [`MarkerStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerFile {
    /// Creation time, unix ns (from the name).
    pub created_ns: i64,
    /// Location.
    pub source: MarkerSource,
}

/// Encodes ids in `format`.
pub fn encode(format: MarkerFormat, ids: &[String]) -> Vec<u8> {
    match format {
        MarkerFormat::Native => {
            let mut s = String::with_capacity(HEADER.len() + ids.len() * 64);
            s.push_str(HEADER);
            for id in ids {
                s.push_str(id);
                s.push('\n');
            }
            s.push_str(&format!("end {}\n", ids.len()));
            s.into_bytes()
        }
        MarkerFormat::Loki => {
            let vals: Vec<Vec<u8>> = ids.iter().map(|i| i.as_bytes().to_vec()).collect();
            bbolt::write_sequence_bucket(b"chunks", &vals)
        }
    }
}

/// Decodes a marker in either format.
pub fn decode(key: &str, b: &[u8]) -> Result<Vec<String>> {
    let bad = |reason: String| CompactorError::Marker {
        key: key.to_owned(),
        reason,
    };
    if bbolt::looks_like_bbolt(b) {
        let vals = bbolt::read_bucket_values(b, b"chunks").map_err(|e| bad(e.to_string()))?;
        return vals
            .into_iter()
            .map(|v| String::from_utf8(v).map_err(|_| bad("chunk id is not UTF-8".into())))
            .collect();
    }
    let text = std::str::from_utf8(b).map_err(|_| bad("not UTF-8 and not bbolt".into()))?;
    let body = text
        .strip_prefix(HEADER)
        .ok_or_else(|| bad("unknown marker format".into()))?;
    let mut ids: Vec<String> = Vec::new();
    let mut end = None;
    for line in body.lines() {
        if let Some(n) = line.strip_prefix("end ") {
            end = n.parse::<usize>().ok();
            break;
        }
        ids.push(line.to_owned());
    }
    match end {
        Some(n) if n == ids.len() => Ok(ids),
        _ => Err(bad("truncated (missing or wrong end line)".into())),
    }
}

/// The markers of one bucket.
#[derive(Debug, Clone)]
pub struct MarkerStore {
    /// Bucket holding the chunks (and bucket markers).
    pub bucket: Bucket,
    /// Format of new markers.
    pub format: MarkerFormat,
    /// Prefix new bucket markers go to (native: ours; Loki: the configured prefix).
    pub write_prefix: Option<String>,
    /// Local directory new markers go to (Loki format without a configured prefix).
    pub write_dir: Option<PathBuf>,
    /// Bucket prefixes read by the sweeper.
    pub read_prefixes: Vec<String>,
    /// Local directories read by the sweeper.
    pub read_dirs: Vec<PathBuf>,
    /// `from` label of the metrics.
    pub from: String,
}

fn io(path: &std::path::Path, source: std::io::Error) -> CompactorError {
    CompactorError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl MarkerStore {
    /// Writes `ids` durably (split every [`MAX_PER_FILE`]); returns the locations written.
    /// Called before the index that drops these chunks is uploaded.
    pub async fn write(&self, ids: &[String], clock: &Clock) -> Result<Vec<MarkerSource>> {
        let mut out = Vec::new();
        for part in ids.chunks(MAX_PER_FILE) {
            let ns = clock.unique_ns();
            let data = encode(self.format, part);
            if let Some(dir) = &self.write_dir {
                // Write to a temp name, fsync, rename: the marker exists whole or not at all.
                std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
                let tmp = dir.join(format!(".{ns}.tmp"));
                let dst = dir.join(ns.to_string());
                {
                    use std::io::Write as _;
                    let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
                    f.write_all(&data).map_err(|e| io(&tmp, e))?;
                    f.sync_all().map_err(|e| io(&tmp, e))?;
                }
                std::fs::rename(&tmp, &dst).map_err(|e| io(&dst, e))?;
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                tracing::info!(file = %dst.display(), marks = part.len(), "mark file created");
                out.push(MarkerSource::Local(dst));
            } else {
                let prefix = self.write_prefix.as_deref().unwrap_or(NATIVE_PREFIX);
                let key = format!("{prefix}{ns}");
                match self
                    .bucket
                    .put_if_absent(&key, Bytes::from(data.clone()))
                    .await
                {
                    Ok(()) => {}
                    // A retried PUT that had landed: fine if the content is ours.
                    Err(e) if matches!(e, loki_bucket::BucketError::AlreadyExists { .. }) => {
                        if self.bucket.get(&key).await?.as_ref() != data.as_slice() {
                            return Err(e.into());
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
                tracing::info!(file = %key, marks = part.len(), "mark file created");
                out.push(MarkerSource::Object(key));
            }
        }
        Ok(out)
    }

    /// Every marker in every read location, oldest first. Names that are not a unix-ns
    /// number are skipped with a warning, as Loki does.
    pub async fn list(&self) -> Result<Vec<MarkerFile>> {
        let mut out = Vec::new();
        for p in &self.read_prefixes {
            let (_, objs) = self.bucket.list_dir(p).await?;
            for o in objs {
                let name = o.key.rsplit('/').next().unwrap_or("");
                match name.parse::<i64>() {
                    Ok(ns) => out.push(MarkerFile {
                        created_ns: ns,
                        source: MarkerSource::Object(o.key.clone()),
                    }),
                    Err(_) => tracing::warn!(key = %o.key, "wrong file name"),
                }
            }
        }
        for d in &self.read_dirs {
            let rd = match std::fs::read_dir(d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(d, e)),
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Ok(ns) = name.parse::<i64>() {
                    out.push(MarkerFile {
                        created_ns: ns,
                        source: MarkerSource::Local(e.path()),
                    });
                }
            }
        }
        out.sort_by_key(|m| m.created_ns);
        out.dedup();
        Ok(out)
    }

    /// Reads one marker's chunk ids.
    pub async fn read(&self, m: &MarkerFile) -> Result<Vec<String>> {
        match &m.source {
            MarkerSource::Object(k) => decode(k, &self.bucket.get(k).await?),
            MarkerSource::Local(p) => {
                let b = std::fs::read(p).map_err(|e| io(p, e))?;
                decode(&p.display().to_string(), &b)
            }
        }
    }

    /// Removes a fully swept marker (missing = done).
    pub async fn remove(&self, m: &MarkerFile) -> Result<()> {
        match &m.source {
            MarkerSource::Object(k) => Ok(self.bucket.delete(k).await?),
            MarkerSource::Local(p) => match std::fs::remove_file(p) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io(p, e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_roundtrip_and_truncation_is_rejected() {
        let ids: Vec<String> = (0..3).map(|i| format!("t/{i:x}/1:2:3")).collect();
        for f in [MarkerFormat::Native, MarkerFormat::Loki] {
            assert_eq!(decode("k", &encode(f, &ids)).unwrap(), ids);
        }
        let n = encode(MarkerFormat::Native, &ids);
        assert!(decode("k", &n[..n.len() - 7]).is_err());
        assert!(decode("k", b"garbage").is_err());
    }
}
