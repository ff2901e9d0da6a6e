//! The delete API over real HTTP on 127.0.0.1, built from the golden `delete-request`
//! config as the binary builds it: what Loki's querier HTTP client does
//! (`for_querytime_filtering=true`, unix-second ranges, cache generation numbers) gets Loki's
//! JSON shapes; and a bounded load loop of concurrent creates loses no request.
//!
//! Load size: `DELETE_LOAD_RPS` (default 200) × `DELETE_LOAD_SECONDS` (default 3); the
//! issue's 200/s for 30 s is `DELETE_LOAD_SECONDS=30`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use loki_bucket::{Bucket, BucketOptions};
use loki_compactor::deletes::api::RECEIVED_TOTAL;
use loki_compactor::http::{serve, HttpState, LeaseView, Phase};
use loki_compactor::runner::{Compactor, Options};
use loki_compactor::Clock;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Server {
    port: u16,
    compactor: Arc<Compactor>,
    _tmp: tempfile::TempDir,
}

async fn start() -> Server {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup("delete-request", "store", "loki-delete.yaml", tmp.path());
    let bucket = Bucket::from_spec(
        cfg.delete_request_store().unwrap(),
        BucketOptions::default(),
    )
    .unwrap();
    let compactor = Arc::new(Compactor::new(cfg.clone(), Options::default()).unwrap());
    let api = loki_compactor::deletes::setup::open_api(
        &cfg,
        bucket,
        Arc::clone(compactor.metrics()),
        Clock::system(),
        false,
    )
    .await
    .unwrap();
    let state = Arc::new(HttpState {
        compactor: Arc::clone(&compactor),
        phase: std::sync::Mutex::new(Phase::Running),
        lease: std::sync::Mutex::new(LeaseView::Unknown),
        deletes: Some(api),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(serve(listener, state));
    Server {
        port,
        compactor,
        _tmp: tmp,
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn http(port: u16, method: &str, target: &str, org: Option<&str>) -> Reply {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let org = org
        .map(|o| format!("X-Scope-OrgID: {o}\r\n"))
        .unwrap_or_default();
    // Clients often send an (ignored) form body: it must not break the answer.
    let body = if method == "POST" { "ignored=1" } else { "" };
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: compactor\r\n{org}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let out = String::from_utf8(out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap();
    Reply {
        status: status.parse().unwrap(),
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
        body: body.to_owned(),
    }
}

fn enc(q: &str) -> String {
    form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

/// Prometheus `model.Time` as Loki's client decodes it: a JSON number of seconds with at
/// most three decimals.
fn model_time(v: &Value) -> i64 {
    let n = v.as_number().expect("time is a JSON number");
    let s = n.to_string();
    if let Some((_, f)) = s.split_once('.') {
        assert!(f.len() <= 3, "{s}");
    }
    (n.as_f64().unwrap() * 1000.0).round() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn querier_http_client_contract() {
    let srv = start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let r = http(
        srv.port,
        "POST",
        &format!(
            "/loki/api/v1/delete?query={}&start={}&end={}",
            enc(r#"{k8s_labels_app="game-api"} |= "player_id\":\"p-13""#),
            now - 7200,
            now - 60
        ),
        Some("game-platform"),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_empty());
    let id = r.header("X-Delete-Request-Id").unwrap().to_owned();
    assert_eq!(id.len(), 8);
    // What the querier's HTTP client sends.
    let r = http(
        srv.port,
        "GET",
        &format!(
            "/loki/api/v1/delete?for_querytime_filtering=true&start={}&end={now}",
            now - 3600
        ),
        Some("game-platform"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let v: Value = serde_json::from_str(&r.body).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 1);
    let o = items[0].as_object().unwrap();
    let keys: Vec<&str> = o.keys().map(String::as_str).collect();
    let mut want_keys = vec![
        "created_at",
        "end_time",
        "query",
        "request_id",
        "start_time",
        "status",
        "user_id",
    ];
    want_keys.sort();
    let mut got_keys = keys.clone();
    got_keys.sort();
    assert_eq!(got_keys, want_keys);
    assert_eq!(o["request_id"], id.as_str());
    assert_eq!(model_time(&o["start_time"]), (now - 7200) * 1000);
    assert_eq!(model_time(&o["end_time"]), (now - 60) * 1000);
    assert!(model_time(&o["created_at"]) >= (now - 1) * 1000);
    assert_eq!(o["status"], "received");
    assert_eq!(o["user_id"], "");
    // Outside the range: an empty JSON array, never null.
    let r = http(
        srv.port,
        "GET",
        "/loki/api/v1/delete?for_querytime_filtering=true&start=1000000000&end=1000003600",
        Some("game-platform"),
    )
    .await;
    assert_eq!(r.body, "[]");
    // Another tenant sees nothing.
    let r = http(srv.port, "GET", "/loki/api/v1/delete", Some("team-b")).await;
    assert_eq!(r.body, "[]");
    // Cache generation number: a JSON string.
    let r = http(
        srv.port,
        "GET",
        "/loki/api/v1/cache/generation_numbers",
        Some("game-platform"),
    )
    .await;
    assert_eq!(r.status, 200);
    let g: String = serde_json::from_str(r.body.trim_end()).unwrap();
    assert!(g.parse::<i64>().unwrap() > now * 1_000_000_000 - 10_000_000_000);
    let r = http(
        srv.port,
        "GET",
        "/loki/api/v1/cache/generation_numbers",
        Some("team-b"),
    )
    .await;
    assert_eq!(r.body, "\"\"\n");
    // auth_enabled: true in this config.
    let r = http(srv.port, "GET", "/loki/api/v1/delete", None).await;
    assert_eq!((r.status, r.body.as_str()), (401, "no org id\n"));
    // Cancel over HTTP; then it is gone for queriers.
    let r = http(
        srv.port,
        "DELETE",
        &format!("/loki/api/v1/delete?request_id={id}"),
        Some("game-platform"),
    )
    .await;
    assert_eq!(r.status, 204);
    let r = http(
        srv.port,
        "GET",
        "/loki/api/v1/delete?for_querytime_filtering=true",
        Some("game-platform"),
    )
    .await;
    assert_eq!(r.body, "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_lose_nothing() {
    let srv = start().await;
    let rps: u64 = std::env::var("DELETE_LOAD_RPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let secs: u64 = std::env::var("DELETE_LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let total = rps * secs;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ids = Arc::new(Mutex::new(Vec::new()));
    let lat = Arc::new(Mutex::new(Vec::new()));
    // Bounded: at most 64 requests in flight, started at the target rate.
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..total {
        let due = t0 + Duration::from_micros(i * 1_000_000 / rps);
        tokio::time::sleep_until(due.into()).await;
        let permit = Arc::clone(&sem).acquire_owned().await.unwrap();
        let (ids, lat, port) = (Arc::clone(&ids), Arc::clone(&lat), srv.port);
        let tenant = ["game-platform", "team-b", "t3"][(i % 3) as usize];
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let r = http(
                port,
                "POST",
                &format!(
                    "/loki/api/v1/delete?query={}&start={}&end={}",
                    enc(&format!("{{app=\"load-{i}\"}}")),
                    now - 3600,
                    now - 1
                ),
                Some(tenant),
            )
            .await;
            assert_eq!(r.status, 204, "{}", r.body);
            let id = r.header("X-Delete-Request-Id").unwrap().to_owned();
            lat.lock().unwrap().push(started.elapsed());
            ids.lock().unwrap().push((tenant, id));
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = t0.elapsed();
    let mut want = ids.lock().unwrap().clone();
    assert_eq!(want.len() as u64, total);
    let mut got = Vec::new();
    for tenant in ["game-platform", "team-b", "t3"] {
        let r = http(srv.port, "GET", "/loki/api/v1/delete", Some(tenant)).await;
        let v: Value = serde_json::from_str(&r.body).unwrap();
        for o in v.as_array().unwrap() {
            got.push((tenant, o["request_id"].as_str().unwrap().to_owned()));
        }
    }
    want.sort();
    got.sort();
    assert_eq!(got, want, "every acknowledged request is stored");
    // And it is in the bucket: a fresh store (another replica) on the same bucket lists
    // the same.
    let dir = tempfile::tempdir().unwrap();
    let fresh = loki_compactor::deletes::DeleteStore::open(
        Bucket::from_spec(
            srv.compactor.config().delete_request_store().unwrap(),
            BucketOptions::default(),
        )
        .unwrap(),
        loki_compactor::deletes::StoreConfig {
            key_prefix: "index/".into(),
            local_dir: dir.path().to_path_buf(),
            querytime_propagation_ms: 0,
        },
        Clock::system(),
    )
    .await
    .unwrap();
    let listed: usize = {
        let mut n = 0;
        for t in ["game-platform", "team-b", "t3"] {
            n += fresh.list(t, false).await.unwrap().len();
        }
        n
    };
    assert_eq!(listed as u64, total);
    let received: f64 = ["game-platform", "team-b", "t3"]
        .iter()
        .map(|t| srv.compactor.metrics().get(RECEIVED_TOTAL, &[("user", t)]))
        .sum();
    assert_eq!(received as u64, total);
    let mut l = lat.lock().unwrap().clone();
    l.sort();
    println!(
        "delete API load: {total} creates in {:.2}s ({:.0}/s), latency p50 {:?} p99 {:?} max {:?}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        l[l.len() / 2],
        l[l.len() * 99 / 100],
        l[l.len() - 1]
    );
}
