//! Conformance of the delete-request HTTP API with Loki's (spec §8.1, 8.2, 8.8): every route,
//! error message, status code and time format, with auth on and off, and tenant isolation.
//! Runs the handler against a store in an in-memory bucket with a fixed clock.

use std::sync::Arc;

use loki_bucket::{Bucket, BucketOptions};
use loki_compactor::deletes::api::{ApiConfig, DeleteApi, Response, RECEIVED_TOTAL};
use loki_compactor::deletes::{DeleteStore, StoreConfig};
use loki_compactor::metrics::Metrics;
use loki_compactor::Clock;
use loki_config::DeletionMode;
use serde_json::Value;

/// 2026-11-25T12:00:00Z.
const NOW_S: i64 = 1_795_608_000;
const H: i64 = 3600;

struct Env {
    api: DeleteApi,
    clock: Clock,
    metrics: Arc<Metrics>,
    _dir: tempfile::TempDir,
}

async fn env(auth: bool, redaction: bool) -> Env {
    let bucket = Bucket::from_url("memory://", None, BucketOptions::default()).unwrap();
    let clock = Clock::fixed(NOW_S * 1_000_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = DeleteStore::open(
        bucket,
        StoreConfig {
            key_prefix: "index/".into(),
            local_dir: dir.path().to_path_buf(),
            querytime_propagation_ms: 15 * 60_000,
        },
        clock.clone(),
    )
    .await
    .unwrap();
    let metrics = Arc::new(Metrics::new());
    let api = DeleteApi::new(
        store,
        ApiConfig {
            auth_enabled: auth,
            no_auth_tenant: "fake".into(),
            cancel_period_ms: 24 * H * 1000,
            delete_max_interval_ms: 24 * H * 1000,
            redaction_enabled: redaction,
        },
        Arc::new(|t: &str| match t {
            "off" => DeletionMode::Disabled,
            "filteronly" => DeletionMode::FilterOnly,
            _ => DeletionMode::FilterAndDelete,
        }),
        Arc::clone(&metrics),
        clock.clone(),
    );
    Env {
        api,
        clock,
        metrics,
        _dir: dir,
    }
}

fn enc(q: &str) -> String {
    form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

impl Env {
    async fn call(&self, method: &str, path: &str, query: &str, org: Option<&str>) -> Response {
        self.api.handle(method, path, query, org).await
    }

    async fn create(&self, org: &str, query: &str, params: &str) -> Response {
        let q = format!("query={}&{params}", enc(query));
        self.call("POST", "/loki/api/v1/delete", &q, Some(org))
            .await
    }

    async fn list(&self, org: &str, params: &str) -> Value {
        let r = self
            .call("GET", "/loki/api/v1/delete", params, Some(org))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.content_type, Some("application/json"));
        serde_json::from_str(&r.body).unwrap()
    }
}

fn id_of(r: &Response) -> String {
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_empty());
    r.headers
        .iter()
        .find(|(k, _)| *k == "X-Delete-Request-Id")
        .map(|(_, v)| v.clone())
        .expect("X-Delete-Request-Id")
}

fn assert_err(r: &Response, status: u16, msg: &str) {
    assert_eq!(
        (r.status, r.body.as_str()),
        (status, format!("{msg}\n").as_str())
    );
    assert_eq!(r.content_type, Some("text/plain; charset=utf-8"));
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| *k == "X-Content-Type-Options" && v == "nosniff"));
}

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/loki/api/v1/delete"),
    ("PUT", "/loki/api/v1/delete"),
    ("GET", "/loki/api/v1/delete"),
    ("DELETE", "/loki/api/v1/delete"),
    ("GET", "/loki/api/v1/cache/generation_numbers"),
    ("POST", "/loki/api/v1/cache/generation_numbers/increase"),
];

