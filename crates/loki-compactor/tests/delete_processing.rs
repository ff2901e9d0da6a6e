//! Delete processing on the golden `delete-request` dataset: the three requests Loki
//! recorded (read from its delete-request DB as submitted) are replayed on a copy of the
//! store as ingested. The surviving lines must be exactly the generator's
//! `expected-remaining.jsonl` (which Loki's own run matched), the chunks marked must be
//! Loki's, and every rewritten chunk must decode with its key's checksum.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use common::*;
use loki_bucket::{
    compactor_state, BucketOptions, Fault, FaultInjector, FaultRule, Op, RetrySettings,
};
use loki_chunk::{ChunkKey, ChunkObject};
use loki_compactor::deletes::store::{DeleteStore, StoreConfig};
use loki_compactor::deletes::DeleteDb;
use loki_compactor::metrics::names;
use loki_compactor::purge::audit::{self, AuditAction};
use loki_compactor::purge::{MemorySource, PurgeRequest};
use loki_compactor::runner::{Compactor, Options};
use loki_compactor::Clock;
use loki_config::LokiConfig;
use std::time::Duration;

const DATASET: &str = "delete-request";

/// (tenant, stream labels, ts ns, line, structured metadata)
type Line = (
    String,
    Vec<(String, String)>,
    i64,
    String,
    Vec<(String, String)>,
);

fn submitted() -> Vec<PurgeRequest> {
    let gz = std::fs::read(
        golden(DATASET)
            .join("delete-requests/store-after-submit/index/delete_requests/delete_requests.gz"),
    )
    .unwrap();
    let db = DeleteDb::parse(&loki_tsdb::gunzip(&gz).unwrap()).unwrap();
    let r = PurgeRequest::from_delete_db(&db);
    assert_eq!(r.len(), 3);
    r
}

/// The lines of a golden JSONL file (`inputs.jsonl` shape), sorted.
fn jsonl_lines(file: &str) -> Vec<Line> {
    let text = std::fs::read_to_string(golden(DATASET).join(file)).unwrap();
    let mut out: Vec<Line> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let map = |k: &str| -> Vec<(String, String)> {
                let mut m: Vec<(String, String)> = v[k]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(a, b)| (a.clone(), b.as_str().unwrap().to_owned()))
                    .collect();
                m.sort();
                m
            };
            (
                v["tenant"].as_str().unwrap().to_owned(),
                map("labels"),
                v["ts_ns"].as_str().unwrap().parse().unwrap(),
                v["line"].as_str().unwrap().to_owned(),
                map("structured_metadata"),
            )
        })
        .collect();
    out.sort();
    out
}

fn expected_remaining() -> Vec<Line> {
    jsonl_lines("expected-remaining.jsonl")
}

/// Every line reachable from the store's per-tenant indexes (a chunk indexed in two tables
/// is read once), each chunk checked against its key.
fn surviving(store: &Path) -> (Vec<Line>, BTreeSet<String>) {
    let (per, common) = index_layout(store);
    let uploads: Vec<_> = common
        .iter()
        .filter(|f| !f.starts_with("delete_requests/"))
        .collect();
    assert!(uploads.is_empty(), "multi-tenant uploads left: {uploads:?}");
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for ((_, tenant), paths) in per {
        assert_eq!(paths.len(), 1, "one file per tenant and table");
        let raw = loki_tsdb::gunzip(&std::fs::read(&paths[0]).unwrap()).unwrap();
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), &raw).unwrap();
        for (labels, fp, chunks) in series_of(tmp.path()) {
            for c in chunks {
                let id = format!(
                    "{tenant}/{fp:x}/{:x}:{:x}:{:x}",
                    c.min_time, c.max_time, c.checksum
                );
                if !seen.insert(id.clone()) {
                    continue;
                }
                let key = ChunkKey::parse(&id).unwrap();
                let bytes = std::fs::read(store.join(key.to_filesystem_path(13)))
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                let obj = ChunkObject::decode_with_key(bytes, &key)
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                let chunk = obj.chunk().unwrap();
                assert_eq!(
                    u64::from(c.entries),
                    chunk.num_entries(),
                    "{id}: index entries"
                );
                let mut stream = labels.clone();
                stream.sort();
                for e in chunk.entries() {
                    let e = e.unwrap();
                    let mut md: Vec<(String, String)> = e
                        .structured_metadata
                        .iter()
                        .map(|(a, b)| {
                            (
                                String::from_utf8(a.to_vec()).unwrap(),
                                String::from_utf8(b.to_vec()).unwrap(),
                            )
                        })
                        .collect();
                    md.sort();
                    out.push((
                        tenant.clone(),
                        stream.clone(),
                        e.timestamp_ns,
                        String::from_utf8(e.line.to_vec()).unwrap(),
                        md,
                    ));
                }
            }
        }
    }
    out.sort();
    (out, seen)
}

