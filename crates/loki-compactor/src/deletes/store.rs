//! The delete-request store: Loki's SQLite layout (§8.7.2) kept **in the bucket** as
//! `<prefix>delete_requests/delete_requests.sqlite.gz`, with a local SQLite file as cache.
//!
//! Unlike Loki (local file authoritative, uploaded every 5 minutes), every change is
//! uploaded before the call returns, and every read first checks the object's entity tag, so
//! all replicas answer the same. Concurrent writers are serialised by conditional writes
//! (`If-Match` on the entity tag; the batch is re-applied to the newer DB on a conflict);
//! backends without compare-and-swap (local filesystem) are single-node by nature.
//!
//! Calls are queued to one task that handles them in batches: reads are answered from one
//! freshness check, writes of one batch share one transaction and one upload. That keeps
//! hundreds of API calls per second cheap although each upload is the whole (gzipped) DB.
//!
//! When the SQLite object does not exist yet, Loki's BoltDB object
//! (`delete_requests.gz`, §8.7.1) is read once and migrated into it.
//!
//! ## For the processing pass
//! [`DeleteStore::due_requests`] lists what to process; [`DeleteStore::mark_shard_processed`]
//! (or [`DeleteStore::mark_request_processed`]) records the result durably. Deletion-mode
//! checks (`filter-and-delete` only) are the caller's, as it holds the tenant limits.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use loki_bucket::Bucket;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::boltdb::DeleteDb;
use super::model::{DueRequest, NewRequest, Progress, RequestKind, StoredRequest, TimeRange};
use super::sqlite;
use crate::clock::Clock;

pub use super::sqlite::Marked;

