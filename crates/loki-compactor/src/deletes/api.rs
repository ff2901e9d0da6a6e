//! Loki's delete-request HTTP API (spec §8.1–8.2, 8.8) over the [`DeleteStore`],
//! independent of the HTTP server: [`DeleteApi::handle`] takes method, path, query string
//! and `X-Scope-OrgID`, and returns status, headers and body exactly as Loki would.
//!
//! Routes: `POST|PUT|GET|DELETE /loki/api/v1/delete`,
//! `GET /loki/api/v1/cache/generation_numbers`,
//! `POST /loki/api/v1/cache/generation_numbers/increase`,
//! `GET|POST /compactor/ui/api/v1/deletes`, and our redaction extension
//! `POST|PUT|GET|DELETE /compactor/api/v1/redact` (only when enabled).

use std::collections::HashMap;
use std::sync::Arc;

use loki_config::DeletionMode;

use super::model::{NewRequest, Redaction, RequestKind, StoredRequest, TimeRange};
use super::params::{go_duration, model_time, parse_go_duration, parse_time};
use super::query;
use super::store::{CancelOutcome, DeleteStore};
use crate::clock::Clock;
use crate::metrics::Metrics;

/// `loki_compactor_delete_requests_received_total{user}`.
pub const RECEIVED_TOTAL: &str = "loki_compactor_delete_requests_received_total";
/// `loki_compactor_pending_delete_requests_count`.
pub const PENDING_COUNT: &str = "loki_compactor_pending_delete_requests_count";
/// `loki_compactor_oldest_pending_delete_request_age_seconds`.
pub const OLDEST_PENDING_AGE: &str = "loki_compactor_oldest_pending_delete_request_age_seconds";
/// `loki_compactor_load_pending_requests_attempts_total{status}`.
pub const LOAD_PENDING_ATTEMPTS: &str = "loki_compactor_load_pending_requests_attempts_total";

/// Default mask of redaction requests without `mask`.
pub const DEFAULT_MASK: &str = "[REDACTED]";

/// Settings of the API (from `auth_enabled` and the `compactor:` block).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `auth_enabled`.
    pub auth_enabled: bool,
    /// Tenant used when auth is disabled (Loki's `fake`).
    pub no_auth_tenant: String,
    /// `delete_request_cancel_period`, ms.
    pub cancel_period_ms: i64,
    /// `delete_max_interval`, ms (0 = no sharding limit).
    pub delete_max_interval_ms: i64,
    /// Our extension: accept redaction requests.
    pub redaction_enabled: bool,
}

/// The tenant's `deletion_mode` (from the limits and runtime overrides).
pub type ModeFn = Arc<dyn Fn(&str) -> DeletionMode + Send + Sync>;

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any (204 has none).
    pub content_type: Option<&'static str>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: String,
}

const TEXT: &str = "text/plain; charset=utf-8";

impl Response {
    /// Go `http.Error` style: message plus newline, plain text, `nosniff`.
    pub fn error(status: u16, msg: &str) -> Self {
        Response {
            status,
            content_type: Some(TEXT),
            headers: vec![("X-Content-Type-Options", "nosniff".into())],
            body: format!("{msg}\n"),
        }
    }

    fn no_content(headers: Vec<(&'static str, String)>) -> Self {
        Response {
            status: 204,
            content_type: None,
            headers,
            body: String::new(),
        }
    }

    fn json(body: String) -> Self {
        Response {
            status: 200,
            content_type: Some("application/json"),
            headers: Vec::new(),
            body,
        }
    }
}

/// The delete-request API.
pub struct DeleteApi {
    store: DeleteStore,
    cfg: ApiConfig,
    mode: ModeFn,
    metrics: Arc<Metrics>,
    clock: Clock,
}

impl std::fmt::Debug for DeleteApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeleteApi")
            .field("store", &self.store)
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

type Params = HashMap<String, String>;

fn params(query: &str) -> Params {
    // The first value wins, as with Go's `FormValue`.
    let mut m = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        m.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    m
}

fn param<'a>(p: &'a Params, k: &str) -> &'a str {
    p.get(k).map(String::as_str).unwrap_or("")
}

