//! What an interrupted pass already finished: `(request shard, table, tenant)` triples whose
//! index (and markers, new chunks, audit records) are durable. A restarted pass skips them
//! instead of fetching and rewriting the same chunks again. Unlike Loki's series-progress
//! file (spec §8.5 hazard), an entry is recorded only after the table's index upload
//! succeeded, so a failed upload never makes a request look done.
//!
//! Stored in `<working_directory>/deletion/purge_progress`, one key per line, replaced
//! atomically; emptied once every request of the batch is marked processed. Losing it only
//! costs repeated work: rewriting a chunk that no longer holds selected lines changes
//! nothing.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::error::{CompactorError, Result};
use crate::purge::PurgeRequest;

/// Progress of the current batch.
#[derive(Debug, Default)]
pub struct Progress {
    path: Option<PathBuf>,
    done: Mutex<BTreeSet<String>>,
}

fn key(r: &PurgeRequest, table: &str, tenant: &str) -> String {
    format!(
        "{}/{}/{}/{}/{table}/{tenant}",
        r.request_id, r.sequence, r.start_ms, r.end_ms
    )
}

impl Progress {
    /// Loads the progress file at `path` (`None`: in memory only). A missing file is empty.
    pub fn load(path: Option<PathBuf>) -> Result<Self> {
        let mut done = BTreeSet::new();
        if let Some(p) = &path {
            match std::fs::read_to_string(p) {
                Ok(s) => done.extend(s.lines().filter(|l| !l.is_empty()).map(str::to_owned)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CompactorError::Io {
                        path: p.display().to_string(),
                        source,
                    })
                }
            }
        }
        Ok(Progress {
            path,
            done: Mutex::new(done),
        })
    }

    /// Whether `r` is already applied to `tenant`'s index in `table`.
    pub fn is_done(&self, r: &PurgeRequest, table: &str, tenant: &str) -> bool {
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key(r, table, tenant))
    }

    /// Number of recorded triples.
    pub fn len(&self) -> usize {
        self.done.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records `reqs` as applied to `tenant` in `table` (call after the index upload).
    pub fn record<'a>(
        &self,
        reqs: impl IntoIterator<Item = &'a PurgeRequest>,
        table: &str,
        tenant: &str,
    ) -> Result<()> {
        let mut d = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let before = d.len();
        for r in reqs {
            d.insert(key(r, table, tenant));
        }
        if d.len() != before {
            self.persist(&d)?;
        }
        Ok(())
    }

    /// Forgets everything (after the batch is marked processed).
    pub fn reset(&self) -> Result<()> {
        let mut d = self.done.lock().unwrap_or_else(|e| e.into_inner());
        d.clear();
        self.persist(&d)
    }

    fn persist(&self, d: &BTreeSet<String>) -> Result<()> {
        let Some(p) = &self.path else { return Ok(()) };
        let io = |source| CompactorError::Io {
            path: p.display().to_string(),
            source,
        };
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut text = String::new();
        for k in d {
            text.push_str(k);
            text.push('\n');
        }
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, p).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::purge::Action;

    #[test]
    fn survives_reload_and_resets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deletion/purge_progress");
        let r = PurgeRequest {
            tenant: "t".into(),
            request_id: "abc".into(),
            sequence: 0,
            start_ms: 1,
            end_ms: 2,
            query: "{a=\"b\"}".into(),
            created_ms: 0,
            action: Action::Delete,
        };
        let p = Progress::load(Some(path.clone())).unwrap();
        assert!(!p.is_done(&r, "index_1", "t"));
        p.record([&r], "index_1", "t").unwrap();
        let p = Progress::load(Some(path.clone())).unwrap();
        assert!(p.is_done(&r, "index_1", "t"));
        assert!(!p.is_done(&r, "index_2", "t"));
        p.reset().unwrap();
        assert!(Progress::load(Some(path)).unwrap().is_empty());
    }
}
