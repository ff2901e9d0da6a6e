//! The HTTP endpoints (on Loki's `server.http_listen_address`/`http_listen_port`): `/ready`,
//! `/metrics`, `/config`, `/services`, `/compactor/ring`, and the delete-request API
//! ([`DeleteApi`]). A small HTTP/1.1 responder of our own: a handful of routes with query
//! parameters and no request bodies do not need a web framework.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::deletes::api::{DeleteApi, Response};
use crate::lease::LeaseRecord;
use crate::runner::Compactor;

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
    /// Delete-request API (with `retention_enabled`).
    pub deletes: Option<Arc<DeleteApi>>,
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

/// Longest request head we read.
const MAX_HEAD: usize = 64 * 1024;
/// Longest request body we drain (the API reads none; unread bytes would reset the
/// connection before the client read our answer).
const MAX_BODY: usize = 1 << 20;

async fn serve_one(state: Arc<HttpState>, mut sock: TcpStream) {
    let mut buf = Vec::with_capacity(1024);
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() >= MAX_HEAD {
            let _ = sock
                .write_all(&response(
                    "431 Request Header Fields Too Large",
                    "text/plain; charset=utf-8",
                    "request header too large\n",
                ))
                .await;
            return;
        }
        match tokio::time::timeout(std::time::Duration::from_secs(10), sock.read(&mut tmp)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => return,
            Ok(Ok(n)) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut parts = lines.next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let headers: Vec<(&str, &str)> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let body_len = header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BODY);
    let mut have = buf.len() - head_end;
    while have < body_len {
        match tokio::time::timeout(std::time::Duration::from_secs(10), sock.read(&mut tmp)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => have += n,
        }
    }
    let (bare, query) = path.split_once('?').unwrap_or((path, ""));
    let resp = if DeleteApi::serves(bare) {
        match &state.deletes {
            Some(api) => render(
                &api.handle(method, bare, query, header("x-scope-orgid"))
                    .await,
            ),
            None => response(
                "404 Not Found",
                "text/plain; charset=utf-8",
                "404 page not found\n",
            ),
        }
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

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    }
}

/// Serialises an API answer.
fn render(r: &Response) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    if let Some(ct) = r.content_type {
        out.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    for (k, v) in &r.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if r.status != 204 {
        out.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    out.push_str(&r.body);
    out.into_bytes()
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
