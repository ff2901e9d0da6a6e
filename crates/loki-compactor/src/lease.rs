//! Single writer per bucket: a chain of numbered lease objects, each written with
//! create-only semantics (S3/GCS/Azure `If-None-Match: *`, an atomic no-replace hard link
//! on the local filesystem, the in-memory store's create mode).
//!
//! `loki-compactor/lease/<epoch, 20 digits>.json` holds `{holder, epoch, expires_ms,
//! acquired_ms}`. The lease belongs to the holder of the highest epoch until its
//! `expires_ms`. Renewing, taking over an expired lease and releasing all create the next
//! epoch; as only one writer can create a given key, exactly one instance wins each step
//! of the chain. No compare-and-swap on an existing object (If-Match) is needed, so the
//! same protocol is safe on every backend, across hosts and processes sharing a
//! filesystem.
//!
//! A creator re-lists after a successful create and only counts the lease as held if its
//! epoch is still the highest: that catches a slow instance re-creating an epoch that was
//! already garbage-collected. Old epochs are deleted by the holder after each renewal.
//! Clocks of the instances must agree to well within the TTL (NTP).
//!
//! Builds before the chain kept a single object next to it, `<prefix without the slash>.json`
//! (`loki-compactor/lease.json`: `{holder, expires_ms, acquired_ms}`, renewed in place).
//! Such a build does not see the chain, so during a rolling upgrade we honour its object:
//! while it names another holder and has not expired, we wait (and step down if we held
//! the chain). We never write or delete it.

use bytes::Bytes;
use loki_bucket::Bucket;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{CompactorError, Result};

/// Prefix of the lease objects.
pub const LEASE_PREFIX: &str = loki_bucket::compactor_state::LEASE;

/// Content of one lease object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// Holder id (host name and process start).
    pub holder: String,
    /// Position in the chain.
    #[serde(default)]
    pub epoch: u64,
    /// Expiry, unix ms (0: released).
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
    prefix: String,
    legacy_key: String,
    holder: String,
    ttl_ms: i64,
    clock: Clock,
}

/// Key of the pre-chain single lease object belonging to the chain under `prefix`
/// (`loki-compactor/lease/` -> `loki-compactor/lease.json`).
pub fn legacy_key(prefix: &str) -> String {
    format!("{}.json", prefix.trim_end_matches('/'))
}

/// Key of epoch `n` under `prefix`.
pub fn epoch_key(prefix: &str, n: u64) -> String {
    format!("{prefix}{n:020}.json")
}

fn parse_epoch(prefix: &str, key: &str) -> Option<u64> {
    let name = key.strip_prefix(prefix)?.strip_suffix(".json")?;
    if name.len() == 20 {
        name.parse().ok()
    } else {
        None
    }
}

impl Lease {
    /// A lease chain under `prefix` (normally [`LEASE_PREFIX`]) in `bucket` for `holder`,
    /// valid `ttl_ms` after each renewal.
    pub fn new(bucket: Bucket, prefix: &str, holder: &str, ttl_ms: i64, clock: Clock) -> Self {
        let mut prefix = prefix.to_owned();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Lease {
            bucket,
            legacy_key: legacy_key(&prefix),
            prefix,
            holder: holder.to_owned(),
            ttl_ms,
            clock,
        }
    }

