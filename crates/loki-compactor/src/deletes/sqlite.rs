//! Loki's SQLite delete-request layout (spec §8.7.2): tables `requests`, `shards`,
//! `cache_gen`, plus our extension tables for redaction requests, which Loki never reads
//! (so a Loki compactor taking over the file neither lists nor executes them).
//!
//! The functions take a `rusqlite::Connection` (a `Transaction` derefs to one) so the store
//! can group several API calls into one transaction.

use std::io::{Read, Write};
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::model::{
    DueRequest, NewRequest, Progress, Redaction, RequestKind, StoredRequest, TimeRange,
};

/// Loki's tables and indexes, with its "if not exists" semantics (Loki runs the same
/// statements at every start, so a file written by us is accepted and vice versa).
const LOKI_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at INT NOT NULL,
    completed_at INT,
    start_time INT NOT NULL,
    end_time INT NOT NULL,
    total_shards INT NOT NULL,
    processed_shards INT DEFAULT 0,
    query TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shards (
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    start_time INT NOT NULL,
    end_time INT NOT NULL,
    FOREIGN KEY (id) REFERENCES requests(id)
);
CREATE TABLE IF NOT EXISTS cache_gen (
    user_id TEXT PRIMARY KEY,
    gen_num INT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_requests_user_id ON requests(user_id);
CREATE INDEX IF NOT EXISTS idx_requests_user_completed ON requests(user_id, completed_at);
CREATE INDEX IF NOT EXISTS idx_shards_id_user ON shards(id, user_id);
CREATE INDEX IF NOT EXISTS idx_cache_gen_user_id ON shards(user_id);
";

/// Our redaction requests: same shape as Loki's tables plus the mask parameters, under
/// names Loki does not know.
const REDACTION_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS x_redaction_requests (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at INT NOT NULL,
    completed_at INT,
    start_time INT NOT NULL,
    end_time INT NOT NULL,
    total_shards INT NOT NULL,
    processed_shards INT DEFAULT 0,
    query TEXT NOT NULL,
    pattern TEXT NOT NULL,
    mask TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS x_redaction_shards (
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    start_time INT NOT NULL,
    end_time INT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_x_redaction_shards_id_user ON x_redaction_shards(id, user_id);
";

/// The two table pairs: Loki's delete requests and our redactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tables {
    Delete,
    Redact,
}

impl Tables {
    fn requests(self) -> &'static str {
        match self {
            Tables::Delete => "requests",
            Tables::Redact => "x_redaction_requests",
        }
    }
    fn shards(self) -> &'static str {
        match self {
            Tables::Delete => "shards",
            Tables::Redact => "x_redaction_shards",
        }
    }
    fn of(kind: &RequestKind) -> Self {
        match kind {
            RequestKind::Delete => Tables::Delete,
            RequestKind::Redact(_) => Tables::Redact,
        }
    }
}

/// Opens (creating if needed) the DB file at `path` and makes sure the schema exists.
///
/// The local file is only a cache of the bucket object, so durability comes from the
/// upload: no fsync per commit, and rollback-journal mode so the file alone is a consistent
/// copy after every commit (a file that Loki left in WAL mode is switched back).
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.execute_batch(LOKI_SCHEMA)?;
    conn.execute_batch(REDACTION_SCHEMA)?;
    Ok(conn)
}

/// Replaces the file at `path` (and any side files) with `db`, the bytes of an SQLite file.
pub fn write_file(path: &Path, db: &[u8]) -> std::io::Result<()> {
    for side in ["-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(side);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::write(path, db)
}

/// Gzip, as Loki uploads the DB.
pub fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(raw)?;
    enc.finish()
}

/// Gunzip of an uploaded DB (plain files are passed through).
pub fn gunzip(b: &[u8]) -> std::io::Result<Vec<u8>> {
    if !b.starts_with(&[0x1f, 0x8b]) {
        return Ok(b.to_vec());
    }
    let mut out = Vec::with_capacity(b.len() * 4);
    flate2::read::MultiGzDecoder::new(b).read_to_end(&mut out)?;
    Ok(out)
}

/// True when some request (delete or redaction, any tenant) has this id: Loki's `requests`
/// table keys on the id alone.
pub fn id_taken(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM requests WHERE id = ?1) + (SELECT count(*) FROM x_redaction_requests WHERE id = ?1)",
        [id],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Inserts a new request with its shards.