fn loki_markers() -> BTreeSet<String> {
    std::fs::read_to_string(golden(DATASET).join("markers/chunk_ids_in_markers.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Chunk ids Loki's indexes reference after processing.
fn loki_after_delete() -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &golden(DATASET).join("store-after-delete/index"),
        dir.path(),
    );
    // `referenced_chunks` reads plain TSDB files: gunzip Loki's in place.
    for f in files(dir.path()) {
        let p = dir.path().join(&f);
        let raw = loki_tsdb::gunzip(&std::fs::read(&p).unwrap()).unwrap();
        std::fs::write(&p, raw).unwrap();
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::rename(dir.path(), root.path().join("index")).unwrap();
    referenced_chunks(root.path())
}

struct Run {
    _tmp: tempfile::TempDir,
    bucket: std::path::PathBuf,
    source: Arc<MemorySource>,
    compactor: Compactor,
    rt: tokio::runtime::Runtime,
}

fn start(tmp: tempfile::TempDir, clock: &Clock) -> Run {
    setup(DATASET, "store", "loki-delete.yaml", tmp.path());
    restart(tmp, clock, None)
}

/// A new compactor process on the same bucket and working directory.
fn restart(tmp: tempfile::TempDir, clock: &Clock, faults: Option<Arc<FaultInjector>>) -> Run {
    let path = tmp.path().join("loki.yaml");
    let cfg =
        LokiConfig::from_yaml(&std::fs::read_to_string(&path).unwrap(), &path, false).unwrap();
    let source = Arc::new(MemorySource::new(submitted()));
    let compactor = Compactor::new(
        cfg,
        Options {
            report_expired_ids: true,
            clock: clock.clone(),
            bucket: BucketOptions {
                retry: RetrySettings {
                    max_retries: 1,
                    min_backoff: Duration::from_millis(1),
                    max_backoff: Duration::from_millis(2),
                },
                faults,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    compactor.set_purge_source(source.clone());
    Run {
        bucket: tmp.path().join("bucket"),
        _tmp: tmp,
        source,
        compactor,
        rt: tokio::runtime::Runtime::new().unwrap(),
    }
}

fn pass_clock() -> Clock {
    // Ten minutes after the last request was created: past the 10s cancel period + 1m.
    let created = submitted().iter().map(|r| r.created_ms).max().unwrap();
    Clock::fixed((created + 600_000) * 1_000_000)
}

/// Loki's delete-request DB as submitted, opened through our store (which migrates it to
/// SQLite, keeping Loki's per-day shards), as the pass's source.
fn open_store(run: &Run, clock: &Clock) -> DeleteStore {
    let dir = run.bucket.join("index/delete_requests");
    std::fs::create_dir_all(&dir).unwrap();
    let bolt = dir.join("delete_requests.gz");
    if !bolt.exists() {
        std::fs::copy(
            golden(DATASET).join(
                "delete-requests/store-after-submit/index/delete_requests/delete_requests.gz",
            ),
            bolt,
        )
        .unwrap();
    }
    let bucket = run.compactor.periods().periods[0].bucket.clone();
    let store = run
        .rt
        .block_on(DeleteStore::open(
            bucket,
            StoreConfig {
                key_prefix: "index/".into(),
                local_dir: run._tmp.path().join("store-cache"),
                querytime_propagation_ms: 0,
            },
            clock.clone(),
        ))
        .unwrap();
    run.compactor.set_purge_source(Arc::new(store.clone()));
    store
}

#[test]
fn replay_matches_loki() {
    let clock = pass_clock();
    let run = start(tempfile::tempdir().unwrap(), &clock);
    let before: BTreeSet<String> = referenced_chunks_all(&run.bucket);
    let store = open_store(&run, &clock);
    let report = run.rt.block_on(run.compactor.pass(true)).unwrap();

    // Surviving lines: exactly what Loki kept.
    let (lines, referenced) = surviving(&run.bucket);
    let want = expected_remaining();
    assert_eq!(lines.len(), want.len(), "surviving line count");
    assert!(
        lines == want,
        "surviving lines differ from expected-remaining.jsonl"
    );

    // Marked: exactly Loki's marker set (whole-chunk deletions and rewritten originals).
    let marked: BTreeSet<String> = report
        .tables
        .iter()
        .flat_map(|(_, t)| t.expired.values().flat_map(|e| e.ids.iter().cloned()))
        .collect();
    assert_eq!(marked, loki_markers(), "marked chunks differ from Loki's");
    assert!(marked.is_subset(&before));
    assert!(
        referenced.is_disjoint(&marked),
        "a marked chunk is still indexed"
    );

    // Chunk references match Loki's index by (fingerprint, from, through): our rewrites cut
    // the same bounds. Checksums of rewritten chunks may differ (we re-encode every block,
    // Loki copies unchanged blocks with its stale symbol table, see rewrite.rs).
    let strip = |s: &BTreeSet<String>| -> BTreeSet<String> {
        s.iter()
            .map(|id| id.rsplit_once(':').unwrap().0.to_owned())
            .collect()
    };
    let loki = loki_after_delete();
    assert_eq!(
        strip(&referenced),
        strip(&loki),
        "chunk bounds differ from Loki's"
    );
    let new: BTreeSet<_> = referenced.difference(&before).collect();
    assert_eq!(new.len(), 26, "rewritten chunks");
    // On this data no block that survives unchanged holds structured metadata whose symbol
    // order a rewrite would disturb, so Loki's rewrites are correct here and ours are
    // byte-identical to them (same checksum, hence same key).
    assert_eq!(referenced, loki, "chunk keys differ from Loki's");

    // Loki counted 5 (game-platform) + 39 (team-b) lines removed by rewrites.
    let m = run.compactor.metrics();
    assert_eq!(
        m.get(names::DELETED_LINES, &[("user", "game-platform")]),
        5.0
    );
    assert_eq!(m.get(names::DELETED_LINES, &[("user", "team-b")]), 39.0);
    // Per shard, as Loki: the two 2-day requests have two shards each, 5 in all.
    assert_eq!(
        m.get(
            names::DELETE_REQUESTS_PROCESSED,
            &[("user", "game-platform")]
        ) + m.get(names::DELETE_REQUESTS_PROCESSED, &[("user", "team-b")]),
        5.0
    );
    let listed = run.rt.block_on(store.list_all()).unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed.iter().all(|r| r.status() == "processed"),
        "{listed:?}"
    );
    assert!(
        run.source.processed().is_empty(),
        "the store was the source"
    );

    // Audit: one record per removed or rewritten chunk reference, by request.
    let bucket = &run.compactor.periods().periods[0].bucket;
    let records = run.rt.block_on(audit::read(bucket, None)).unwrap();
    let audited: BTreeSet<String> = records
        .iter()
        .filter(|r| r.action != AuditAction::Skipped)
        .map(|r| r.chunk.clone())
        .collect();
    assert_eq!(audited, marked);
    let by_req: BTreeMap<String, u64> = records.iter().fold(BTreeMap::new(), |mut m, r| {
        for id in &r.request_ids {
            *m.entry(id.clone()).or_default() += r.lines_removed;
        }
        m
    });
    assert_eq!(
        by_req.keys().collect::<Vec<_>>(),
        ["0ccbe1c8", "27481822", "f3161056"]
    );
    assert!(records.iter().all(|r| r.time_ms == clock.now_ms()));

    // A second pass finds nothing left to do: requests are processed, nothing pending.
    let again = run.rt.block_on(run.compactor.pass(true)).unwrap();
    assert!(again.tables.iter().all(|(_, t)| t.expired.is_empty()));
    assert_eq!(surviving(&run.bucket).0, want);
}

/// Chunks that vanished are skipped and counted; the rest of the request still applies.
#[test]
fn missing_chunk_is_skipped_not_fatal() {
    let clock = pass_clock();
    let run = start(tempfile::tempdir().unwrap(), &clock);
    // One chunk Loki rewrote for team-b's request: remove its object.
    let victim = "team-b/d41073cb16c93c1e/1a1ed12e62b:1a1ee71805f:696a08c8";
    let key = ChunkKey::parse(victim).unwrap();
    std::fs::remove_file(run.bucket.join(key.to_filesystem_path(13))).unwrap();
    let report = run.rt.block_on(run.compactor.pass(true)).unwrap();
    let skipped: Vec<&(String, String)> = report
        .tables
        .iter()
        .flat_map(|(_, t)| t.deletes.values().flat_map(|d| d.skipped.iter()))
        .collect();
    assert!(!skipped.is_empty());
    assert!(skipped
        .iter()
        .all(|(id, why)| id == victim && why.contains("not found")));
    let m = run.compactor.metrics();
    assert!(m.get(names::DELETE_MISSING_CHUNKS, &[("user", "team-b")]) >= 1.0);
    // Every other chunk Loki marked is marked by us too; the requests completed.
    let marked: BTreeSet<String> = report
        .tables
        .iter()
        .flat_map(|(_, t)| t.expired.values().flat_map(|e| e.ids.iter().cloned()))
        .collect();
    let mut want = loki_markers();
    want.remove(victim);
    assert_eq!(marked, want);
    assert_eq!(run.source.processed().len(), 3);
}

/// A pass that fails part-way (a write refused: what a crash before that write leaves,
/// plus the writes of tables that finished) followed by a fresh process: the final state
/// is the same as one clean pass. No orphaned chunk, nothing live lost, every request
/// processed, progress emptied.
#[test]
fn interrupted_pass_then_restart_reaches_the_same_state() {
    let scenarios: &[(&str, Op, &str)] = &[
        ("audit write", Op::Put, "delete-audit/team-b/"),
        ("marker write", Op::Put, compactor_state::MARKERS),
        ("rewritten chunk upload", Op::Put, "team-b/d9cffe8e6b21e00/"),
        ("index upload", Op::Put, "index/index_20775/game-platform/"),
        ("source index delete", Op::Delete, "index/index_20776/"),
        (
            "marking processed",
            Op::Put,
            "delete_requests/delete_requests.sqlite",
        ),
    ];
    let want = expected_remaining();
    let loki = loki_after_delete();
    for (what, op, key) in scenarios {
        let clock = pass_clock();
        let tmp = tempfile::tempdir().unwrap();
        setup(DATASET, "store", "loki-delete.yaml", tmp.path());
        let faults = FaultInjector::new();
        let run = restart(tmp, &clock, Some(Arc::clone(&faults)));
        let store = open_store(&run, &clock);
        faults.add(
            FaultRule::new(Fault::PermissionDenied)
                .on(&[*op])
                .key_contains(*key)
                .times(1),
        );
        let first = run.rt.block_on(run.compactor.pass(true));
        assert_eq!(faults.injected(), 1, "{what}: fault not hit");
        let _ = first;
        let pending_after_fault = run
            .rt
            .block_on(store.list_all())
            .unwrap()
            .iter()
            .filter(|r| r.status() != "processed")
            .count();
        assert!(
            pending_after_fault > 0,
            "{what}: requests marked despite the failure"
        );
        drop(store);
        let Run { _tmp: tmp, rt, .. } = run;
        drop(rt);

        let run = restart(tmp, &clock, None);
        let store = open_store(&run, &clock);
        run.rt
            .block_on(run.compactor.pass(true))
            .unwrap_or_else(|e| panic!("{what}: restart failed: {e}"));
        // Everything marked by either process, from the marker objects themselves.
        let marked: BTreeSet<String> = files(&run.bucket.join(compactor_state::MARKERS))
            .iter()
            .flat_map(|f| {
                let p = run.bucket.join(compactor_state::MARKERS).join(f);
                loki_compactor::markers::decode(f, &std::fs::read(p).unwrap()).unwrap()
            })
            .collect();
        let (lines, referenced) = surviving(&run.bucket);
        assert!(lines == want, "{what}: surviving lines differ");
        assert_eq!(referenced, loki, "{what}: index differs from Loki's");
        assert_eq!(marked, loki_markers(), "{what}: marked set");
        let chunks: BTreeSet<String> = files(&run.bucket)
            .into_iter()
            .filter(|f| !f.starts_with("index/") && !f.starts_with(compactor_state::ROOT))
            .map(|f| {
                loki_bucket::KeyCodec::Filesystem
                    .decode_chunk_key(&f)
                    .unwrap()
            })
            .collect();
        let orphans: Vec<_> = chunks
            .iter()
            .filter(|c| !referenced.contains(*c) && !marked.contains(*c))
            .collect();
        assert!(orphans.is_empty(), "{what}: orphaned chunks {orphans:?}");
        let listed = run.rt.block_on(store.list_all()).unwrap();
        assert!(
            listed.iter().all(|r| r.status() == "processed"),
            "{what}: {listed:?}"
        );
        let progress = run
            ._tmp
            .path()
            .join("data/compactor/deletion/purge_progress");
        let left = std::fs::read_to_string(&progress).unwrap_or_default();
        assert!(left.is_empty(), "{what}: progress not reset: {left}");
    }
}

/// Every input line of `tenant` as (labels, ts, line, metadata), sorted.
fn inputs_of(tenant: &str) -> Vec<Line> {
    let mut out = jsonl_lines("inputs.jsonl");
    out.retain(|l| l.0 == tenant);
    out
}

fn redact_request() -> PurgeRequest {
    let created = submitted().iter().map(|r| r.created_ms).max().unwrap();
    PurgeRequest {
        tenant: "team-b".into(),
        request_id: "5eda0001".into(),
        sequence: 0,
        start_ms: 1_794_960_000_000,
        end_ms: 1_795_132_800_000,
        query: r#"{k8s_labels_app="game-server"} |= "player_id=""#.into(),
        created_ms: created,
        action: loki_compactor::purge::Action::Redact {
            pattern: r"player_id=p-\d+".into(),
            mask: "player_id=[REDACTED]".into(),
        },
    }
}

/// Redaction (our extension): selected lines keep their place, timestamp and structured
/// metadata, with every match masked; nothing else changes. Without the setting the
/// request is left pending and nothing is touched.
#[test]
fn redaction_masks_text_and_keeps_lines() {
    let clock = pass_clock();
    let before = inputs_of("team-b");
    let re = regex::Regex::new(r"player_id=p-\d+").unwrap();
    let mut want: Vec<Line> = before
        .iter()
        .map(|l| {
            let app =
                l.1.iter()
                    .any(|(k, v)| k == "k8s_labels_app" && v == "game-server");
            let mut l = l.clone();
            if app && l.3.contains("player_id=") {
                l.3 = re.replace_all(&l.3, "player_id=[REDACTED]").into_owned();
            }
            l
        })
        .collect();
    want.sort();
    let changed = before
        .iter()
        .filter(|l| {
            l.1.iter()
                .any(|(k, v)| k == "k8s_labels_app" && v == "game-server")
                && re.is_match(&l.3)
        })
        .count();
    assert!(changed > 50, "the request must select lines: {changed}");

    for allowed in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        setup(DATASET, "store", "loki-delete.yaml", tmp.path());
        let path = tmp.path().join("loki.yaml");
        let cfg =
            LokiConfig::from_yaml(&std::fs::read_to_string(&path).unwrap(), &path, false).unwrap();
        let source = Arc::new(MemorySource::new(vec![redact_request()]));
        let c = Compactor::new(
            cfg,
            Options {
                report_expired_ids: true,
                clock: clock.clone(),
                allow_redaction: allowed,
                ..Default::default()
            },
        )
        .unwrap();
        c.set_purge_source(source.clone());
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(c.pass(true)).unwrap();
        let bucket = tmp.path().join("bucket");
        let (lines, _) = surviving(&bucket);
        let team_b: Vec<Line> = lines.into_iter().filter(|l| l.0 == "team-b").collect();
        if !allowed {
            assert_eq!(team_b, before, "redaction disabled: nothing may change");
            assert!(source.processed().is_empty(), "left pending");
            continue;
        }
        assert!(team_b == want, "redacted lines differ");
        assert_eq!(source.processed().len(), 1);
        assert_eq!(
            c.metrics()
                .get(names::REDACTED_LINES, &[("user", "team-b")]),
            changed as f64
        );
        assert_eq!(
            c.metrics().get(names::DELETED_LINES, &[("user", "team-b")]),
            0.0
        );
        let records = rt
            .block_on(audit::read(&c.periods().periods[0].bucket, Some("team-b")))
            .unwrap();
        // One record per table a chunk is indexed in: a chunk spanning midnight counts twice.
        let redacted: u64 = records.iter().map(|r| r.lines_redacted).sum();
        assert!(redacted >= changed as u64, "{redacted} < {changed}");
        assert!(records
            .iter()
            .all(|r| r.request_ids == ["5eda0001"] && r.new_chunk.is_some()));
        assert!(records.iter().all(|r| r.lines_removed == 0));
    }
}
