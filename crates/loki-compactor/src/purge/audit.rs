//! The audit log of delete processing: one JSON record per chunk removed, rewritten or
//! skipped, in the bucket that holds the chunks. Object stores cannot append, so the log is
//! a sequence of immutable segments, one per (pass, table, tenant):
//! `loki-compactor/delete-audit/<tenant>/<unix ns>-<table>.jsonl`. A segment is written
//! before the markers and the index that apply it (write-ahead); a pass repeated after a
//! crash writes the same records again, which readers fold ([`read`]). Format:
//! `formats/delete-audit.md`.

use std::collections::BTreeSet;

use bytes::Bytes;
use loki_bucket::Bucket;
use serde::{Deserialize, Serialize};

use crate::error::{CompactorError, Result};

/// Prefix of the audit log in a bucket.
pub const PREFIX: &str = loki_bucket::compactor_state::DELETE_AUDIT;

/// What happened to a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditAction {
    /// Removed from the index and marked (wholly covered, or nothing left after filtering).
    Deleted,
    /// Replaced by `new_chunk` (lines removed or redacted); the original is removed from
    /// this table's index.
    Rewritten,
    /// Could not be read (missing or corrupt): left as it was.
    Skipped,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Pass time, unix ms.
    pub time_ms: i64,
    /// Tenant.
    pub tenant: String,
    /// Index table.
    pub table: String,
    /// Requests that selected lines of the chunk (or covered it).
    pub request_ids: Vec<String>,
    /// What happened.
    pub action: AuditAction,
    /// Chunk id `<tenant>/<fp>/<from>:<through>:<checksum>`.
    pub chunk: String,
    /// Id of the replacement chunk, for `rewritten` when it is indexed in this table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_chunk: Option<String>,
    /// Entries removed (for whole-chunk deletions: the chunk's entry count from the index).
    pub lines_removed: u64,
    /// Entries whose line was redacted.
    #[serde(default)]
    pub lines_redacted: u64,
    /// Why a chunk was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Key of a new segment.
pub fn segment_key(tenant: &str, table: &str, created_ns: i64) -> String {
    format!("{PREFIX}{tenant}/{created_ns:019}-{table}.jsonl")
}

/// Writes one segment (nothing for no records).
pub async fn write_segment(
    bucket: &Bucket,
    tenant: &str,
    table: &str,
    created_ns: i64,
    records: &[AuditRecord],
) -> Result<Option<String>> {
    if records.is_empty() {
        return Ok(None);
    }
    let mut body = Vec::new();
    for r in records {
        serde_json::to_writer(&mut body, r).map_err(|e| CompactorError::Task(e.to_string()))?;
        body.push(b'\n');
    }
    let key = segment_key(tenant, table, created_ns);
    bucket.put(&key, Bytes::from(body)).await?;
    Ok(Some(key))
}

/// Parses one segment; `key` names it in errors.
pub fn parse_segment(key: &str, body: &[u8]) -> Result<Vec<AuditRecord>> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    for line in body.split(|&b| b == b'\n') {
        if !line.is_empty() {
            out.push(
                serde_json::from_slice(line).map_err(|e| CompactorError::Object {
                    key: key.to_owned(),
                    reason: format!("audit record at byte {offset}: {e}"),
                })?,
            );
        }
        offset += line.len() + 1;
    }
    Ok(out)
}

/// Every record in `bucket` (of `tenant` only, if given), oldest segment first, records a
/// repeated pass wrote twice folded into one.
pub async fn read(bucket: &Bucket, tenant: Option<&str>) -> Result<Vec<AuditRecord>> {
    let prefix = match tenant {
        Some(t) => format!("{PREFIX}{t}/"),
        None => PREFIX.to_owned(),
    };
    let mut objects = bucket.list(&prefix).await?;
    // Segment names start with the creation time: sort by it across tenants.
    objects.sort_by(|a, b| {
        let name = |k: &str| k.rsplit('/').next().unwrap_or("").to_owned();
        name(&a.key).cmp(&name(&b.key)).then(a.key.cmp(&b.key))
    });
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for o in objects {
        if !o.key.ends_with(".jsonl") {
            continue;
        }
        let body = bucket.get(&o.key).await?;
        for r in parse_segment(&o.key, &body)? {
            let id = (
                r.tenant.clone(),
                r.table.clone(),
                r.chunk.clone(),
                r.action,
                r.new_chunk.clone(),
                r.request_ids.clone(),
            );
            if seen.insert(id) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_error_offset() {
        let r = AuditRecord {
            time_ms: 5,
            tenant: "t".into(),
            table: "index_1".into(),
            request_ids: vec!["abc".into()],
            action: AuditAction::Rewritten,
            chunk: "t/1/a:b:c".into(),
            new_chunk: Some("t/1/a:b:d".into()),
            lines_removed: 2,
            lines_redacted: 0,
            reason: None,
        };
        let mut body = serde_json::to_vec(&r).unwrap();
        body.push(b'\n');
        assert_eq!(parse_segment("k", &body).unwrap(), vec![r]);
        let l = body.len();
        body.extend_from_slice(b"{oops\n");
        let e = parse_segment("k", &body).unwrap_err().to_string();
        assert!(e.contains(&format!("byte {l}")), "{e}");
        assert!(segment_key("t", "index_1", 42).ends_with("/t/0000000000000000042-index_1.jsonl"));
    }
}
