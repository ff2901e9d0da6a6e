//! The delete-request store against real data: Loki's BoltDB DBs from the golden run are
//! migrated into Loki's SQLite layout with the same listing Loki served; requests live in
//! the bucket so a second replica sees every change; shards are processed as Loki does;
//! redactions stay out of Loki's tables.

mod common;

use bytes::Bytes;
use common::*;
use loki_bucket::{Bucket, BucketOptions};
use loki_compactor::deletes::store::{CancelOutcome, Marked};
use loki_compactor::deletes::{
    DeleteStore, NewRequest, Redaction, RequestKind, StoreConfig, TimeRange,
};
use loki_compactor::Clock;

const T0_NS: i64 = 1_795_612_600_000_000_000;

fn cfg(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        key_prefix: "index/".into(),
        local_dir: dir.to_path_buf(),
        querytime_propagation_ms: 15 * 60_000,
    }
}

fn golden_bolt(which: &str) -> Bytes {
    Bytes::from(
        std::fs::read(
            golden("delete-request")
                .join("delete-requests")
                .join(which)
                .join("index/delete_requests/delete_requests.gz"),
        )
        .unwrap(),
    )
}

fn expected(file: &str) -> serde_json::Value {
    let p = golden("delete-request").join("delete-requests").join(file);
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn range(s: i64, e: i64) -> TimeRange {
    TimeRange {
        start_ms: s,
        end_ms: e,
    }
}

fn sqlite_tables(bucket_bytes: &[u8]) -> rusqlite::Connection {
    let raw = loki_compactor::deletes::sqlite::gunzip(bucket_bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("copy.sqlite");
    std::fs::write(&p, raw).unwrap();
    let c = rusqlite::Connection::open(&p).unwrap();
    std::mem::forget(dir);
    c
}

#[tokio::test]
async fn migrates_lokis_boltdb_with_identical_listing() {
    for (which, list) in [
        ("store-after-submit", "list-after-submit.json"),
        ("store-after-processing", "list-after-processing.json"),
    ] {
        let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
        bucket
            .put(
                "index/delete_requests/delete_requests.gz",
                golden_bolt(which),
            )
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        // An hour after Loki's run: past the query-time propagation delay.
        let clock = Clock::fixed(T0_NS + 3_600_000_000_000);
        let store = DeleteStore::open(bucket.clone(), cfg(dir.path()), clock)
            .await
            .unwrap();
        let want = expected(list);
        for (tenant, items) in want.as_object().unwrap() {
            let got = store.list(tenant, false).await.unwrap();
            let items = items.as_array().unwrap();
            assert_eq!(got.len(), items.len(), "{which} {tenant}");
            for (g, w) in got.iter().zip(items) {
                assert_eq!(g.id, w["request_id"].as_str().unwrap());
                assert_eq!(g.query, w["query"].as_str().unwrap());
                assert_eq!(g.status(), w["status"].as_str().unwrap());
                assert_eq!(g.range.start_ms, w["start_time"].as_i64().unwrap() * 1000);
                assert_eq!(g.range.end_ms, w["end_time"].as_i64().unwrap() * 1000);
                let created = (w["created_at"].as_f64().unwrap() * 1000.0).round() as i64;
                assert_eq!(g.created_ms, created);
            }
            // Generation numbers survive the migration.
            let bolt = loki_compactor::deletes::DeleteDb::parse(
                &loki_tsdb::gunzip(&golden_bolt(which)).unwrap(),
            )
            .unwrap();
            assert_eq!(
                store.cache_gen(tenant).await.unwrap(),
                bolt.generations[tenant.as_str()]
            );
        }
        // Processed requests were completed long ago: not returned for query-time filtering.
        let qt = store.list("team-b", true).await.unwrap();
        assert_eq!(
            qt.len(),
            usize::from(which == "store-after-submit"),
            "{which}"
        );
        // The SQLite object is in the bucket, in Loki's layout.
        let obj = bucket
            .get("index/delete_requests/delete_requests.sqlite.gz")
            .await
            .unwrap();
        let c = sqlite_tables(&obj);
        let n: i64 = c
            .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
        let cols: Vec<String> = c
            .prepare("SELECT name FROM pragma_table_info('requests') ORDER BY cid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            cols,
            [
                "id",
                "user_id",
                "created_at",
                "completed_at",
                "start_time",
                "end_time",
                "total_shards",
                "processed_shards",
                "query"
            ]
        );
        let shards: i64 = c
            .query_row("SELECT count(*) FROM shards", [], |r| r.get(0))
            .unwrap();
        // The two line-filter requests span two days: 24h shards (2 + 2 + 1).
        assert_eq!(shards, if which == "store-after-submit" { 5 } else { 0 });
    }
}

#[tokio::test]
async fn replicas_share_every_change_and_shards_progress_like_loki() {
    let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
    let clock = Clock::fixed(T0_NS);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = DeleteStore::open(bucket.clone(), cfg(d1.path()), clock.clone())
        .await
        .unwrap();
    let b = DeleteStore::open(bucket.clone(), cfg(d2.path()), clock.clone())
        .await
        .unwrap();
    let req = NewRequest {
        tenant: "t1".into(),
        query: r#"{app="x"} |= "secret""#.into(),
        shards: vec![
            range(1000, 3_600_000),
            range(3_600_000, 7_200_000),
            range(7_200_000, 9_000_000),
        ],
        kind: RequestKind::Delete,
    };
    let r = a.add(req).await.unwrap();
    assert_eq!(r.id.len(), 8);
    assert!(r
        .id
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    // Replica b answers the same right away, and tenants are isolated.
    let seen = b.list("t1", true).await.unwrap();
    assert_eq!(seen, vec![r.clone()]);
    assert!(b.list("t2", false).await.unwrap().is_empty());
    assert_eq!(b.get("t2", &r.id).await.unwrap(), None);
    assert_ne!(b.cache_gen("t1").await.unwrap(), "");
    assert_eq!(b.cache_gen("t2").await.unwrap(), "");
    // Not due within the cancel period + 1 minute.
    let cancel = 24 * 3_600_000;
    assert!(b
        .due_requests(None, clock.now_ms(), cancel)
        .await
        .unwrap()
        .is_empty());
    clock.advance_ms(cancel + 60_001);
    let due = b
        .due_requests(Some("t1"), clock.now_ms(), cancel)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].shards.len(), 3);
    assert_eq!(due[0].total_shards, 3);
    assert!(due[0].redaction.is_none());
    assert!(b
        .due_requests(Some("t2"), clock.now_ms(), cancel)
        .await
        .unwrap()
        .is_empty());
    // Past the cancel period: only with force.
    assert_eq!(
        a.cancel("t1", &r.id, false, cancel, false).await.unwrap(),
        CancelOutcome::NeedsForce
    );
    // Shard progress, alternating replicas; the other tenant cannot touch it.
    assert_eq!(
        a.mark_shard_processed("t2", &r.id, due[0].shards[0])
            .await
            .unwrap(),
        Marked::NotFound
    );
    let m = b
        .mark_shard_processed("t1", &r.id, due[0].shards[0])
        .await
        .unwrap();
    assert!(matches!(m, Marked::Done(p) if p.processed == 1 && p.total == 3));
    assert_eq!(
        a.list("t1", false).await.unwrap()[0].status(),
        "33% Complete"
    );
    assert_eq!(
        a.mark_shard_processed("t1", &r.id, due[0].shards[0])
            .await
            .unwrap(),
        Marked::NotFound,
        "a shard is processed once"
    );
    assert_eq!(a.mark_request_processed("t1", &r.id).await.unwrap(), 2);
    let done = b.list("t1", false).await.unwrap();
    assert_eq!(done[0].status(), "processed");
    assert_eq!(done[0].completed_ms, Some(clock.now_ms()));
    assert_eq!(
        b.cancel("t1", &r.id, true, cancel, false).await.unwrap(),
        CancelOutcome::Processed
    );
    // Still returned for query-time filtering until the propagation delay has passed.
    assert_eq!(b.list("t1", true).await.unwrap().len(), 1);
    clock.advance_ms(15 * 60_000 + 1);
    assert!(b.list("t1", true).await.unwrap().is_empty());
    assert_eq!(b.list("t1", false).await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_writers_on_two_replicas_lose_nothing() {
    let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
    let clock = Clock::system();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = DeleteStore::open(bucket.clone(), cfg(d1.path()), clock.clone())
        .await
        .unwrap();
    let b = DeleteStore::open(bucket.clone(), cfg(d2.path()), clock.clone())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.add(NewRequest {
                tenant: format!("t{}", i % 3),
                query: format!("{{app=\"a{i}\"}}"),
                shards: vec![range(0, 1000)],
                kind: RequestKind::Delete,
            })
            .await
            .unwrap()
            .id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let mut listed = Vec::new();
    for t in ["t0", "t1", "t2"] {
        listed.extend(a.list(t, false).await.unwrap().into_iter().map(|r| r.id));
    }
    ids.sort();
    listed.sort();
    assert_eq!(ids, listed);
}

#[tokio::test]
async fn redactions_are_kept_apart_from_lokis_tables() {
    let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
    let clock = Clock::fixed(T0_NS);
    let dir = tempfile::tempdir().unwrap();
    let s = DeleteStore::open(bucket.clone(), cfg(dir.path()), clock.clone())
        .await
        .unwrap();
    let red = Redaction {
        pattern: r"p-\d+".into(),
        mask: "<player>".into(),
    };
    let r = s
        .add(NewRequest {
            tenant: "t1".into(),
            query: r#"{app="game"}"#.into(),
            shards: vec![range(0, 5000)],
            kind: RequestKind::Redact(red.clone()),
        })
        .await
        .unwrap();
    assert!(s.list("t1", false).await.unwrap().is_empty());
    assert_eq!(s.list_redactions("t1").await.unwrap(), vec![r.clone()]);
    let obj = bucket
        .get("index/delete_requests/delete_requests.sqlite.gz")
        .await
        .unwrap();
    let c = sqlite_tables(&obj);
    let n: i64 = c
        .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "Loki must not see redactions as deletes");
    clock.advance_ms(61_000);
    let due = s.due_requests(None, clock.now_ms(), 0).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].redaction.as_ref(), Some(&red));
    let gen_before = s.cache_gen("t1").await.unwrap();
    clock.advance_ms(1);
    assert_eq!(s.mark_request_processed("t1", &r.id).await.unwrap(), 1);
    assert_eq!(
        s.list_redactions("t1").await.unwrap()[0].status(),
        "processed"
    );
    assert_ne!(s.cache_gen("t1").await.unwrap(), gen_before);
    // A redaction is not cancellable through the delete route.
    assert_eq!(
        s.cancel("t1", &r.id, true, 0, false).await.unwrap(),
        CancelOutcome::NotFound
    );
}