/// Object name of the SQLite DB under `<prefix>delete_requests/`.
pub const SQLITE_OBJECT: &str = "delete_requests.sqlite.gz";
/// Object name of Loki's BoltDB DB under `<prefix>delete_requests/`.
pub const BOLTDB_OBJECT: &str = "delete_requests.gz";

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Object-store failure.
    #[error(transparent)]
    Bucket(#[from] loki_bucket::BucketError),
    /// Conditional write or read failed in the object store.
    #[error("delete-request store {key}: {message}")]
    Object {
        /// Object key.
        key: String,
        /// What failed.
        message: String,
    },
    /// SQLite failure (includes a corrupt DB object).
    #[error("delete-request DB {path}: {source}")]
    Sqlite {
        /// Local file.
        path: String,
        /// Underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// Local file I/O.
    #[error("delete-request DB {path}: {source}")]
    Io {
        /// Local file.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Loki's BoltDB object could not be migrated.
    #[error("migrating {key}: {message}")]
    Migration {
        /// Object key.
        key: String,
        /// Why.
        message: String,
    },
    /// Too many concurrent writers won the race in a row.
    #[error("delete-request store {key}: gave up after {attempts} conflicting concurrent updates")]
    Contended {
        /// Object key.
        key: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The store's task has stopped.
    #[error("delete-request store is shut down")]
    Closed,
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where and how the store keeps its DB.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `delete_request_store_key_prefix` (default `index/`).
    pub key_prefix: String,
    /// Directory for the local cache file (`<working_directory>/deletion/delete_requests`).
    pub local_dir: PathBuf,
    /// How long processed requests are still returned for query-time filtering:
    /// 3 × `tsdb_shipper.resync_interval` (15 min by default).
    pub querytime_propagation_ms: i64,
}

/// Outcome of a cancellation, with Loki's rules (§8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Removed (and the tenant's cache generation number bumped).
    Cancelled(StoredRequest),
    /// No such request for this tenant.
    NotFound,
    /// Already fully processed: never cancellable.
    Processed,
    /// Partially processed or past the cancel period, and `force` not given.
    NeedsForce,
}

/// Pending-work summary for the `loki_compactor_pending_delete_requests_count` and
/// `loki_compactor_oldest_pending_delete_request_age_seconds` gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingStats {
    /// Unprocessed shards of requests past their cancel period.
    pub shards: u64,
    /// Age of the oldest such request since `created_at + cancel_period`, ms.
    pub oldest_age_ms: i64,
}

type Work = Box<dyn FnMut(&Connection) -> rusqlite::Result<()> + Send>;

struct Job {
    write: bool,
    work: Work,
    done: oneshot::Sender<Result<()>>,
}

/// Handle on the store; cheap to clone, all clones share one queue.
#[derive(Clone)]
pub struct DeleteStore {
    queue: mpsc::Sender<Job>,
    mirror: Arc<std::sync::atomic::AtomicBool>,
    clock: Clock,
    cfg: Arc<StoreConfig>,
    key: Arc<str>,
}

impl std::fmt::Debug for DeleteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeleteStore")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl DeleteStore {
    /// Opens the store: loads (or migrates from BoltDB, or creates) the DB and makes sure
    /// the SQLite object exists in the bucket. Must run inside a Tokio runtime.
    pub async fn open(bucket: Bucket, cfg: StoreConfig, clock: Clock) -> Result<DeleteStore> {
        std::fs::create_dir_all(&cfg.local_dir).map_err(|e| StoreError::Io {
            path: cfg.local_dir.display().to_string(),
            source: e,
        })?;
        let key: Arc<str> = format!("{}delete_requests/{SQLITE_OBJECT}", cfg.key_prefix).into();
        let mirror = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let worker = Worker {
            mirror: Arc::clone(&mirror),
            bucket,
            key: key.to_string(),
            bolt_key: format!("{}delete_requests/{BOLTDB_OBJECT}", cfg.key_prefix),
            path: cfg.local_dir.join("delete_requests.sqlite"),
            conn: None,
            version: Version::Unknown,
        };
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(worker.run(rx));
        let store = DeleteStore {
            queue: tx,
            mirror,
            clock,
            cfg: Arc::new(cfg),
            key,
        };
        // A no-op write: uploads the DB if the object is missing (migration included).
        store.write(|_| Ok(())).await?;
        Ok(store)
    }

    /// The SQLite object's key.
    pub fn object_key(&self) -> &str {
        &self.key
    }

    /// From now on, also writes Loki's BoltDB file (`delete_requests.gz`) after every
    /// change, for a Loki compactor configured with the default `boltdb` type to take over
    /// (it deletes the SQLite object and reads only that file). Writes it once right away.
    /// The SQLite object stays the source of truth; a failed BoltDB upload is logged and
    /// retried with the next change.
    pub async fn enable_boltdb_mirror(&self) -> Result<()> {
        self.mirror.store(true, std::sync::atomic::Ordering::SeqCst);
        self.write(|_| Ok(())).await
    }

    async fn submit<T: Send + 'static>(
        &self,
        write: bool,
        mut f: impl FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
        let s2 = Arc::clone(&slot);
        let work: Work = Box::new(move |c| {
            let v = f(c)?;
            *s2.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
            Ok(())
        });
        let (done, rx) = oneshot::channel();
        self.queue
            .send(Job { write, work, done })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)??;
        let v = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        v.ok_or(StoreError::Closed)
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        self.submit(false, f).await
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        self.submit(true, f).await
    }

    /// Stores a new request, bumps the tenant's cache generation number, and returns the
    /// stored record (with its new id). In the bucket when this returns.
    pub async fn add(&self, req: NewRequest) -> Result<StoredRequest> {
        let clock = self.clock.clone();
        let created_ms = clock.now_ms();
        self.write(move |c| {
            // Loki's id: FNV-1 (32-bit) of tenant, unix ns (8 bytes LE) and query; the
            // `requests` table keys on the id alone, so retry on a collision.
            let id = loop {
                let id = request_id(&req.tenant, clock.unique_ns(), &req.query);
                if !sqlite::id_taken(c, &id)? {
                    break id;
                }
            };
            sqlite::insert(c, &id, created_ms, &req)?;
            sqlite::set_cache_gen(c, &req.tenant, clock.unique_ns())?;
            Ok(StoredRequest {
                id,
                tenant: req.tenant.clone(),
                created_ms,
                range: TimeRange {
                    start_ms: req.shards.iter().map(|s| s.start_ms).min().unwrap_or(0),
                    end_ms: req.shards.iter().map(|s| s.end_ms).max().unwrap_or(0),
                },
                query: req.query.clone(),
                progress: Progress {
                    processed: 0,
                    total: req.shards.len().max(1) as u32,
                },
                completed_ms: None,
                kind: req.kind.clone(),
            })
        })
        .await
    }

    /// The tenant's delete requests (Loki's, not redactions), by creation time.
    /// `for_querytime_filtering` drops requests completed longer ago than the propagation
    /// delay, as Loki's SQLite store does.
    pub async fn list(
        &self,
        tenant: &str,
        for_querytime_filtering: bool,
    ) -> Result<Vec<StoredRequest>> {
        let t = tenant.to_owned();
        let cutoff = self.clock.now_ms() - self.cfg.querytime_propagation_ms;
        let mut v = self
            .read(move |c| sqlite::list_deletes(c, Some(&t)))
            .await?;
        if for_querytime_filtering {
            v.retain(|r| r.completed_ms.is_none_or(|done| done > cutoff));
        }
        Ok(v)
    }

    /// Every tenant's delete requests (for the operator UI route), by creation time.
    pub async fn list_all(&self) -> Result<Vec<StoredRequest>> {
        self.read(|c| sqlite::list_deletes(c, None)).await
    }

    /// The tenant's redaction requests, by creation time.
    pub async fn list_redactions(&self, tenant: &str) -> Result<Vec<StoredRequest>> {
        let t = tenant.to_owned();
        self.read(move |c| sqlite::list_redactions(c, Some(&t)))
            .await
    }

    /// One request (either kind) of the tenant.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<StoredRequest>> {
        let (t, i) = (tenant.to_owned(), id.to_owned());
        self.read(move |c| sqlite::get(c, &t, &i)).await
    }

    /// Cancels a request of the tenant with Loki's rules: never once processed; after the
    /// cancel period or once partially processed only with `force`. Bumps the tenant's cache
    /// generation number. `kind_redaction` selects the redaction table instead of Loki's.
    pub async fn cancel(
        &self,
        tenant: &str,
        id: &str,
        force: bool,
        cancel_period_ms: i64,
        kind_redaction: bool,
    ) -> Result<CancelOutcome> {
        let (t, i) = (tenant.to_owned(), id.to_owned());
        let clock = self.clock.clone();
        self.write(move |c| {
            let Some(r) = sqlite::get(c, &t, &i)? else {
                return Ok(CancelOutcome::NotFound);
            };
            if matches!(r.kind, RequestKind::Redact(_)) != kind_redaction {
                return Ok(CancelOutcome::NotFound);
            }
            if r.progress.is_done() {
                return Ok(CancelOutcome::Processed);
            }
            let late = r.created_ms.saturating_add(cancel_period_ms) < clock.now_ms();
            if (r.progress.processed > 0 || late) && !force {
                return Ok(CancelOutcome::NeedsForce);
            }
            sqlite::remove(c, &t, &i, &r.kind)?;
            sqlite::set_cache_gen(c, &t, clock.unique_ns())?;
            Ok(CancelOutcome::Cancelled(r))
        })
        .await
    }

    /// The tenant's cache generation number (decimal unix ns), `""` if it has none.
    pub async fn cache_gen(&self, tenant: &str) -> Result<String> {
        let t = tenant.to_owned();
        let g = self.read(move |c| sqlite::cache_gen(c, &t)).await?;
        Ok(g.map(|g| g.to_string()).unwrap_or_default())
    }

    /// Sets the tenant's cache generation number to now (unix ns) and returns it.
    pub async fn bump_cache_gen(&self, tenant: &str) -> Result<String> {
        let t = tenant.to_owned();
        let clock = self.clock.clone();
        let g = self
            .write(move |c| {
                let g = clock.unique_ns();
                sqlite::set_cache_gen(c, &t, g)?;
                Ok(g)
            })
            .await?;
        Ok(g.to_string())
    }

    /// Requests (deletes and redactions) with unprocessed shards whose cancel period plus
    /// one minute has passed at `now_ms` (Loki's eligibility, §8.3), of one tenant or all,
    /// sorted by creation time. Shards are by start time.
    pub async fn due_requests(
        &self,
        tenant: Option<&str>,
        now_ms: i64,
        cancel_period_ms: i64,
    ) -> Result<Vec<DueRequest>> {
        let t = tenant.map(str::to_owned);
        let rows = self
            .read(move |c| sqlite::unprocessed(c, t.as_deref()))
            .await?;
        Ok(rows
            .into_iter()
            .filter(|(r, _)| is_due(r.created_ms, now_ms, cancel_period_ms))
            .map(|(r, s)| sqlite::due(r, s))
            .collect())
    }

    /// Marks one shard of a request processed, durably (in the bucket when this returns).
    /// `range` must be one of the shards [`due_requests`](Self::due_requests) returned.
    /// A redaction request reaching "processed" bumps the tenant's cache generation number
    /// (results cached before the rewrite show the unmasked text).
    pub async fn mark_shard_processed(
        &self,
        tenant: &str,
        id: &str,
        range: TimeRange,
    ) -> Result<Marked> {
        let (t, i) = (tenant.to_owned(), id.to_owned());
        let clock = self.clock.clone();
        self.write(move |c| {
            let m = sqlite::mark_shard(c, &t, &i, range, clock.now_ms())?;
            if let Marked::Done(p) = m {
                if p.is_done() {
                    if let Some(r) = sqlite::get(c, &t, &i)? {
                        if matches!(r.kind, RequestKind::Redact(_)) {
                            sqlite::set_cache_gen(c, &t, clock.unique_ns())?;
                        }
                    }
                }
            }
            Ok(m)
        })
        .await
    }

    /// Marks every remaining shard of a request processed (one upload). Returns how many
    /// shards were marked.
    pub async fn mark_request_processed(&self, tenant: &str, id: &str) -> Result<u32> {
        let (t, i) = (tenant.to_owned(), id.to_owned());
        let clock = self.clock.clone();
        self.write(move |c| {
            let mut n = 0;
            let rows = sqlite::unprocessed(c, Some(&t))?;
            let Some((r, shards)) = rows.into_iter().find(|(r, _)| r.id == i) else {
                return Ok(0);
            };
            for s in shards {
                if let Marked::Done(_) = sqlite::mark_shard(c, &t, &i, s, clock.now_ms())? {
                    n += 1;
                }
            }
            if n > 0 && matches!(r.kind, RequestKind::Redact(_)) {
                sqlite::set_cache_gen(c, &t, clock.unique_ns())?;
            }
            Ok(n)
        })
        .await
    }

    /// Counts for the pending gauges: unprocessed shards of requests past their cancel
    /// period (the caller drops tenants whose mode is not `filter-and-delete` via `keep`).
    pub async fn pending_stats(
        &self,
        now_ms: i64,
        cancel_period_ms: i64,
        keep: impl Fn(&str) -> bool,
    ) -> Result<PendingStats> {
        let due = self.due_requests(None, now_ms, cancel_period_ms).await?;
        let mut st = PendingStats::default();
        for r in due
            .iter()
            .filter(|r| keep(&r.tenant) && r.redaction.is_none())
        {
            st.shards += r.shards.len() as u64;
            st.oldest_age_ms = st
                .oldest_age_ms
                .max(now_ms - r.created_ms.saturating_add(cancel_period_ms));
        }
        Ok(st)
    }
}

