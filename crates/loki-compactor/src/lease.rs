//! Single writer per bucket: a lease object taken with create-if-absent and renewed with
//! compare-and-swap on its ETag (If-None-Match / If-Match). A second instance sees a live
//! lease held by someone else and waits; an expired lease can be taken over.
//!
//! Backends without compare-and-swap (the local filesystem store) fall back to
//! read-check-write, which is only safe against instances on one host; S3, GCS, Azure and
//! the in-memory store use real conditional writes.

use bytes::Bytes;
use loki_bucket::Bucket;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{CompactorError, Result};

/// Default key of the lease object.
pub const LEASE_KEY: &str = "loki-compactor/lease.json";

/// Content of the lease object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// Holder id (host name and process start).
    pub holder: String,
    /// Expiry, unix ms.
    pub expires_ms: i64,
    /// When the holder first took it, unix ms.
    pub acquired_ms: i64,
}

/// Who holds the lease after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// We hold it until `expires_ms`.
    Held {
        /// Expiry, unix ms.
        expires_ms: i64,
    },
    /// Someone else does.
    Waiting(LeaseRecord),
}

/// The lease of one instance.
#[derive(Debug, Clone)]
pub struct Lease {
    bucket: Bucket,
    key: String,
    holder: String,
    ttl_ms: i64,
    clock: Clock,
}

impl Lease {
    /// A lease on `bucket` at `key` for `holder`, valid `ttl_ms` after each renewal.
    pub fn new(bucket: Bucket, key: &str, holder: &str, ttl_ms: i64, clock: Clock) -> Self {
        Lease {
            bucket,
            key: key.to_owned(),
            holder: holder.to_owned(),
            ttl_ms,
            clock,
        }
    }

    /// Our holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    fn record(&self, acquired_ms: i64) -> Bytes {
        let now = self.clock.now_ms();
        let r = LeaseRecord {
            holder: self.holder.clone(),
            expires_ms: now + self.ttl_ms,
            acquired_ms,
        };
        Bytes::from(serde_json::to_vec(&r).unwrap_or_default())
    }

    /// The current record, if any, with its version.
    pub async fn current(&self) -> Result<Option<(LeaseRecord, UpdateVersion)>> {
        let store = self.bucket.store();
        let p = Path::from(self.key.as_str());
        match store.get(&p).await {
            Ok(r) => {
                let v = UpdateVersion {
                    e_tag: r.meta.e_tag.clone(),
                    version: r.meta.version.clone(),
                };
                let b = r
                    .bytes()
                    .await
                    .map_err(|e| map(&self.bucket, &self.key, e))?;
                // An unreadable record is treated as expired rather than blocking forever.
                let rec = serde_json::from_slice(&b).unwrap_or(LeaseRecord {
                    holder: String::new(),
                    expires_ms: 0,
                    acquired_ms: 0,
                });
                Ok(Some((rec, v)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(map(&self.bucket, &self.key, e)),
        }
    }

    /// Takes or renews the lease.
    pub async fn acquire(&self) -> Result<LeaseState> {
        let now = self.clock.now_ms();
        let store = self.bucket.store();
        let p = Path::from(self.key.as_str());
        match self.current().await? {
            None => {
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                match store
                    .put_opts(&p, PutPayload::from(self.record(now)), opts)
                    .await
                {
                    Ok(_) => self.confirm().await,
                    Err(object_store::Error::AlreadyExists { .. }) => self.observe().await,
                    Err(e) => Err(map(&self.bucket, &self.key, e)),
                }
            }
            Some((rec, version)) => {
                if rec.holder != self.holder && rec.expires_ms >= now {
                    return Ok(LeaseState::Waiting(rec));
                }
                let acquired = if rec.holder == self.holder {
                    rec.acquired_ms
                } else {
                    now
                };
                let opts = PutOptions {
                    mode: PutMode::Update(version),
                    ..Default::default()
                };
                match store
                    .put_opts(&p, PutPayload::from(self.record(acquired)), opts)
                    .await
                {
                    Ok(_) => self.confirm().await,
                    Err(object_store::Error::Precondition { .. })
                    | Err(object_store::Error::AlreadyExists { .. }) => self.observe().await,
                    Err(object_store::Error::NotImplemented { .. }) => {
                        // No compare-and-swap here: overwrite, then read back who won.
                        self.bucket.put(&self.key, self.record(acquired)).await?;
                        self.confirm().await
                    }
                    Err(e) => Err(map(&self.bucket, &self.key, e)),
                }
            }
        }
    }

    async fn confirm(&self) -> Result<LeaseState> {
        match self.current().await? {
            Some((r, _)) if r.holder == self.holder => Ok(LeaseState::Held {
                expires_ms: r.expires_ms,
            }),
            Some((r, _)) => Ok(LeaseState::Waiting(r)),
            None => Err(CompactorError::Task(
                "lease vanished right after writing it".into(),
            )),
        }
    }

    async fn observe(&self) -> Result<LeaseState> {
        match self.current().await? {
            Some((r, _)) if r.holder == self.holder => Ok(LeaseState::Held {
                expires_ms: r.expires_ms,
            }),
            Some((r, _)) => Ok(LeaseState::Waiting(r)),
            None => Ok(LeaseState::Waiting(LeaseRecord {
                holder: String::new(),
                expires_ms: 0,
                acquired_ms: 0,
            })),
        }
    }

    /// Gives the lease up (on clean shutdown) if we still hold it.
    pub async fn release(&self) -> Result<()> {
        if let Some((r, _)) = self.current().await? {
            if r.holder == self.holder {
                self.bucket.delete(&self.key).await?;
            }
        }
        Ok(())
    }
}

fn map(bucket: &Bucket, key: &str, e: object_store::Error) -> CompactorError {
    CompactorError::Lease(format!("{}: {key}: {e}", bucket.name()))
}
