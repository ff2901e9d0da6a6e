//! The HTTP endpoints (on Loki's `server.http_listen_address`/`http_listen_port`): `/ready`,
//! `/metrics`, `/config`, `/services`, `/compactor/ring`. A small HTTP/1.1 responder of our
//! own: five GET routes do not need a web framework.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::deletes::DeleteDb;
use crate::lease::LeaseRecord;
use crate::runner::Compactor;

/// Where the delete-request DB is read from, with a short cache (queriers poll it).
#[derive(Debug)]
pub struct DeleteSource {
    bucket: loki_bucket::Bucket,
    key_prefix: String,
    auth_enabled: bool,
    cache: tokio::sync::Mutex<Option<(std::time::Instant, Arc<DeleteDb>)>>,
}

impl DeleteSource {
    /// The DB under `<key_prefix>delete_requests/` in `bucket`.
    pub fn new(bucket: loki_bucket::Bucket, key_prefix: &str, auth_enabled: bool) -> Self {
        DeleteSource {
            bucket,
            key_prefix: key_prefix.to_owned(),
            auth_enabled,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    async fn db(&self) -> crate::Result<Arc<DeleteDb>> {
        let mut c = self.cache.lock().await;
        if let Some((at, db)) = c.as_ref() {
            if at.elapsed() < std::time::Duration::from_secs(30) {
                return Ok(Arc::clone(db));
            }
        }
        let db = Arc::new(DeleteDb::load(&self.bucket, &self.key_prefix).await?);
        *c = Some((std::time::Instant::now(), Arc::clone(&db)));
        Ok(db)
    }
}

/// Life-cycle state shown by `/ready` and `/services`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Starting up.
    Starting,
    /// Serving and looping.
    Running,
    /// SIGTERM received.
    Stopping,
}

/// Lease state shown by `/ready` and `/compactor/ring`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseView {
    /// Not tried yet.
    Unknown,
    /// We hold it.
    Held {
        /// Our id.
        holder: String,
        /// Expiry, unix ms.
        expires_ms: i64,
    },
    /// Another instance does.
    Waiting(LeaseRecord),
}

/// Shared state of the endpoints.
#[derive(Debug)]
pub struct HttpState {
    /// The compactor.
    pub compactor: Arc<Compactor>,
    /// Life-cycle phase.
    pub phase: Mutex<Phase>,
    /// Lease state.
    pub lease: Mutex<LeaseView>,
    /// Delete-request DB (read-only), if configured.
    pub deletes: Option<DeleteSource>,
}

fn response(status: &str, ctype: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers one request path.
pub fn route(state: &HttpState, path: &str) -> Vec<u8> {
    let path = path.split('?').next().unwrap_or("");
    let phase = *state.phase.lock().unwrap_or_else(|e| e.into_inner());
    let lease = state
        .lease
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let text = "text/plain; charset=utf-8";
    match path {
        "/ready" => match phase {
            // A standby instance is ready (it serves and would take over): failing readiness
            // there would block rolling updates of a one-replica Deployment.
            Phase::Running => {
                let body = match &lease {
                    LeaseView::Waiting(r) => format!(
                        "ready\nstandby: compactor lease held by {} until {} ms\n",
                        r.holder, r.expires_ms
                    ),
                    _ => "ready\n".to_owned(),
                };
                response("200 OK", text, &body)
            }
            Phase::Starting => response(
                "503 Service Unavailable",
                text,
                "Some services are not Running:\nStarting: 1\n",
            ),
            Phase::Stopping => {
                response("503 Service Unavailable", text, "Application is stopping\n")
            }
        },
        "/metrics" => response(
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &state.compactor.render_metrics(),
        ),
        "/config" => {
            let y = serde_yaml_ng::to_string(state.compactor.config())
                .unwrap_or_else(|e| format!("# cannot render config: {e}\n"));
            response("200 OK", "text/yaml; charset=utf-8", &y)
        }
        "/services" => {
            let s = match phase {
                Phase::Starting => "Starting",
                Phase::Running => "Running",
                Phase::Stopping => "Stopping",
            };
            response(
                "200 OK",
                text,
                &format!("server => Running\ncompactor => {s}\n"),
            )
        }
        p if p == "/compactor/ring" || p.starts_with("/compactor/ring/") => {
            let body = match &lease {
                LeaseView::Unknown => "compactor lease: not yet checked\n".to_owned(),
                LeaseView::Held { holder, expires_ms } => format!(
                    "compactor lease (no ring: a lease object in the bucket elects the single compactor)\nholder: {holder} (this instance)\nexpires_ms: {expires_ms}\n"
                ),
                LeaseView::Waiting(r) => format!(
                    "compactor lease (no ring: a lease object in the bucket elects the single compactor)\nholder: {}\nexpires_ms: {}\nthis instance: standby\n",
                    r.holder, r.expires_ms
                ),
            };
            response("200 OK", text, &body)
        }
        _ => response("404 Not Found", text, "404 page not found\n"),
    }
}

async fn serve_one(state: Arc<HttpState>, mut sock: TcpStream) {
    let mut buf = Vec::with_capacity(1024);
    let mut tmp = [0u8; 1024];
    // Read the request head only (bounded): every route is a GET without a body.
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match tokio::time::timeout(std::time::Duration::from_secs(10), sock.read(&mut tmp)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&tmp[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut lines = head.lines();
    let mut parts = lines.next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let org = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("x-scope-orgid"))
        .map(|(_, v)| v.trim().to_owned());
    let bare = path.split('?').next().unwrap_or("");
    let resp = if bare == "/loki/api/v1/delete"
        || bare.starts_with("/loki/api/v1/cache/generation_numbers")
    {
        delete_api(&state, method, bare, org).await
    } else if method == "GET" || method == "HEAD" {
        route(&state, path)
    } else {
        response(
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n",
        )
    };
    let _ = sock.write_all(&resp).await;
    let _ = sock.shutdown().await;
}

/// The delete-request endpoints: listing and generation numbers are served from Loki's
/// DB in the bucket; changing requests is not supported (yet) and says so.
async fn delete_api(state: &HttpState, method: &str, path: &str, org: Option<String>) -> Vec<u8> {
    let text = "text/plain; charset=utf-8";
    let Some(src) = &state.deletes else {
        return response("404 Not Found", text, "delete requests are not enabled\n");
    };
    let tenant = match org {
        Some(t) if !t.is_empty() => t,
        _ if !src.auth_enabled => "fake".to_owned(),
        _ => return response("401 Unauthorized", text, "no org id\n"),
    };
    if method != "GET" {
        return response(
            "501 Not Implemented",
            text,
            "loki-compactor does not create, cancel or process delete requests yet\n",
        );
    }
    match src.db().await {
        Ok(db) if path == "/loki/api/v1/delete" => {
            response("200 OK", "application/json", &db.list_json(&tenant))
        }
        Ok(db) if path == "/loki/api/v1/cache/generation_numbers" => {
            response("200 OK", text, &db.generation_json(&tenant))
        }
        Ok(_) => response("404 Not Found", text, "404 page not found\n"),
        Err(e) => {
            tracing::error!(err = %e, "cannot read the delete-request DB");
            response("500 Internal Server Error", text, &format!("{e}\n"))
        }
    }
}

/// Serves until the listener fails.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>) {
    loop {
        match listener.accept().await {
            Ok((sock, _)) => {
                tokio::spawn(serve_one(Arc::clone(&state), sock));
            }
            Err(e) => {
                tracing::warn!(err = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