/// Loki's eligibility: `now > created_at + cancel_period + 1 minute`.
pub fn is_due(created_ms: i64, now_ms: i64, cancel_period_ms: i64) -> bool {
    now_ms
        > created_ms
            .saturating_add(cancel_period_ms)
            .saturating_add(60_000)
}

/// FNV-1 32-bit over tenant, unix ns (little endian) and query: Loki's id scheme.
pub fn request_id(tenant: &str, now_ns: i64, query: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in tenant
        .bytes()
        .chain(now_ns.to_le_bytes())
        .chain(query.bytes())
    {
        h = h.wrapping_mul(0x0100_0193);
        h ^= u32::from(b);
    }
    format!("{h:08x}")
}

/// What we know about the bucket object relative to the local file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Version {
    /// Must check.
    Unknown,
    /// The object does not exist (the local DB is new or migrated, not uploaded yet).
    Absent,
    /// The local file equals this object version.
    At(UpdateVersion),
}

struct Worker {
    mirror: Arc<std::sync::atomic::AtomicBool>,
    bucket: Bucket,
    key: String,
    bolt_key: String,
    path: PathBuf,
    conn: Option<Connection>,
    version: Version,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.recv().await {
            let mut jobs = vec![first];
            while jobs.len() < 1024 {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            self.batch(jobs).await;
        }
    }