impl DeleteApi {
    /// The API over `store`; registers its metrics in `metrics`.
    pub fn new(
        store: DeleteStore,
        cfg: ApiConfig,
        mode: ModeFn,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Self {
        metrics.register(
            RECEIVED_TOTAL,
            "Number of delete requests received per user",
            true,
        );
        metrics.register(PENDING_COUNT, "Number of pending delete requests", false);
        metrics.register(
            OLDEST_PENDING_AGE,
            "Age of oldest pending delete request in seconds since they are over their cancellation period",
            false,
        );
        metrics.register(
            LOAD_PENDING_ATTEMPTS,
            "Number of attempts done for loading delete requests with status",
            true,
        );
        DeleteApi {
            store,
            cfg,
            mode,
            metrics,
            clock,
        }
    }

    /// The store behind the API.
    pub fn store(&self) -> &DeleteStore {
        &self.store
    }

    /// The tenant's deletion mode.
    pub fn mode(&self, tenant: &str) -> DeletionMode {
        (self.mode)(tenant)
    }

    /// Settings.
    pub fn config(&self) -> &ApiConfig {
        &self.cfg
    }

    /// True for the paths this API serves.
    pub fn serves(path: &str) -> bool {
        matches!(
            path,
            "/loki/api/v1/delete"
                | "/loki/api/v1/cache/generation_numbers"
                | "/loki/api/v1/cache/generation_numbers/increase"
                | "/compactor/ui/api/v1/deletes"
                | "/compactor/api/v1/redact"
        )
    }

    /// Resolves the tenant (§8.1) and checks its deletion mode.
    /// `require_header`: the UI create route wants the header even without auth.
    pub fn tenant(&self, org: Option<&str>, require_header: bool) -> Result<String, Response> {
        let org = org.map(str::trim).filter(|s| !s.is_empty());
        let tenant = if !self.cfg.auth_enabled && !require_header {
            self.cfg.no_auth_tenant.clone()
        } else {
            match org {
                None => return Err(Response::error(401, "no org id")),
                Some(o) if o.contains('|') => {
                    return Err(Response::error(400, "multiple org IDs present"))
                }
                Some(o) => o.to_owned(),
            }
        };
        if self.mode(&tenant) == DeletionMode::Disabled {
            return Err(Response::error(
                403,
                "deletion is not available for this tenant",
            ));
        }
        Ok(tenant)
    }

    /// Answers one request on one of [`serves`](Self::serves)' paths.
    pub async fn handle(
        &self,
        method: &str,
        path: &str,
        query: &str,
        org: Option<&str>,
    ) -> Response {
        let p = params(query);
        if path == "/compactor/ui/api/v1/deletes" && method == "GET" {
            return self.ui_list(&p).await;
        }
        if path == "/compactor/api/v1/redact" && !self.cfg.redaction_enabled {
            return Response::error(404, "redaction requests are not enabled");
        }
        let tenant = match self.tenant(org, path == "/compactor/ui/api/v1/deletes") {
            Ok(t) => t,
            Err(r) => return r,
        };
        let r = match (path, method) {
            ("/loki/api/v1/delete" | "/compactor/ui/api/v1/deletes", "POST" | "PUT") => {
                self.create(&tenant, &p, None).await
            }
            ("/loki/api/v1/delete", "GET") => self.list(&tenant, &p).await,
            ("/loki/api/v1/delete", "DELETE") => self.cancel(&tenant, &p, false).await,
            ("/loki/api/v1/cache/generation_numbers", "GET") => {
                match self.store.cache_gen(&tenant).await {
                    Ok(g) => Ok(Response {
                        status: 200,
                        content_type: Some(TEXT),
                        headers: Vec::new(),
                        body: format!("{}\n", json_str(&g)),
                    }),
                    Err(e) => Err(e),
                }
            }
            ("/loki/api/v1/cache/generation_numbers/increase", "POST") => {
                match self.store.bump_cache_gen(&tenant).await {
                    Ok(g) => {
                        tracing::info!(user = %tenant, gen = %g, "cache generation number updated for user");
                        Ok(Response::no_content(Vec::new()))
                    }
                    Err(e) => Err(e),
                }
            }
            ("/compactor/api/v1/redact", "POST" | "PUT") => {
                let pattern = param(&p, "pattern");
                if pattern.is_empty() {
                    return Response::error(400, "pattern not set");
                }
                if let Err(e) = regex::Regex::new(pattern) {
                    return Response::error(400, &format!("invalid pattern: {e}"));
                }
                let mask = p
                    .get("mask")
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_MASK.to_owned());
                let red = Redaction {
                    pattern: pattern.to_owned(),
                    mask,
                };
                self.create(&tenant, &p, Some(red)).await
            }
            ("/compactor/api/v1/redact", "GET") => self
                .store
                .list_redactions(&tenant)
                .await
                .map(|v| Response::json(list_json(&v, false))),
            ("/compactor/api/v1/redact", "DELETE") => self.cancel(&tenant, &p, true).await,
            _ => return Response::error(405, "method not allowed"),
        };
        r.unwrap_or_else(|e| {
            tracing::error!(err = %e, user = %tenant, "delete-request store failed");
            Response::error(500, &e.to_string())
        })
    }