pub fn insert(
    conn: &Connection,
    id: &str,
    created_ms: i64,
    req: &NewRequest,
) -> rusqlite::Result<()> {
    let t = Tables::of(&req.kind);
    let start = req.shards.iter().map(|s| s.start_ms).min().unwrap_or(0);
    let end = req.shards.iter().map(|s| s.end_ms).max().unwrap_or(0);
    let total = req.shards.len() as i64;
    match &req.kind {
        RequestKind::Delete => conn.execute(
            "INSERT INTO requests (id, user_id, created_at, completed_at, start_time, end_time, total_shards, processed_shards, query) VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, 0, ?7)",
            params![id, req.tenant, created_ms, start, end, total, req.query],
        )?,
        RequestKind::Redact(r) => conn.execute(
            "INSERT INTO x_redaction_requests (id, user_id, created_at, completed_at, start_time, end_time, total_shards, processed_shards, query, pattern, mask) VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, 0, ?7, ?8, ?9)",
            params![id, req.tenant, created_ms, start, end, total, req.query, r.pattern, r.mask],
        )?,
    };
    let mut st = conn.prepare_cached(&format!(
        "INSERT INTO {} (id, user_id, start_time, end_time) VALUES (?1, ?2, ?3, ?4)",
        t.shards()
    ))?;
    for s in &req.shards {
        st.execute(params![id, req.tenant, s.start_ms, s.end_ms])?;
    }
    Ok(())
}