    fn sql_err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.display().to_string(),
            source: e,
        }
    }

    fn io_err(&self, e: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.display().to_string(),
            source: e,
        }
    }

    fn obj_err(&self, e: object_store::Error) -> StoreError {
        StoreError::Object {
            key: self.key.clone(),
            message: e.to_string(),
        }
    }

    /// Makes the local DB equal to the bucket object (or a new/migrated DB if none).
    async fn sync(&mut self) -> Result<()> {
        let p = ObjPath::from(self.key.as_str());
        let store = self.bucket.store();
        if self.conn.is_some() {
            match (&self.version, store.head(&p).await) {
                (Version::At(v), Ok(m)) if m.e_tag.is_some() && m.e_tag == v.e_tag => return Ok(()),
                (Version::Absent, Err(object_store::Error::NotFound { .. })) => return Ok(()),
                (_, Err(e)) if !matches!(e, object_store::Error::NotFound { .. }) => {
                    return Err(self.obj_err(e))
                }
                _ => {}
            }
        }
        self.conn = None;
        self.version = Version::Unknown;
        match store.get(&p).await {
            Ok(r) => {
                let v = UpdateVersion {
                    e_tag: r.meta.e_tag.clone(),
                    version: r.meta.version.clone(),
                };
                let gz = r.bytes().await.map_err(|e| self.obj_err(e))?;
                let raw = sqlite::gunzip(&gz).map_err(|e| self.io_err(e))?;
                sqlite::write_file(&self.path, &raw).map_err(|e| self.io_err(e))?;
                self.conn = Some(sqlite::open(&self.path).map_err(|e| self.sql_err(e))?);
                self.version = Version::At(v);
            }
            Err(object_store::Error::NotFound { .. }) => {
                sqlite::write_file(&self.path, &[]).map_err(|e| self.io_err(e))?;
                let bolt = match self.bucket.get(&self.bolt_key).await {
                    Ok(b) => Some(b),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e.into()),
                };
                let conn = sqlite::open(&self.path).map_err(|e| self.sql_err(e))?;
                if let Some(gz) = bolt {
                    self.migrate(&conn, &gz)?;
                }
                self.conn = Some(conn);
                self.version = Version::Absent;
            }
            Err(e) => return Err(self.obj_err(e)),
        }
        Ok(())
    }

    /// Copies Loki's BoltDB requests, shard states and generation numbers (§8.7.2
    /// "Migration") into the new, empty SQLite DB.
    fn migrate(&self, conn: &Connection, gz: &[u8]) -> Result<()> {
        let merr = |message: String| StoreError::Migration {
            key: self.bolt_key.clone(),
            message,
        };
        let raw = sqlite::gunzip(gz).map_err(|e| merr(e.to_string()))?;
        let (shards, gens) = DeleteDb::parse_shards(&raw).map_err(|e| merr(e.to_string()))?;
        let n = shards.len();
        let tx = conn.unchecked_transaction().map_err(|e| self.sql_err(e))?;
        for ((tenant, id), parts) in shards {
            let Some(first) = parts.values().find(|s| !s.query.is_empty()) else {
                continue;
            };
            let ranges: Vec<TimeRange> = parts
                .values()
                .map(|s| TimeRange {
                    start_ms: s.start,
                    end_ms: s.end,
                })
                .collect();
            let req = NewRequest {
                tenant: tenant.clone(),
                query: first.query.clone(),
                shards: ranges,
                kind: RequestKind::Delete,
            };
            sqlite::insert(&tx, &id, first.created, &req).map_err(|e| self.sql_err(e))?;
            for s in parts.values() {
                if s.status.as_deref() == Some("processed") {
                    let r = TimeRange {
                        start_ms: s.start,
                        end_ms: s.end,
                    };
                    // Completion time is unknown in BoltDB; its creation time keeps migrated
                    // processed requests out of query-time filtering.
                    sqlite::mark_shard(&tx, &tenant, &id, r, first.created)
                        .map_err(|e| self.sql_err(e))?;
                }
            }
        }
        for (tenant, g) in gens {
            if let Ok(g) = g.trim().parse::<i64>() {
                sqlite::set_cache_gen(&tx, &tenant, g).map_err(|e| self.sql_err(e))?;
            }
        }
        tx.commit().map_err(|e| self.sql_err(e))?;
        tracing::info!(
            requests = n,
            from = %self.bolt_key,
            to = %self.key,
            "migrated Loki's BoltDB delete-request DB"
        );
        Ok(())
    }

    async fn batch(&mut self, jobs: Vec<Job>) {
        if let Err(e) = self.sync().await {
            let msg = e.to_string();
            tracing::warn!(err = %msg, "delete-request store unavailable");
            for j in jobs {
                let _ = j.done.send(Err(StoreError::Object {
                    key: self.key.clone(),
                    message: msg.clone(),
                }));
            }
            return;
        }
        let (reads, mut writes): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| !j.write);
        for mut j in reads {
            let r = match &self.conn {
                Some(c) => (j.work)(c).map_err(|e| self.sql_err(e)),
                None => Err(StoreError::Closed),
            };
            let _ = j.done.send(r);
        }
        if writes.is_empty() {
            return;
        }
        const ATTEMPTS: u32 = 8;
        for attempt in 1..=ATTEMPTS {
            match self.apply_and_upload(&mut writes).await {
                Ok(results) => {
                    for (j, r) in writes.into_iter().zip(results) {
                        let _ = j.done.send(r);
                    }
                    return;
                }
                Err(Upload::Conflict) => {
                    tracing::debug!(
                        attempt,
                        "delete-request DB changed concurrently; re-applying"
                    );
                    self.conn = None;
                    self.version = Version::Unknown;
                    if let Err(e) = self.sync().await {
                        return fail_all(writes, &e);
                    }
                }
                Err(Upload::Failed(e)) => {
                    // The local file now holds changes the bucket does not: reload next time.
                    self.conn = None;
                    self.version = Version::Unknown;
                    return fail_all(writes, &e);
                }
            }
        }
        fail_all(
            writes,
            &StoreError::Contended {
                key: self.key.clone(),
                attempts: ATTEMPTS,
            },
        );
    }

    /// Runs the writes in one transaction (each in a savepoint, so one failing call does
    /// not undo the others) and uploads the result conditionally.
    async fn apply_and_upload(
        &mut self,
        writes: &mut [Job],
    ) -> std::result::Result<Vec<Result<()>>, Upload> {
        let path = self.path.display().to_string();
        let sql = |e: rusqlite::Error| StoreError::Sqlite {
            path: path.clone(),
            source: e,
        };
        let Some(conn) = self.conn.as_mut() else {
            return Err(Upload::Failed(StoreError::Closed));
        };
        let mut results = Vec::with_capacity(writes.len());
        {
            let mut tx = conn.transaction().map_err(|e| Upload::Failed(sql(e)))?;
            for j in writes.iter_mut() {
                let mut sp = tx.savepoint().map_err(|e| Upload::Failed(sql(e)))?;
                match (j.work)(&sp) {
                    Ok(()) => {
                        sp.commit().map_err(|e| Upload::Failed(sql(e)))?;
                        results.push(Ok(()));
                    }
                    Err(e) => {
                        sp.rollback().map_err(|e| Upload::Failed(sql(e)))?;
                        results.push(Err(sql(e)));
                    }
                }
            }
            tx.commit().map_err(|e| Upload::Failed(sql(e)))?;
        }
        let raw = std::fs::read(&self.path).map_err(|e| Upload::Failed(self.io_err(e)))?;
        let gz = sqlite::gzip(&raw).map_err(|e| Upload::Failed(self.io_err(e)))?;
        let p = ObjPath::from(self.key.as_str());
        let store = self.bucket.store();
        let mode = match &self.version {
            Version::At(v) => PutMode::Update(v.clone()),
            _ => PutMode::Create,
        };
        let payload = PutPayload::from(Bytes::from(gz));
        let put = store
            .put_opts(
                &p,
                payload.clone(),
                PutOptions {
                    mode,
                    ..Default::default()
                },
            )
            .await;
        let res = match put {
            Err(object_store::Error::NotImplemented { .. }) => {
                // No compare-and-swap on this backend (local filesystem, one node): check and
                // write under a process-wide lock per object, so store handles of one process
                // never overwrite each other's changes.
                let lock = fs_lock(&format!("{}/{}", self.bucket.name(), self.key));
                let _g = lock.lock().await;
                let current = match store.head(&p).await {
                    Ok(m) => Some(m.e_tag),
                    Err(object_store::Error::NotFound { .. }) => None,
                    Err(e) => return Err(Upload::Failed(self.obj_err(e))),
                };
                let unchanged = match (&self.version, &current) {
                    (Version::At(v), Some(tag)) => tag.is_some() && *tag == v.e_tag,
                    (Version::Absent, None) => true,
                    _ => false,
                };
                if !unchanged {
                    return Err(Upload::Conflict);
                }
                store.put(&p, payload).await
            }
            other => other,
        };
        match res {
            Ok(r) => {
                self.version = Version::At(UpdateVersion {
                    e_tag: r.e_tag,
                    version: r.version,
                });
                if self.mirror.load(std::sync::atomic::Ordering::SeqCst) {
                    self.upload_mirror().await;
                }
                Ok(results)
            }
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::AlreadyExists { .. }) => Err(Upload::Conflict),
            Err(e) => Err(Upload::Failed(self.obj_err(e))),
        }
    }
}