    async fn create(
        &self,
        tenant: &str,
        p: &Params,
        redaction: Option<Redaction>,
    ) -> super::store::Result<Response> {
        let q = param(p, "query");
        if q.is_empty() {
            return Ok(Response::error(400, "query not set"));
        }
        let Ok(expr) = query::parse(q) else {
            return Ok(Response::error(400, query::INVALID_QUERY));
        };
        let start = param(p, "start");
        if start.is_empty() {
            return Ok(Response::error(400, "start time not set"));
        }
        let Some(start) = parse_time(start) else {
            return Ok(Response::error(
                400,
                "invalid start time: require unix seconds or RFC3339 format",
            ));
        };
        let now = self.clock.now_ms();
        let end = match param(p, "end") {
            "" => now,
            e => match parse_time(e) {
                Some(e) => e,
                None => {
                    return Ok(Response::error(
                        400,
                        "invalid end time: require unix seconds or RFC3339 format",
                    ))
                }
            },
        };
        if end > now {
            return Ok(Response::error(
                400,
                "deletes in the future are not allowed",
            ));
        }
        if start >= end {
            return Ok(Response::error(
                400,
                "start time can't be greater than or equal to end time",
            ));
        }
        // Redactions always work line by line, so they are sharded like filtered deletes.
        let interval = if query::has_filter(&expr) || redaction.is_some() {
            match param(p, "max_interval") {
                "" => self.cfg.delete_max_interval_ms,
                s => {
                    let max = self.cfg.delete_max_interval_ms;
                    match parse_go_duration(s) {
                        Some(d) if d >= 1000 => {
                            if max > 0 && d > max {
                                return Ok(Response::error(
                                    400,
                                    &format!(
                                        "max_interval can't be greater than {}",
                                        go_duration(max)
                                    ),
                                ));
                            }
                            if d > end - start {
                                return Ok(Response::error(
                                    400,
                                    &format!(
                                        "max_interval can't be greater than the interval to be deleted ({})",
                                        go_duration(end - start)
                                    ),
                                ));
                            }
                            d
                        }
                        _ => {
                            return Ok(Response::error(
                                400,
                                "invalid max_interval: valid time units are 's', 'm', 'h'",
                            ))
                        }
                    }
                }
            }
        } else {
            0
        };
        let shards = split(start, end, interval);
        let is_redaction = redaction.is_some();
        let kind = match redaction {
            Some(r) => RequestKind::Redact(r),
            None => RequestKind::Delete,
        };
        let r = self
            .store
            .add(NewRequest {
                tenant: tenant.to_owned(),
                query: q.to_owned(),
                shards,
                kind,
            })
            .await?;
        if is_redaction {
            tracing::info!(redaction_request_id = %r.id, user = %tenant, query = %q, interval = %go_duration(interval), "redaction request for user added");
        } else {
            tracing::info!(delete_request_id = %r.id, user = %tenant, query = %q, interval = %go_duration(interval), "delete request for user added");
            self.metrics.inc(RECEIVED_TOTAL, &[("user", tenant)]);
        }
        Ok(Response::no_content(vec![("X-Delete-Request-Id", r.id)]))
    }

    async fn list(&self, tenant: &str, p: &Params) -> super::store::Result<Response> {
        let range = match (param(p, "start"), param(p, "end")) {
            ("", _) | (_, "") => None,
            (s, e) => {
                let Some(s) = parse_time(s) else {
                    return Ok(Response::error(
                        400,
                        "invalid start time: require unix seconds or RFC3339 format",
                    ));
                };
                let Some(e) = parse_time(e) else {
                    return Ok(Response::error(
                        400,
                        "invalid end time: require unix seconds or RFC3339 format",
                    ));
                };
                Some((s, e))
            }
        };
        let qt = param(p, "for_querytime_filtering") == "true";
        let mut v = self.store.list(tenant, qt).await?;
        if let Some((s, e)) = range {
            v.retain(|r| r.range.start_ms <= e && r.range.end_ms >= s);
        }
        Ok(Response::json(list_json(&v, false)))
    }