fn read_rows(
    conn: &Connection,
    t: Tables,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<Vec<StoredRequest>> {
    let extra = match t {
        Tables::Delete => "'', ''",
        Tables::Redact => "pattern, mask",
    };
    let sql = format!(
        "SELECT id, user_id, created_at, completed_at, start_time, end_time, total_shards, processed_shards, query, {extra} FROM {} {filter}",
        t.requests()
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(args, |r| {
        let total: i64 = r.get(6)?;
        let done: Option<i64> = r.get(7)?;
        let kind = match t {
            Tables::Delete => RequestKind::Delete,
            Tables::Redact => RequestKind::Redact(Redaction {
                pattern: r.get(9)?,
                mask: r.get(10)?,
            }),
        };
        Ok(StoredRequest {
            id: r.get(0)?,
            tenant: r.get(1)?,
            created_ms: r.get(2)?,
            completed_ms: r.get(3)?,
            range: TimeRange {
                start_ms: r.get(4)?,
                end_ms: r.get(5)?,
            },
            progress: Progress {
                processed: u32::try_from(done.unwrap_or(0).max(0)).unwrap_or(u32::MAX),
                total: u32::try_from(total.max(1)).unwrap_or(u32::MAX),
            },
            query: r.get(8)?,
            kind,
        })
    })?;
    rows.collect()
}

fn sort(v: &mut [StoredRequest]) {
    v.sort_by(|a, b| {
        a.created_ms
            .cmp(&b.created_ms)
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// Loki's delete requests of `tenant` (all tenants when `None`), by creation time.
pub fn list_deletes(
    conn: &Connection,
    tenant: Option<&str>,
) -> rusqlite::Result<Vec<StoredRequest>> {
    let mut v = match tenant {
        Some(t) => read_rows(conn, Tables::Delete, "WHERE user_id = ?1", &[&t])?,
        None => read_rows(conn, Tables::Delete, "", &[])?,
    };
    sort(&mut v);
    Ok(v)
}

/// Redaction requests of `tenant` (all tenants when `None`), by creation time.
pub fn list_redactions(
    conn: &Connection,
    tenant: Option<&str>,
) -> rusqlite::Result<Vec<StoredRequest>> {
    let mut v = match tenant {
        Some(t) => read_rows(conn, Tables::Redact, "WHERE user_id = ?1", &[&t])?,
        None => read_rows(conn, Tables::Redact, "", &[])?,
    };
    sort(&mut v);
    Ok(v)
}

/// One request of `tenant` by id (either kind).
pub fn get(conn: &Connection, tenant: &str, id: &str) -> rusqlite::Result<Option<StoredRequest>> {
    for t in [Tables::Delete, Tables::Redact] {
        if let Some(r) = read_rows(conn, t, "WHERE user_id = ?1 AND id = ?2", &[&tenant, &id])?
            .into_iter()
            .next()
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// Removes a request and its shards (cancellation). Returns false when there was none.
pub fn remove(
    conn: &Connection,
    tenant: &str,
    id: &str,
    kind: &RequestKind,
) -> rusqlite::Result<bool> {
    let t = Tables::of(kind);
    conn.execute(
        &format!("DELETE FROM {} WHERE id = ?1 AND user_id = ?2", t.shards()),
        params![id, tenant],
    )?;
    let n = conn.execute(
        &format!(
            "DELETE FROM {} WHERE id = ?1 AND user_id = ?2",
            t.requests()
        ),
        params![id, tenant],
    )?;
    Ok(n > 0)
}

/// Result of marking one shard processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// No such unprocessed shard (unknown, cancelled, or already marked).
    NotFound,
    /// Marked; the request's progress afterwards.
    Done(Progress),
}

/// Marks one shard processed as Loki does: delete its row, count it, set `completed_at`
/// (ms) when it was the last one.
pub fn mark_shard(
    conn: &Connection,
    tenant: &str,
    id: &str,
    range: TimeRange,
    now_ms: i64,
) -> rusqlite::Result<Marked> {
    for t in [Tables::Delete, Tables::Redact] {
        // Exactly one row: shards of one request never repeat a range.
        let n = conn.execute(
            &format!(
                "DELETE FROM {} WHERE rowid = (SELECT rowid FROM {} WHERE id = ?1 AND user_id = ?2 AND start_time = ?3 AND end_time = ?4 LIMIT 1)",
                t.shards(),
                t.shards()
            ),
            params![id, tenant, range.start_ms, range.end_ms],
        )?;
        if n == 0 {
            continue;
        }
        conn.execute(
            &format!(
                "UPDATE {} SET processed_shards = coalesce(processed_shards, 0) + 1, completed_at = CASE WHEN coalesce(processed_shards, 0) + 1 >= total_shards THEN ?3 ELSE completed_at END WHERE id = ?1 AND user_id = ?2",
                t.requests()
            ),
            params![id, tenant, now_ms],
        )?;
        let p = read_rows(conn, t, "WHERE user_id = ?1 AND id = ?2", &[&tenant, &id])?
            .into_iter()
            .next()
            .map(|r| r.progress)
            .unwrap_or(Progress {
                processed: 1,
                total: 1,
            });
        return Ok(Marked::Done(p));
    }
    Ok(Marked::NotFound)
}

/// Unprocessed shards of `tenant` (all tenants when `None`), grouped per request.
pub fn unprocessed(
    conn: &Connection,
    tenant: Option<&str>,
) -> rusqlite::Result<Vec<(StoredRequest, Vec<TimeRange>)>> {
    let mut out = Vec::new();
    for t in [Tables::Delete, Tables::Redact] {
        let filter = "WHERE completed_at IS NULL AND (?1 IS NULL OR user_id = ?1)";
        let reqs = read_rows(conn, t, filter, &[&tenant])?;
        let mut st = conn.prepare_cached(&format!(
            "SELECT start_time, end_time FROM {} WHERE id = ?1 AND user_id = ?2 ORDER BY start_time, end_time",
            t.shards()
        ))?;
        for r in reqs {
            let shards = st
                .query_map(params![r.id, r.tenant], |row| {
                    Ok(TimeRange {
                        start_ms: row.get(0)?,
                        end_ms: row.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if !shards.is_empty() {
                out.push((r, shards));
            }
        }
    }
    out.sort_by(|a, b| {
        a.0.created_ms
            .cmp(&b.0.created_ms)
            .then_with(|| a.0.id.cmp(&b.0.id))
    });
    Ok(out)
}

/// The tenant's cache generation number (unix ns), if it has one.
pub fn cache_gen(conn: &Connection, tenant: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT gen_num FROM cache_gen WHERE user_id = ?1",
        [tenant],
        |r| r.get(0),
    )
    .optional()
}

/// All tenants' cache generation numbers.
pub fn cache_gens(conn: &Connection) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut st = conn.prepare_cached("SELECT user_id, gen_num FROM cache_gen ORDER BY user_id")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Sets the tenant's cache generation number.
pub fn set_cache_gen(conn: &Connection, tenant: &str, gen_ns: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO cache_gen (user_id, gen_num) VALUES (?1, ?2) ON CONFLICT(user_id) DO UPDATE SET gen_num = excluded.gen_num",
        params![tenant, gen_ns],
    )?;
    Ok(())
}

/// Converts a row set into the processing view.
pub fn due(req: StoredRequest, shards: Vec<TimeRange>) -> DueRequest {
    DueRequest {
        redaction: match &req.kind {
            RequestKind::Redact(r) => Some(r.clone()),
            RequestKind::Delete => None,
        },
        id: req.id,
        tenant: req.tenant,
        created_ms: req.created_ms,
        query: req.query,
        range: req.range,
        shards,
        total_shards: req.progress.total,
    }
}