    /// Our holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Every epoch present, ascending.
    async fn epochs(&self) -> Result<Vec<u64>> {
        let mut v: Vec<u64> = self
            .bucket
            .list(&self.prefix)
            .await
            .map_err(|e| self.err(e))?
            .iter()
            .filter_map(|o| parse_epoch(&self.prefix, &o.key))
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    /// The newest record, if any. An unreadable record counts as expired rather than
    /// blocking forever; one deleted between listing and reading is looked up again.
    pub async fn current(&self) -> Result<Option<LeaseRecord>> {
        // A record vanishes only when the chain moved on twice between listing and
        // reading (old epochs are collected); under heavy churn that can repeat, so
        // retry generously with a short pause before giving up.
        for attempt in 0..50u64 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(2 * attempt.min(10))).await;
            }
            let Some(&n) = self.epochs().await?.last() else {
                return Ok(None);
            };
            match self.bucket.get(&epoch_key(&self.prefix, n)).await {
                Ok(b) => {
                    let mut r = serde_json::from_slice(&b).unwrap_or(LeaseRecord {
                        holder: String::new(),
                        epoch: n,
                        expires_ms: 0,
                        acquired_ms: 0,
                    });
                    r.epoch = n;
                    return Ok(Some(r));
                }
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(self.err(e)),
            }
        }
        Err(CompactorError::Lease(format!(
            "{}: {}: the newest lease object keeps vanishing",
            self.bucket.name(),
            self.prefix
        )))
    }

    fn record(&self, epoch: u64, acquired_ms: i64, expires_ms: i64) -> Bytes {
        let r = LeaseRecord {
            holder: self.holder.clone(),
            epoch,
            expires_ms,
            acquired_ms,
        };
        Bytes::from(serde_json::to_vec(&r).unwrap_or_default())
    }

    /// The pre-chain lease object of an older build (epoch 0 in the record), if present
    /// and readable; expired or not.
    pub async fn legacy(&self) -> Result<Option<LeaseRecord>> {
        match self.bucket.get(&self.legacy_key).await {
            Ok(b) => Ok(serde_json::from_slice::<LeaseRecord>(&b)
                .ok()
                .map(|r| LeaseRecord { epoch: 0, ..r })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(CompactorError::Lease(format!(
                "{}: {}: {e}",
                self.bucket.name(),
                self.legacy_key
            ))),
        }
    }

    /// The holder that keeps us waiting, if any: the chain's newest record if another
    /// instance holds it, else a live legacy object of another holder.
    pub async fn held_elsewhere(&self) -> Result<Option<LeaseRecord>> {
        let now = self.clock.now_ms();
        let live = |r: &LeaseRecord| r.holder != self.holder && r.expires_ms >= now;
        if let Some(r) = self.current().await?.filter(live) {
            return Ok(Some(r));
        }
        Ok(self.legacy().await?.filter(live))
    }

    /// Takes or renews the lease.
    pub async fn acquire(&self) -> Result<LeaseState> {
        let now = self.clock.now_ms();
        let (next, acquired) = match self.current().await? {
            None => (1, now),
            Some(r) if r.holder != self.holder && r.expires_ms >= now => {
                return Ok(LeaseState::Waiting(r))
            }
            Some(r) if r.holder == self.holder && r.expires_ms > 0 => (r.epoch + 1, r.acquired_ms),
            Some(r) => (r.epoch + 1, now),
        };
        // An older build holding its single object does not see the chain: it decides.
        if let Some(r) = self.legacy().await? {
            if r.holder != self.holder && r.expires_ms >= now {
                tracing::debug!(holder = %r.holder, expires_ms = r.expires_ms, key = %self.legacy_key, "lease held by an older build's lease object");
                return Ok(LeaseState::Waiting(r));
            }
        }
        let expires = now + self.ttl_ms;
        self.create(next, self.record(next, acquired, expires))
            .await?;
        let state = self.settle(next).await?;
        if matches!(state, LeaseState::Held { .. }) {
            self.collect_garbage(next).await;
        }
        Ok(state)
    }

    /// Creates epoch `n`; losing the race is not an error (the caller re-reads the chain).
    async fn create(&self, n: u64, body: Bytes) -> Result<()> {
        match self
            .bucket
            .put_if_absent(&epoch_key(&self.prefix, n), body)
            .await
        {
            Ok(()) => Ok(()),
            Err(loki_bucket::BucketError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// After writing epoch `n`: held only if `n` is the newest epoch and it is ours (a
    /// retried create can report "exists" for our own write, so the content decides).
    async fn settle(&self, n: u64) -> Result<LeaseState> {
        let waiting = |r: LeaseRecord| Ok(LeaseState::Waiting(r));
        match self.current().await? {
            Some(r) if r.epoch == n && r.holder == self.holder => Ok(LeaseState::Held {
                expires_ms: r.expires_ms,
            }),
            Some(r) => waiting(r),
            None => waiting(LeaseRecord {
                holder: String::new(),
                epoch: 0,
                expires_ms: 0,
                acquired_ms: 0,
            }),
        }
    }

    /// Deletes epochs older than the one before `newest` (best effort).
    async fn collect_garbage(&self, newest: u64) {
        let Ok(all) = self.epochs().await else {
            return;
        };
        for n in all.into_iter().filter(|&n| n + 1 < newest) {
            if let Err(e) = self.bucket.delete(&epoch_key(&self.prefix, n)).await {
                tracing::debug!(err = %e, epoch = n, "could not delete an old lease object");
            }
        }
    }

    /// Gives the lease up (on clean shutdown) if we still hold it: the next epoch is
    /// written as expired, so another instance can take over at once.
    pub async fn release(&self) -> Result<()> {
        if let Some(r) = self.current().await? {
            if r.holder == self.holder && r.expires_ms > 0 {
                let n = r.epoch + 1;
                self.create(n, self.record(n, r.acquired_ms, 0)).await?;
            }
        }
        Ok(())
    }
}

impl Lease {
    fn err(&self, e: loki_bucket::BucketError) -> CompactorError {
        CompactorError::Lease(format!("{}: {}: {e}", self.bucket.name(), self.prefix))
    }
}