    async fn cancel(
        &self,
        tenant: &str,
        p: &Params,
        redaction: bool,
    ) -> super::store::Result<Response> {
        let id = param(p, "request_id");
        if id.is_empty() {
            // Loki (BoltDB) cancels every request of the tenant here; we refuse.
            return Ok(Response::error(400, "request_id not set"));
        }
        let force = param(p, "force") == "true";
        let out = self
            .store
            .cancel(tenant, id, force, self.cfg.cancel_period_ms, redaction)
            .await?;
        Ok(match out {
            CancelOutcome::Cancelled(_) => {
                tracing::info!(delete_request_id = %id, user = %tenant, "delete request cancelled");
                Response::no_content(Vec::new())
            }
            CancelOutcome::NotFound => {
                Response::error(404, "could not find delete request with given id")
            }
            CancelOutcome::Processed => Response::error(
                400,
                "deletion of request which is in process or already processed is not allowed",
            ),
            CancelOutcome::NeedsForce => Response::error(
                400,
                &format!(
                    "Cancellation of partially completed delete request or delete request past the deadline of {} since its creation is not allowed. To force, use the ?force query parameter",
                    go_duration(self.cfg.cancel_period_ms)
                ),
            ),
        })
    }

    /// `GET /compactor/ui/api/v1/deletes?status=`: every tenant's requests with that status
    /// (default `received`), newest first, at most 100, ms times and the real tenant.
    async fn ui_list(&self, p: &Params) -> Response {
        let status = match param(p, "status") {
            "" => "received",
            s => s,
        };
        match self.store.list_all().await {
            Ok(mut v) => {
                v.retain(|r| r.status() == status);
                v.reverse();
                v.truncate(100);
                Response::json(list_json(&v, true))
            }
            Err(e) => Response::error(500, &e.to_string()),
        }
    }

    /// Refreshes the pending gauges (Loki does it every 5 minutes).
    pub async fn update_pending_gauges(&self) {
        let now = self.clock.now_ms();
        let keep = |t: &str| self.mode(t) == DeletionMode::FilterAndDelete;
        match self
            .store
            .pending_stats(now, self.cfg.cancel_period_ms, keep)
            .await
        {
            Ok(st) => {
                self.metrics.set(PENDING_COUNT, &[], st.shards as f64);
                self.metrics.set(
                    OLDEST_PENDING_AGE,
                    &[],
                    st.oldest_age_ms.max(0) as f64 / 1000.0,
                );
            }
            Err(e) => tracing::warn!(err = %e, "cannot count pending delete requests"),
        }
    }
}

/// Cuts `[start, end]` at multiples of `interval` since the epoch (Loki's sharding, §8.2);
/// one shard when `interval` is 0 or covers the range. Consecutive shards share their
/// boundary millisecond.
pub fn split(start: i64, end: i64, interval: i64) -> Vec<TimeRange> {
    if interval <= 0 || interval >= end - start {
        return vec![TimeRange {
            start_ms: start,
            end_ms: end,
        }];
    }
    let mut out = Vec::new();
    let mut cur = start;
    while cur < end {
        let next = (cur.div_euclid(interval) + 1)
            .saturating_mul(interval)
            .min(end);
        out.push(TimeRange {
            start_ms: cur,
            end_ms: next,
        });
        cur = next;
    }
    out
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The list body: Loki's field order; `ui` = integer ms and the real tenant (UI route).
/// Redactions carry their `pattern` and `mask` as extra fields.
pub fn list_json(v: &[StoredRequest], ui: bool) -> String {
    let t = |ms: i64| {
        if ui {
            ms.to_string()
        } else {
            model_time(ms)
        }
    };
    let items: Vec<String> = v
        .iter()
        .map(|r| {
            let extra = match &r.kind {
                RequestKind::Redact(x) => format!(
                    ",\"pattern\":{},\"mask\":{}",
                    json_str(&x.pattern),
                    json_str(&x.mask)
                ),
                RequestKind::Delete => String::new(),
            };
            format!(
                "{{\"request_id\":{},\"start_time\":{},\"end_time\":{},\"query\":{},\"status\":{},\"created_at\":{},\"user_id\":{}{extra}}}",
                json_str(&r.id),
                t(r.range.start_ms),
                t(r.range.end_ms),
                json_str(&r.query),
                json_str(&r.status()),
                t(r.created_ms),
                json_str(if ui { &r.tenant } else { "" }),
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharding_like_loki() {
        // 09:39:51 → 12:39:51.378 with 1h: four shards cut at full hours.
        let h = 3_600_000;
        let s = 1_795_599_591_000;
        let e = s + 3 * h + 378;
        let got = split(s, e, h);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].start_ms, s);
        assert_eq!(got[0].end_ms % h, 0);
        assert_eq!(got[1].start_ms, got[0].end_ms);
        assert_eq!(got[3].end_ms, e);
        for w in got.windows(2) {
            assert_eq!(w[0].end_ms, w[1].start_ms);
        }
        // Golden: two days from midnight with 24h: two shards.
        let d = 86_400_000;
        assert_eq!(split(20775 * d, 20777 * d, d).len(), 2);
        assert_eq!(split(0, 10, 0).len(), 1);
        assert_eq!(split(0, 10, 10).len(), 1);
    }
}
