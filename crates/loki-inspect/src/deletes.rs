//! Pending delete requests applied at query time, as Loki's queriers do: an entry is hidden
//! when its stream matches a request's selector, its time is inside the request's range and
//! the request's filters keep its line.
//!
//! Requests come from the bucket's delete-request DB as `loki-compactor` keeps it (Loki's
//! SQLite layout, `delete_requests.sqlite.gz`), falling back to Loki's default BoltDB file
//! (`delete_requests.gz`); both are read through `loki_compactor::deletes`. The matching
//! rule is the compactor's ([`loki_compactor::purge::DeleteSelector`]), so what is hidden
//! here is exactly what processing removes.
use std::path::PathBuf;

use anyhow::{Context, Result};
use loki_compactor::purge::DeleteSelector;

use crate::store_read::StoreReader;

/// Where delete requests come from.
#[derive(clap::Args, Debug, Clone)]
pub struct DeleteArgs {
    /// Read delete requests from this file (`delete_requests.sqlite.gz` or Loki's
    /// `delete_requests.gz`, gzipped or not) instead of the bucket's `index/delete_requests/`.
    #[arg(long, value_name = "FILE")]
    pub delete_requests: Option<PathBuf>,
    /// Ignore delete requests (show lines pending deletion).
    #[arg(long, conflicts_with = "delete_requests")]
    pub no_deletes: bool,
}

/// The tenant's pending requests.
#[derive(Default)]
pub struct PendingDeletes {
    requests: Vec<DeleteSelector>,
}

impl PendingDeletes {
    /// Loads the requests of `reader`'s tenant that are not processed yet.
    pub fn load(args: &DeleteArgs, reader: &StoreReader, tenant: &str) -> Result<PendingDeletes> {
        if args.no_deletes {
            return Ok(PendingDeletes::default());
        }
        let (what, raw) = match &args.delete_requests {
            Some(p) => (
                p.display().to_string(),
                std::fs::read(p).with_context(|| p.display().to_string())?,
            ),
            None => {
                let sqlite = reader.delete_requests_object("delete_requests.sqlite.gz")?;
                match sqlite {
                    Some(b) => ("delete_requests.sqlite.gz".to_owned(), b.to_vec()),
                    None => match reader.delete_requests_db()? {
                        Some(b) => ("delete_requests.gz".to_owned(), b.to_vec()),
                        None => return Ok(PendingDeletes::default()),
                    },
                }
            }
        };
        let all = loki_compactor::deletes::store::read_db_bytes(&raw)
            .map_err(|e| anyhow::anyhow!("delete requests ({what}): {e}"))?;
        let mut requests = Vec::new();
        for r in all.iter().filter(|r| r.tenant == tenant) {
            if r.progress.is_done() {
                // Already applied to the chunks by the compactor.
                continue;
            }
            requests.push(
                DeleteSelector::new(&r.query, r.range.start_ms, r.range.end_ms)
                    .map_err(|e| anyhow::anyhow!("delete request {}: {e}", r.id))?,
            );
        }
        Ok(PendingDeletes { requests })
    }

    /// Whether any request applies to the stream at all (saves per-entry work).
    pub fn for_stream(&self, labels: &[(String, String)]) -> Vec<usize> {
        (0..self.requests.len())
            .filter(|&i| {
                self.requests[i]
                    .matches_stream(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            })
            .collect()
    }

    /// Whether the entry is deleted by one of the stream's requests (`which`).
    pub fn deleted(
        &self,
        which: &[usize],
        labels: &[(String, String)],
        ts: i64,
        line: &str,
        metadata: &[(String, String)],
    ) -> bool {
        which
            .iter()
            .any(|&i| self.requests[i].selects_line(labels, ts, line, metadata))
    }
}