#[tokio::test]
async fn tenant_resolution_and_deletion_mode_come_first() {
    let e = env(true, false).await;
    for (m, p) in ROUTES {
        assert_err(&e.call(m, p, "", None).await, 401, "no org id");
        assert_err(&e.call(m, p, "", Some("")).await, 401, "no org id");
        assert_err(
            &e.call(m, p, "", Some("a|b")).await,
            400,
            "multiple org IDs present",
        );
        // The mode check runs before any parameter validation.
        assert_err(
            &e.call(m, p, "start=garbage", Some("off")).await,
            403,
            "deletion is not available for this tenant",
        );
    }
    // filter-only tenants may use the API.
    let r = e
        .create(
            "filteronly",
            r#"{app="a"}"#,
            &format!("start={}", NOW_S - H),
        )
        .await;
    id_of(&r);
    // Auth disabled: every request is tenant `fake`, whatever the header says.
    let e = env(false, false).await;
    let id = id_of(
        &e.create("ignored", r#"{app="a"}"#, &format!("start={}", NOW_S - H))
            .await,
    );
    let l1 = e.call("GET", "/loki/api/v1/delete", "", None).await;
    let l2 = e
        .call("GET", "/loki/api/v1/delete", "", Some("other"))
        .await;
    assert_eq!(l1, l2);
    let v: Value = serde_json::from_str(&l1.body).unwrap();
    assert_eq!(v[0]["request_id"], id);
    assert_eq!(e.api.store().list("fake", false).await.unwrap().len(), 1);
}

#[tokio::test]
async fn create_validates_like_loki() {
    let e = env(true, false).await;
    let t = Some("t1");
    let p = "/loki/api/v1/delete";
    let q = |s: &str| format!("query={}&{s}", enc(r#"{app="a"} |= "x""#));
    assert_err(
        &e.call("POST", p, "start=1795600000", t).await,
        400,
        "query not set",
    );
    for bad in [
        "app",
        r#"{app="a""#,
        r#"count_over_time({app="a"}[5m])"#,
        r#"sum(rate({app="a"}[1m]))"#,
    ] {
        let r = e
            .call(
                "POST",
                p,
                &format!("query={}&start=1795600000", enc(bad)),
                t,
            )
            .await;
        assert_err(&r, 400, "invalid query expression");
    }
    assert_err(
        &e.call("POST", p, &q(""), t).await,
        400,
        "start time not set",
    );
    for bad in [
        "1795600000000",
        "17956",
        "yesterday",
        "2026-11-25",
        "1795600000.",
    ] {
        assert_err(
            &e.call("POST", p, &q(&format!("start={}", enc(bad))), t)
                .await,
            400,
            "invalid start time: require unix seconds or RFC3339 format",
        );
        assert_err(
            &e.call(
                "POST",
                p,
                &q(&format!("start=1795600000&end={}", enc(bad))),
                t,
            )
            .await,
            400,
            "invalid end time: require unix seconds or RFC3339 format",
        );
    }
    assert_err(
        &e.call(
            "POST",
            p,
            &q(&format!("start=1795600000&end={}", NOW_S + 1)),
            t,
        )
        .await,
        400,
        "deletes in the future are not allowed",
    );
    for (s, en) in [(NOW_S - H, NOW_S - H), (NOW_S - H, NOW_S - 2 * H)] {
        assert_err(
            &e.call("POST", p, &q(&format!("start={s}&end={en}")), t)
                .await,
            400,
            "start time can't be greater than or equal to end time",
        );
    }
    let two_days = format!("start={}&end={}", NOW_S - 48 * H, NOW_S);
    for bad in ["500ms", "1d", "x", "-1h", "10"] {
        assert_err(
            &e.call(
                "POST",
                p,
                &q(&format!("{two_days}&max_interval={}", enc(bad))),
                t,
            )
            .await,
            400,
            "invalid max_interval: valid time units are 's', 'm', 'h'",
        );
    }
    assert_err(
        &e.call("POST", p, &q(&format!("{two_days}&max_interval=25h")), t)
            .await,
        400,
        "max_interval can't be greater than 24h0m0s",
    );
    assert_err(
        &e.call(
            "POST",
            p,
            &q(&format!(
                "start={}&end={NOW_S}&max_interval=4h",
                NOW_S - 3 * H
            )),
            t,
        )
        .await,
        400,
        "max_interval can't be greater than the interval to be deleted (3h0m0s)",
    );
    // Without a line filter max_interval is not consulted at all.
    let r = e
        .call(
            "POST",
            p,
            &format!(
                "query={}&start={}&max_interval=garbage",
                enc(r#"{app="a"}"#),
                NOW_S - H
            ),
            t,
        )
        .await;
    id_of(&r);
    assert!(e.list("t1", "").await.as_array().unwrap().len() == 1);
}

#[tokio::test]
async fn created_requests_are_listed_in_lokis_shape() {
    let e = env(true, false).await;
    // 09:39:51 → 12:00:00 (end defaults to now) with max_interval=1h: three shards.
    let start = NOW_S - 2 * H - 20 * 60 - 9;
    let id1 = id_of(
        &e.create(
            "t1",
            r#"{app="keep"} |= "secret""#,
            &format!("start={start}&max_interval=1h"),
        )
        .await,
    );
    e.clock.advance_ms(1_370);
    // RFC3339 with fractions, stored with ms precision; PUT creates too.
    let r = e
        .call(
            "PUT",
            "/loki/api/v1/delete",
            &format!(
                "query={}&start={}&end={}",
                enc(r#"{app="other"}"#),
                enc("2026-11-25T10:00:00.123456789Z"),
                enc("2026-11-25T11:00:00+00:00")
            ),
            Some("t1"),
        )
        .await;
    let id2 = id_of(&r);
    e.clock.advance_ms(1);
    // Unix seconds with a fraction.
    let id3 = id_of(
        &e.create("t1", r#"{app="x"}"#, "start=1795590000.5&end=1795590001.25")
            .await,
    );
    let want = serde_json::json!([
        {"request_id": id1, "start_time": start, "end_time": NOW_S,
         "query": "{app=\"keep\"} |= \"secret\"", "status": "received",
         "created_at": NOW_S, "user_id": ""},
        {"request_id": id2, "start_time": 1_795_600_800.123, "end_time": 1_795_604_400,
         "query": "{app=\"other\"}", "status": "received",
         "created_at": 1_795_608_001.37, "user_id": ""},
        {"request_id": id3, "start_time": 1_795_590_000.5, "end_time": 1_795_590_001.25,
         "query": "{app=\"x\"}", "status": "received",
         "created_at": 1_795_608_001.371, "user_id": ""},
    ]);
    let body = e
        .call("GET", "/loki/api/v1/delete", "", Some("t1"))
        .await
        .body;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), want);
    // Field order and number formatting as Loki prints them.
    assert!(
        body.starts_with(&format!(
            "[{{\"request_id\":\"{id1}\",\"start_time\":{start},\"end_time\":{NOW_S},\"query\":"
        )),
        "{body}"
    );
    assert!(body.contains("\"created_at\":1795608001.37,"), "{body}");
    // Shards: first to the next full hour, then hourly, last ends at `end`.
    let store = e.api.store();
    let due = store
        .due_requests(Some("t1"), (NOW_S + 48 * H) * 1000, 0)
        .await
        .unwrap();
    let shards: Vec<(i64, i64)> = due
        .iter()
        .find(|d| d.id == id1)
        .unwrap()
        .shards
        .iter()
        .map(|s| (s.start_ms / 1000, s.end_ms / 1000))
        .collect();
    assert_eq!(
        shards,
        [
            (start, NOW_S - 2 * H),
            (NOW_S - 2 * H, NOW_S - H),
            (NOW_S - H, NOW_S)
        ]
    );
    assert_eq!(e.metrics.get(RECEIVED_TOTAL, &[("user", "t1")]), 3.0);
    // Overlap filter with start and end (both needed), any accepted time format.
    let v = e
        .list(
            "t1",
            &format!("start={}&end={}", 1_795_590_001, 1_795_599_000),
        )
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["request_id"], id3);
    let v = e.list("t1", "start=1795590001").await;
    assert_eq!(v.as_array().unwrap().len(), 3, "start alone is ignored");
    let r = e
        .call(
            "GET",
            "/loki/api/v1/delete",
            "start=x&end=1795600000",
            Some("t1"),
        )
        .await;
    assert_err(
        &r,
        400,
        "invalid start time: require unix seconds or RFC3339 format",
    );
    let r = e
        .call(
            "GET",
            "/loki/api/v1/delete",
            "start=1795600000&end=x",
            Some("t1"),
        )
        .await;
    assert_err(
        &r,
        400,
        "invalid end time: require unix seconds or RFC3339 format",
    );
    // Another tenant sees an empty list, `[]` not `null`.
    let r = e.call("GET", "/loki/api/v1/delete", "", Some("t2")).await;
    assert_eq!(r.body, "[]");
}

#[tokio::test]
async fn cancellation_rules_and_isolation() {
    let e = env(true, false).await;
    let p = "/loki/api/v1/delete";
    let id = id_of(
        &e.create("t1", r#"{app="a"}"#, &format!("start={}", NOW_S - H))
            .await,
    );
    let gen0 = e
        .call(
            "GET",
            "/loki/api/v1/cache/generation_numbers",
            "",
            Some("t1"),
        )
        .await
        .body;
    // Loki's bug (empty id cancels everything) is refused.
    assert_err(
        &e.call("DELETE", p, "", Some("t1")).await,
        400,
        "request_id not set",
    );
    assert_err(
        &e.call("DELETE", p, "request_id=", Some("t1")).await,
        400,
        "request_id not set",
    );
    assert_eq!(e.list("t1", "").await.as_array().unwrap().len(), 1);
    // Tenant B can neither see nor cancel tenant A's request, even by id or prefix.
    assert_eq!(e.list("t2", "").await, serde_json::json!([]));
    for q in [
        format!("request_id={id}"),
        format!("request_id={}", &id[..4]),
    ] {
        assert_err(
            &e.call("DELETE", p, &q, Some("t2")).await,
            404,
            "could not find delete request with given id",
        );
    }
    assert_err(
        &e.call("DELETE", p, &format!("request_id={}", &id[..4]), Some("t1"))
            .await,
        404,
        "could not find delete request with given id",
    );
    // Within the cancel period: cancelled, generation number bumped.
    e.clock.advance_ms(1);
    let r = e
        .call("DELETE", p, &format!("request_id={id}"), Some("t1"))
        .await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    assert_eq!(e.list("t1", "").await, serde_json::json!([]));
    let gen1 = e
        .call(
            "GET",
            "/loki/api/v1/cache/generation_numbers",
            "",
            Some("t1"),
        )
        .await
        .body;
    assert_ne!(gen0, gen1);
    // Past the cancel period: only with force=true.
    let id = id_of(
        &e.create("t1", r#"{app="b"}"#, &format!("start={}", NOW_S - H))
            .await,
    );
    e.clock.advance_ms(24 * H * 1000 + 1);
    let msg = "Cancellation of partially completed delete request or delete request past the deadline of 24h0m0s since its creation is not allowed. To force, use the ?force query parameter";
    for f in ["", "&force=false", "&force=1"] {
        assert_err(
            &e.call("DELETE", p, &format!("request_id={id}{f}"), Some("t1"))
                .await,
            400,
            msg,
        );
    }
    let r = e
        .call(
            "DELETE",
            p,
            &format!("request_id={id}&force=true"),
            Some("t1"),
        )
        .await;
    assert_eq!(r.status, 204);
    // Partially processed: force needed; processed: never.
    let id = id_of(
        &e.create(
            "t1",
            r#"{app="c"} |= "x""#,
            &format!(
                "start={}&end={}&max_interval=1h",
                NOW_S + 18 * H,
                NOW_S + 21 * H
            ),
        )
        .await,
    );
    let store = e.api.store();
    let due = store
        .due_requests(Some("t1"), (NOW_S + 72 * H) * 1000, 0)
        .await
        .unwrap();
    let d = due.iter().find(|d| d.id == id).unwrap();
    assert_eq!(d.shards.len(), 3);
    store
        .mark_shard_processed("t1", &id, d.shards[0])
        .await
        .unwrap();
    assert_eq!(e.list("t1", "").await[0]["status"], "33% Complete");
    assert_err(
        &e.call("DELETE", p, &format!("request_id={id}"), Some("t1"))
            .await,
        400,
        msg,
    );
    store.mark_request_processed("t1", &id).await.unwrap();
    assert_eq!(e.list("t1", "").await[0]["status"], "processed");
    assert_err(
        &e.call(
            "DELETE",
            p,
            &format!("request_id={id}&force=true"),
            Some("t1"),
        )
        .await,
        400,
        "deletion of request which is in process or already processed is not allowed",
    );
}

#[tokio::test]
async fn cache_generation_numbers() {
    let e = env(true, false).await;
    let get = |t: &'static str| {
        let e = &e;
        async move {
            let r = e
                .call("GET", "/loki/api/v1/cache/generation_numbers", "", Some(t))
                .await;
            assert_eq!(r.status, 200);
            assert!(r.body.ends_with('\n'));
            serde_json::from_str::<String>(r.body.trim_end()).unwrap()
        }
    };
    assert_eq!(get("t1").await, "");
    let r = e
        .call(
            "POST",
            "/loki/api/v1/cache/generation_numbers/increase",
            "",
            Some("t1"),
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let g = get("t1").await;
    assert_eq!(g, (NOW_S * 1_000_000_000).to_string());
    assert_eq!(get("t2").await, "", "tenants have their own numbers");
    // Creation bumps it.
    e.clock.advance_ms(5);
    id_of(
        &e.create("t1", r#"{app="a"}"#, &format!("start={}", NOW_S - H))
            .await,
    );
    let g2: i64 = get("t1").await.parse().unwrap();
    assert!(g2 > g.parse::<i64>().unwrap());
    // Wrong methods.
    for (m, p) in [
        ("POST", "/loki/api/v1/cache/generation_numbers"),
        ("GET", "/loki/api/v1/cache/generation_numbers/increase"),
        ("PATCH", "/loki/api/v1/delete"),
    ] {
        assert_eq!(e.call(m, p, "", Some("t1")).await.status, 405, "{m} {p}");
    }
}

#[tokio::test]
async fn ui_route_lists_all_tenants_in_ms() {
    let e = env(false, false).await;
    // The UI create route wants the header even with auth disabled.
    let r = e
        .call(
            "POST",
            "/compactor/ui/api/v1/deletes",
            &format!("query={}&start={}", enc(r#"{app="a"}"#), NOW_S - H),
            None,
        )
        .await;
    assert_err(&r, 401, "no org id");
    for t in ["u1", "u2"] {
        e.clock.advance_ms(1);
        let r = e
            .call(
                "POST",
                "/compactor/ui/api/v1/deletes",
                &format!("query={}&start={}", enc(r#"{app="a"}"#), NOW_S - H),
                Some(t),
            )
            .await;
        id_of(&r);
    }
    let r = e
        .call("GET", "/compactor/ui/api/v1/deletes", "", None)
        .await;
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["user_id"], "u2", "newest first");
    assert_eq!(v[0]["start_time"], (NOW_S - H) * 1000);
    let r = e
        .call(
            "GET",
            "/compactor/ui/api/v1/deletes",
            "status=processed",
            None,
        )
        .await;
    assert_eq!(r.body, "[]");
}

#[tokio::test]
async fn redaction_requests_only_when_enabled() {
    let p = "/compactor/api/v1/redact";
    let e = env(true, false).await;
    let q = format!(
        "query={}&start={}&pattern={}",
        enc(r#"{app="game"}"#),
        NOW_S - H,
        enc(r"p-\d+")
    );
    assert_err(
        &e.call("POST", p, &q, Some("t1")).await,
        404,
        "redaction requests are not enabled",
    );
    let e = env(true, true).await;
    assert_err(
        &e.call(
            "POST",
            p,
            &format!("query={}&start={}", enc(r#"{app="game"}"#), NOW_S - H),
            Some("t1"),
        )
        .await,
        400,
        "pattern not set",
    );
    let r = e
        .call(
            "POST",
            p,
            &format!(
                "query={}&start={}&pattern=%28",
                enc(r#"{app="game"}"#),
                NOW_S - H
            ),
            Some("t1"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.starts_with("invalid pattern: "), "{}", r.body);
    let id = id_of(&e.call("POST", p, &q, Some("t1")).await);
    // Not a delete: Loki's list (and so queriers) never see it.
    assert_eq!(e.list("t1", "").await, serde_json::json!([]));
    assert_eq!(e.metrics.get(RECEIVED_TOTAL, &[("user", "t1")]), 0.0);
    let r = e.call("GET", p, "", Some("t1")).await;
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v[0]["request_id"], id);
    assert_eq!(v[0]["pattern"], r"p-\d+");
    assert_eq!(v[0]["mask"], "[REDACTED]");
    assert_eq!(e.call("GET", p, "", Some("t2")).await.body, "[]");
    // Cancelled through its own route only.
    let del = format!("request_id={id}");
    assert_eq!(
        e.call("DELETE", "/loki/api/v1/delete", &del, Some("t1"))
            .await
            .status,
        404
    );
    assert_eq!(e.call("DELETE", p, &del, Some("t2")).await.status, 404);
    assert_eq!(e.call("DELETE", p, &del, Some("t1")).await.status, 204);
    assert_eq!(e.call("GET", p, "", Some("t1")).await.body, "[]");
}