/// Per-object locks for backends without conditional writes.
fn fs_lock(key: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: std::sync::OnceLock<
        Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    > = std::sync::OnceLock::new();
    let mut m = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    Arc::clone(m.entry(key.to_owned()).or_default())
}

impl Worker {
    /// Loki's BoltDB file built from the current DB, gzipped.
    fn boltdb_mirror(&self) -> Result<Vec<u8>> {
        let Some(c) = &self.conn else {
            return Err(StoreError::Closed);
        };
        let sql = |e| self.sql_err(e);
        let all = sqlite::list_deletes(c, None).map_err(sql)?;
        let open = sqlite::unprocessed(c, None).map_err(sql)?;
        let gens = sqlite::cache_gens(c).map_err(sql)?;
        let mut shards: std::collections::HashMap<(String, String), Vec<TimeRange>> = open
            .into_iter()
            .filter(|(r, _)| r.kind == RequestKind::Delete)
            .map(|(r, s)| ((r.tenant, r.id), s))
            .collect();
        let reqs: Vec<(StoredRequest, Vec<TimeRange>)> = all
            .into_iter()
            .map(|r| {
                let s = shards
                    .remove(&(r.tenant.clone(), r.id.clone()))
                    .unwrap_or_default();
                (r, s)
            })
            .collect();
        let raw = super::boltdb::encode(&reqs, &gens);
        sqlite::gzip(&raw).map_err(|e| self.io_err(e))
    }

