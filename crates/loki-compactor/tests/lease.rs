//! The lease with real conditional writes (in-memory store: If-None-Match / If-Match):
//! one holder at a time, renewals keep it, expiry lets another take over, a racing
//! writer with a stale version loses.

use loki_bucket::{Bucket, BucketOptions};
use loki_compactor::lease::{Lease, LeaseState, LEASE_PREFIX};
use loki_compactor::Clock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_renewal_expiry_takeover() {
    let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
    let clock = Clock::fixed(1_000_000_000_000_000);
    let a = Lease::new(bucket.clone(), LEASE_PREFIX, "a", 10_000, clock.clone());
    let b = Lease::new(bucket.clone(), LEASE_PREFIX, "b", 10_000, clock.clone());
    assert!(matches!(
        a.acquire().await.unwrap(),
        LeaseState::Held { .. }
    ));
    match b.acquire().await.unwrap() {
        LeaseState::Waiting(r) => assert_eq!(r.holder, "a"),
        s => panic!("b should wait, got {s:?}"),
    }
    // Renewal before expiry keeps it with A.
    clock.advance_ms(9_000);
    assert!(matches!(
        a.acquire().await.unwrap(),
        LeaseState::Held { .. }
    ));
    clock.advance_ms(9_000);
    assert!(matches!(b.acquire().await.unwrap(), LeaseState::Waiting(_)));
    // A stops renewing: after expiry B takes over, and A now waits.
    clock.advance_ms(2_000);
    assert!(matches!(
        b.acquire().await.unwrap(),
        LeaseState::Held { .. }
    ));
    assert!(matches!(a.acquire().await.unwrap(), LeaseState::Waiting(_)));
    // Release hands it back immediately.
    b.release().await.unwrap();
    assert!(matches!(
        a.acquire().await.unwrap(),
        LeaseState::Held { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_takeover_has_one_winner() {
    let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
    let clock = Clock::fixed(5_000_000_000_000_000);
    let leases: Vec<Lease> = (0..8)
        .map(|i| {
            Lease::new(
                bucket.clone(),
                LEASE_PREFIX,
                &format!("i{i}"),
                10_000,
                clock.clone(),
            )
        })
        .collect();
    let states = futures::future::join_all(leases.iter().map(|l| l.acquire())).await;
    let held = states
        .iter()
        .filter(|s| matches!(s.as_ref().unwrap(), LeaseState::Held { .. }))
        .count();
    assert_eq!(held, 1, "{states:?}");
    // And again after expiry (If-Match race on the existing object).
    clock.advance_ms(20_000);
    let states = futures::future::join_all(leases.iter().map(|l| l.acquire())).await;
    let held = states
        .iter()
        .filter(|s| matches!(s.as_ref().unwrap(), LeaseState::Held { .. }))
        .count();
    assert_eq!(held, 1, "{states:?}");
}

/// An instance that re-creates an epoch already garbage-collected (it read the chain long
/// ago) does not get the lease: the chain has moved on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_creator_does_not_win() {
    use loki_compactor::lease::epoch_key;
    let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
    let clock = Clock::fixed(1_000_000_000_000_000);
    let a = Lease::new(bucket.clone(), LEASE_PREFIX, "a", 10_000, clock.clone());
    for _ in 0..5 {
        assert!(matches!(
            a.acquire().await.unwrap(),
            LeaseState::Held { .. }
        ));
    }
    // Old epochs were collected; the chain is at 5.
    let keys: Vec<String> = bucket
        .list(LEASE_PREFIX)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(
        keys,
        vec![epoch_key(LEASE_PREFIX, 4), epoch_key(LEASE_PREFIX, 5)]
    );
    // A slow instance writes epoch 2 (free again) as if it were taking over.
    let stale = br#"{"holder":"c","epoch":2,"expires_ms":9000000000000000,"acquired_ms":0}"#;
    bucket
        .put_if_absent(
            &epoch_key(LEASE_PREFIX, 2),
            bytes::Bytes::from_static(stale),
        )
        .await
        .unwrap();
    let c = Lease::new(bucket.clone(), LEASE_PREFIX, "c", 10_000, clock.clone());
    match c.current().await.unwrap() {
        Some(r) => assert_eq!((r.holder.as_str(), r.epoch), ("a", 5)),
        None => panic!("no lease"),
    }
    assert!(matches!(c.acquire().await.unwrap(), LeaseState::Waiting(_)));
    assert!(matches!(
        a.acquire().await.unwrap(),
        LeaseState::Held { .. }
    ));
}

const CHILD_ENV: &str = "LOKI_COMPACTOR_LEASE_RACE_DIR";
const ROUNDS: usize = 12;

/// Separate processes (as on hosts sharing an NFS volume) race for the lease on one
/// filesystem store, each taking it `ROUNDS` times and releasing it. Inside, each holder
/// creates a marker file with create-new: if two ever held it at once, one of them would
/// find the other's marker. Every epoch of the chain has exactly one holder.
#[test]
fn processes_racing_on_a_shared_filesystem_never_overlap() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        race_child(std::path::Path::new(&dir));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("bucket")).unwrap();
    let me = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|i| {
            std::process::Command::new(&me)
                .args([
                    "--exact",
                    "processes_racing_on_a_shared_filesystem_never_overlap",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, tmp.path())
                .env("LOKI_COMPACTOR_LEASE_RACE_ID", format!("p{i}"))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // A failed child may die holding the lease: then stop the others rather than hang.
    let mut children: Vec<Option<std::process::Child>> = children.into_iter().map(Some).collect();
    let mut failed = false;
    while children.iter().any(Option::is_some) {
        for slot in children.iter_mut() {
            if let Some(c) = slot {
                if let Some(st) = c.try_wait().unwrap() {
                    failed |= !st.success();
                    *slot = None;
                }
            }
        }
        if failed {
            for c in children.iter_mut().flatten() {
                let _ = c.kill();
                let _ = c.wait();
            }
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let violations = tmp.path().join("violations");
    assert!(
        !violations.exists(),
        "two holders at once: {}",
        std::fs::read_to_string(&violations).unwrap_or_default()
    );
    assert!(!failed, "a racing process failed");
    let log = std::fs::read_to_string(tmp.path().join("held.log")).unwrap();
    let epochs: Vec<u64> = log
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(epochs.len(), 4 * ROUNDS, "{log}");
    let distinct: std::collections::BTreeSet<_> = epochs.iter().collect();
    assert_eq!(distinct.len(), epochs.len(), "an epoch held twice: {log}");
}

fn race_child(dir: &std::path::Path) {
    use std::io::Write;
    let id = std::env::var("LOKI_COMPACTOR_LEASE_RACE_ID").unwrap();
    let url = format!("file://{}", dir.join("bucket").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = Bucket::from_url(&url, None, BucketOptions::default()).unwrap();
    // A long TTL: the lease only changes hands through release, never by expiry, so an
    // overlap can only come from two creators winning one epoch.
    let lease = Lease::new(bucket, LEASE_PREFIX, &id, 600_000, Clock::system());
    let inside = dir.join("inside");
    let mut held = 0;
    while held < ROUNDS {
        match rt.block_on(lease.acquire()).unwrap() {
            LeaseState::Held { .. } => {
                let epoch = rt.block_on(lease.current()).unwrap().unwrap().epoch;
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&inside)
                {
                    Ok(_) => {}
                    Err(e) => {
                        let mut v = std::fs::OpenOptions::new()
                            .append(true)
                            .create(true)
                            .open(dir.join("violations"))
                            .unwrap();
                        writeln!(v, "{id} epoch {epoch}: {e}").unwrap();
                    }
                }
                let mut log = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(dir.join("held.log"))
                    .unwrap();
                writeln!(log, "{id} {epoch}").unwrap();
                std::thread::sleep(std::time::Duration::from_millis(2));
                let _ = std::fs::remove_file(&inside);
                rt.block_on(lease.release()).unwrap();
                held += 1;
            }
            LeaseState::Waiting(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
    }
}

/// The single lease object of builds before the chain, exactly as they wrote it
/// (`{holder, expires_ms, acquired_ms}`, no epoch).
fn legacy_body(holder: &str, expires_ms: i64) -> bytes::Bytes {
    bytes::Bytes::from(format!(
        r#"{{"holder":"{holder}","expires_ms":{expires_ms},"acquired_ms":1795600000000}}"#
    ))
}

/// Rolling upgrade: an older build holding `loki-compactor/lease.json` keeps the new build
/// waiting (and makes a new holder step down) until the object expires or is deleted (the
/// old build's clean shutdown); the new build never writes or deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_lease_json_of_another_holder_is_honoured() {
    use loki_bucket::compactor_state::LEGACY_LEASE;
    use loki_compactor::lease::legacy_key;
    assert_eq!(legacy_key(LEASE_PREFIX), LEGACY_LEASE);
    let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
    let clock = Clock::fixed(1_000_000_000_000_000);
    let now = clock.now_ms();
    let new = Lease::new(bucket.clone(), LEASE_PREFIX, "new", 10_000, clock.clone());
    let chain = |b: Bucket| async move { b.list(LEASE_PREFIX).await.unwrap().len() };

    // Held by the old build: wait, write nothing.
    bucket
        .put(LEGACY_LEASE, legacy_body("old", now + 5_000))
        .await
        .unwrap();
    match new.acquire().await.unwrap() {
        LeaseState::Waiting(r) => {
            assert_eq!(
                (r.holder.as_str(), r.epoch, r.expires_ms),
                ("old", 0, now + 5_000)
            )
        }
        s => panic!("should wait for the old build, got {s:?}"),
    }
    assert_eq!(
        chain(bucket.clone()).await,
        0,
        "nothing written while waiting"
    );
    assert_eq!(new.held_elsewhere().await.unwrap().unwrap().holder, "old");

    // The old build stops renewing: after expiry the new build takes the lease.
    clock.advance_ms(6_000);
    assert!(matches!(
        new.acquire().await.unwrap(),
        LeaseState::Held { .. }
    ));
    assert!(new.held_elsewhere().await.unwrap().is_none());

    // An old build comes back and takes its object again: the new holder steps down...
    let at = clock.now_ms();
    bucket
        .put(LEGACY_LEASE, legacy_body("old-2", at + 20_000))
        .await
        .unwrap();
    match new.acquire().await.unwrap() {
        LeaseState::Waiting(r) => assert_eq!(r.holder, "old-2"),
        s => panic!("should step down for the old build, got {s:?}"),
    }
    // ...and takes over once the old build shut down cleanly (it deletes its object).
    clock.advance_ms(1_000);
    bucket.delete(LEGACY_LEASE).await.unwrap();
    assert!(matches!(
        new.acquire().await.unwrap(),
        LeaseState::Held { .. }
    ));
    new.release().await.unwrap();

    // Ignored: our own holder id (same pod name across the upgrade), an unreadable object.
    let at = clock.now_ms();
    bucket
        .put(LEGACY_LEASE, legacy_body("new", at + 20_000))
        .await
        .unwrap();
    assert!(matches!(
        new.acquire().await.unwrap(),
        LeaseState::Held { .. }
    ));
    bucket
        .put(LEGACY_LEASE, bytes::Bytes::from_static(b"{not json"))
        .await
        .unwrap();
    let other = Lease::new(bucket.clone(), LEASE_PREFIX, "other", 10_000, clock.clone());
    new.release().await.unwrap();
    assert!(matches!(
        other.acquire().await.unwrap(),
        LeaseState::Held { .. }
    ));
    // Never written or deleted by the new build.
    assert_eq!(
        bucket.get(LEGACY_LEASE).await.unwrap(),
        bytes::Bytes::from_static(b"{not json")
    );
}
