//! Reader of Loki's default delete-request DB (BoltDB flavour, spec §8.7.1,
//! `<prefix>delete_requests/delete_requests.gz`): the store migrates it into the SQLite
//! layout once, and offline tools read it when no SQLite DB exists.

use std::collections::BTreeMap;

use loki_bucket::Bucket;

use crate::bbolt;
use crate::error::{CompactorError, Result};

/// One delete request, shards merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// 8 hex digits.
    pub request_id: String,
    /// Start, unix ms.
    pub start_ms: i64,
    /// End, unix ms.
    pub end_ms: i64,
    /// LogQL selector (with filters).
    pub query: String,
    /// `received`, `processed` or `<N>% Complete`.
    pub status: String,
    /// Creation, unix ms.
    pub created_ms: i64,
}

/// The DB's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteDb {
    /// Requests per tenant, by creation time.
    pub requests: BTreeMap<String, Vec<DeleteRequest>>,
    /// Cache generation numbers per tenant.
    pub generations: BTreeMap<String, String>,
}

/// One shard row pair of the BoltDB file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoltShard {
    /// `received` / `processed` (None when the status row is missing).
    pub status: Option<String>,
    /// Creation, unix ms.
    pub created: i64,
    /// Start, unix ms.
    pub start: i64,
    /// End, unix ms.
    pub end: i64,
    /// LogQL query.
    pub query: String,
}

/// Shard rows per (tenant, request id), by sequence number.
pub type BoltShards = BTreeMap<(String, String), BTreeMap<u32, BoltShard>>;

fn hex(s: &str) -> Option<i64> {
    i64::from_str_radix(s, 16).ok()
}

impl DeleteDb {
    /// Parses the (gunzipped) bbolt DB.
    pub fn parse(db: &[u8]) -> Result<Self> {
        let (shards, generations) = Self::parse_shards(db)?;
        Ok(Self::from_shards(shards, generations))
    }

    /// Parses the (gunzipped) bbolt DB into its shard rows and generation numbers.
    pub fn parse_shards(db: &[u8]) -> Result<(BoltShards, BTreeMap<String, String>)> {
        let rows = bbolt::read_bucket(db, b"index").map_err(|e| CompactorError::Marker {
            key: "delete_requests".into(),
            reason: e.to_string(),
        })?;
        // (tenant, id) -> seq -> shard
        let mut shards: BoltShards = BTreeMap::new();
        let mut generations = BTreeMap::new();
        for (k, v) in rows {
            let (Ok(k), Ok(v)) = (String::from_utf8(k), String::from_utf8(v)) else {
                continue;
            };
            let Some((hash, range)) = k.split_once('\0') else {
                continue;
            };
            let split_id = |s: &str| -> Option<(String, String, u32)> {
                let mut p = s.splitn(3, ':');
                let t = p.next()?.to_owned();
                let id = p.next()?.to_owned();
                let seq = p.next().map(|x| x.parse().ok()).unwrap_or(Some(0))?;
                Some((t, id, seq))
            };
            if hash == "1" {
                if let Some((t, id, seq)) = split_id(range) {
                    shards
                        .entry((t, id))
                        .or_default()
                        .entry(seq)
                        .or_default()
                        .status = Some(v);
                }
            } else if let Some(rest) = hash.strip_prefix("2:") {
                let mut r = range.split(':');
                let (Some(c), Some(s), Some(e)) = (
                    r.next().and_then(hex),
                    r.next().and_then(hex),
                    r.next().and_then(hex),
                ) else {
                    continue;
                };
                if let Some((t, id, seq)) = split_id(rest) {
                    let sh = shards.entry((t, id)).or_default().entry(seq).or_default();
                    (sh.created, sh.start, sh.end, sh.query) = (c, s, e, v);
                }
            } else if let Some(t) = hash.strip_prefix("3:") {
                generations.insert(t.to_owned(), v);
            }
        }
        Ok((shards, generations))
    }

    /// Merges shard rows into requests as Loki's list API does.
    pub fn from_shards(shards: BoltShards, generations: BTreeMap<String, String>) -> Self {
        let mut out = DeleteDb {
            generations,
            ..Default::default()
        };
        for ((tenant, id), parts) in shards {
            let total = parts.len();
            let done = parts
                .values()
                .filter(|s| s.status.as_deref() == Some("processed"))
                .count();
            let Some(first) = parts.values().find(|s| !s.query.is_empty()) else {
                continue;
            };
            let status = if done == total {
                "processed".to_owned()
            } else if done == 0 {
                "received".to_owned()
            } else {
                format!("{}% Complete", done * 100 / total)
            };
            out.requests.entry(tenant).or_default().push(DeleteRequest {
                request_id: id,
                start_ms: parts.values().map(|s| s.start).min().unwrap_or(0),
                end_ms: parts.values().map(|s| s.end).max().unwrap_or(0),
                query: first.query.clone(),
                status,
                created_ms: first.created,
            });
        }
        for v in out.requests.values_mut() {
            v.sort_by(|a, b| {
                a.created_ms
                    .cmp(&b.created_ms)
                    .then(a.request_id.cmp(&b.request_id))
            });
        }
        out
    }