#[tokio::test]
async fn boltdb_copy_lets_loki_take_over() {
    for which in ["store-after-submit", "store-after-processing"] {
        let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
        let key = "index/delete_requests/delete_requests.gz";
        bucket.put(key, golden_bolt(which)).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::fixed(T0_NS);
        let s = DeleteStore::open(bucket.clone(), cfg(dir.path()), clock.clone())
            .await
            .unwrap();
        s.enable_boltdb_mirror().await.unwrap();
        let parse = |b: &[u8]| {
            loki_compactor::deletes::DeleteDb::parse(&loki_tsdb::gunzip(b).unwrap()).unwrap()
        };
        // Migrated and written back: what Loki reads equals what Loki wrote.
        let back = parse(&bucket.get(key).await.unwrap());
        assert_eq!(back, parse(&golden_bolt(which)), "{which}");
        if which != "store-after-submit" {
            continue;
        }
        // Progress made through our store shows in Loki's file.
        clock.advance_ms(60_000);
        let due = s
            .due_requests(Some("game-platform"), clock.now_ms() + 1, 0)
            .await
            .unwrap();
        let two = due.iter().find(|d| d.shards.len() == 2).unwrap();
        s.mark_shard_processed("game-platform", &two.id, two.shards[1])
            .await
            .unwrap();
        let r = s
            .add(NewRequest {
                tenant: "team-b".into(),
                query: r#"{app="new"}"#.into(),
                shards: vec![range(1000, 2000)],
                kind: RequestKind::Delete,
            })
            .await
            .unwrap();
        let back = parse(&bucket.get(key).await.unwrap());
        let gp = &back.requests["game-platform"];
        let got = gp.iter().find(|x| x.request_id == two.id).unwrap();
        assert_eq!(got.status, "50% Complete");
        assert_eq!(got.start_ms, two.range.start_ms);
        assert_eq!(got.end_ms, two.range.end_ms);
        assert!(back.requests["team-b"].iter().any(|x| x.request_id == r.id));
        assert_eq!(
            back.generations["team-b"],
            s.cache_gen("team-b").await.unwrap()
        );
    }
}