    async fn upload_mirror(&mut self) {
        let gz = match self.boltdb_mirror() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(err = %e, key = %self.bolt_key, "cannot build the BoltDB copy of the delete-request DB");
                return;
            }
        };
        if let Err(e) = self.bucket.put(&self.bolt_key, Bytes::from(gz)).await {
            tracing::warn!(err = %e, key = %self.bolt_key, "cannot upload the BoltDB copy of the delete-request DB");
        }
    }
}

enum Upload {
    Conflict,
    Failed(StoreError),
}

fn fail_all(jobs: Vec<Job>, e: &StoreError) {
    let msg = e.to_string();
    for j in jobs {
        let _ = j.done.send(Err(StoreError::Object {
            key: String::new(),
            message: msg.clone(),
        }));
    }
}

/// Reads every tenant's delete requests (not redactions) from the bytes of a DB object,
/// gzipped or not, in either layout: Loki's SQLite file (`delete_requests.sqlite.gz`) or
/// BoltDB file (`delete_requests.gz`). For offline tools, which must not write to the
/// bucket; the SQLite bytes go through a private temporary file.
pub fn read_db_bytes(db: &[u8]) -> Result<Vec<StoredRequest>> {
    let raw = sqlite::gunzip(db).map_err(|e| StoreError::Io {
        path: "<delete-request DB>".into(),
        source: e,
    })?;
    if !raw.starts_with(b"SQLite format 3\0") {
        let parsed = DeleteDb::parse(&raw).map_err(|e| StoreError::Migration {
            key: "<delete-request DB>".into(),
            message: e.to_string(),
        })?;
        let mut out = Vec::new();
        for (tenant, reqs) in parsed.requests {
            for r in reqs {
                let (processed, total) = match r.status.as_str() {
                    "processed" => (1, 1),
                    "received" => (0, 1),
                    // "<N>% Complete": progress as a percentage.
                    s => (
                        s.split('%')
                            .next()
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0),
                        100,
                    ),
                };
                out.push(StoredRequest {
                    id: r.request_id,
                    tenant: tenant.clone(),
                    created_ms: r.created_ms,
                    range: TimeRange {
                        start_ms: r.start_ms,
                        end_ms: r.end_ms,
                    },
                    query: r.query,
                    progress: Progress { processed, total },
                    completed_ms: None,
                    kind: RequestKind::Delete,
                });
            }
        }
        return Ok(out);
    }
    let path = std::env::temp_dir().join(format!(
        "loki-delete-requests-{}-{}.sqlite",
        std::process::id(),
        Clock::system().unique_ns()
    ));
    let io = |e: std::io::Error| StoreError::Io {
        path: path.display().to_string(),
        source: e,
    };
    sqlite::write_file(&path, &raw).map_err(io)?;
    let res = sqlite::open(&path)
        .and_then(|c| sqlite::list_deletes(&c, None))
        .map_err(|e| StoreError::Sqlite {
            path: path.display().to_string(),
            source: e,
        });
    for side in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(side);
        let _ = std::fs::remove_file(p);
    }
    res
}
