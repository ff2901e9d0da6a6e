//! The lease with real conditional writes (in-memory store: If-None-Match / If-Match):
//! one holder at a time, renewals keep it, expiry lets another take over, a racing
//! writer with a stale version loses.

use loki_bucket::{Bucket, BucketOptions};
use loki_compactor::lease::{Lease, LeaseState, LEASE_KEY};
use loki_compactor::Clock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_renewal_expiry_takeover() {
    let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
    let clock = Clock::fixed(1_000_000_000_000_000);
    let a = Lease::new(bucket.clone(), LEASE_KEY, "a", 10_000, clock.clone());
    let b = Lease::new(bucket.clone(), LEASE_KEY, "b", 10_000, clock.clone());
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
                LEASE_KEY,
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