    /// Loads `<key_prefix>delete_requests/delete_requests.gz`; a missing object is an empty DB.
    pub async fn load(bucket: &Bucket, key_prefix: &str) -> Result<Self> {
        let key = format!("{key_prefix}delete_requests/delete_requests.gz");
        match bucket.get(&key).await {
            Ok(b) => {
                let raw = loki_tsdb::gunzip(&b).map_err(|e| CompactorError::Marker {
                    key: key.clone(),
                    reason: e.to_string(),
                })?;
                Self::parse(&raw)
            }
            Err(e) if e.is_not_found() => Ok(DeleteDb::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /loki/api/v1/delete` body for `tenant` (Prometheus-style second timestamps).
    pub fn list_json(&self, tenant: &str) -> String {
        let items: Vec<String> = self
            .requests
            .get(tenant)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|r| {
                format!(
                    "{{\"request_id\":{},\"start_time\":{},\"end_time\":{},\"query\":{},\"status\":{},\"created_at\":{},\"user_id\":\"\"}}",
                    json_str(&r.request_id),
                    seconds(r.start_ms),
                    seconds(r.end_ms),
                    json_str(&r.query),
                    json_str(&r.status),
                    seconds(r.created_ms)
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    }

    /// `GET /loki/api/v1/cache/generation_numbers` body for `tenant`.
    pub fn generation_json(&self, tenant: &str) -> String {
        format!(
            "{}\n",
            json_str(
                self.generations
                    .get(tenant)
                    .map(String::as_str)
                    .unwrap_or("")
            )
        )
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Milliseconds as seconds with up to three decimals, trailing zeros dropped.
fn seconds(ms: i64) -> String {
    let (s, f) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if f == 0 {
        s.to_string()
    } else {
        format!("{s}.{f:03}").trim_end_matches('0').to_owned()
    }
}

fn hex_ms(v: i64) -> String {
    if v < 0 {
        format!("-{:x}", v.unsigned_abs())
    } else {
        format!("{v:x}")
    }
}

/// Encodes delete requests and generation numbers as Loki's BoltDB file (uncompressed), so a
/// Loki compactor configured with the default `boltdb` type sees what we store.
///
/// `requests` pairs each request with its unprocessed shards. SQLite forgets the ranges of
/// processed shards, so for a partially processed request every gap between unprocessed
/// shards becomes one processed shard; a fully processed request is one processed shard-0
/// row with the merged range, as Loki merges it.
pub fn encode(
    requests: &[(super::model::StoredRequest, Vec<super::model::TimeRange>)],
    generations: &[(String, i64)],
) -> Vec<u8> {
    let mut kvs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut row = |tenant: &str,
                   id: &str,
                   seq: usize,
                   created: i64,
                   s: i64,
                   e: i64,
                   status: &str,
                   query: &str| {
        let name = if seq == 0 {
            format!("{tenant}:{id}")
        } else {
            format!("{tenant}:{id}:{seq}")
        };
        kvs.push((
            format!("1\0{name}").into_bytes(),
            status.as_bytes().to_vec(),
        ));
        kvs.push((
            format!("2:{name}\0{}:{}:{}", hex_ms(created), hex_ms(s), hex_ms(e)).into_bytes(),
            query.as_bytes().to_vec(),
        ));
    };
    for (r, open) in requests {
        let (t, id, c, q) = (&r.tenant, &r.id, r.created_ms, &r.query);
        if r.progress.is_done() || open.is_empty() {
            row(
                t,
                id,
                0,
                c,
                r.range.start_ms,
                r.range.end_ms,
                "processed",
                q,
            );
            continue;
        }
        let mut shards: Vec<(i64, i64, &str)> = Vec::new();
        let mut cur = r.range.start_ms;
        for s in open {
            if s.start_ms > cur {
                shards.push((cur, s.start_ms, "processed"));
            }
            shards.push((s.start_ms, s.end_ms, "received"));
            cur = cur.max(s.end_ms);
        }
        if cur < r.range.end_ms {
            shards.push((cur, r.range.end_ms, "processed"));
        }
        for (seq, (s, e, st)) in shards.into_iter().enumerate() {
            row(t, id, seq, c, s, e, st, q);
        }
    }
    for (t, g) in generations {
        kvs.push((format!("3:{t}\0").into_bytes(), g.to_string().into_bytes()));
    }
    bbolt::write_bucket(b"index", &kvs, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_formatting() {
        assert_eq!(seconds(1_795_610_391_000), "1795610391");
        assert_eq!(seconds(1_795_610_391_370), "1795610391.37");
        assert_eq!(seconds(1_795_610_391_361), "1795610391.361");
    }
}
