//! Loki's delete-request DB (bbolt, from the golden delete-request run) read back: the
//! listing equals what Loki's own `GET /loki/api/v1/delete` returned, before and after
//! processing; the binary migrates it into its store and serves it to queriers.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use loki_compactor::deletes::DeleteDb;

fn db(which: &str) -> DeleteDb {
    let p = golden("delete-request")
        .join("delete-requests")
        .join(which)
        .join("index/delete_requests/delete_requests.gz");
    DeleteDb::parse(&loki_tsdb::gunzip(&std::fs::read(p).unwrap()).unwrap()).unwrap()
}

fn expected(file: &str) -> serde_json::Value {
    let p = golden("delete-request").join("delete-requests").join(file);
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn listing_matches_lokis_responses() {
    for (store, list) in [
        ("store-after-submit", "list-after-submit.json"),
        ("store-after-processing", "list-after-processing.json"),
    ] {
        let d = db(store);
        let want = expected(list);
        for (tenant, items) in want.as_object().unwrap() {
            let got: serde_json::Value = serde_json::from_str(&d.list_json(tenant)).unwrap();
            assert_eq!(&got, items, "{store} {tenant}");
        }
        assert_eq!(d.list_json("nobody"), "[]");
        // Creation bumped the tenants' generation numbers (unix ns strings).
        for t in ["game-platform", "team-b"] {
            let g: String = serde_json::from_str(d.generation_json(t).trim()).unwrap();
            assert!(
                g.len() >= 19 && g.bytes().all(|b| b.is_ascii_digit()),
                "{t}: {g}"
            );
        }
        assert_eq!(d.generation_json("nobody"), "\"\"\n");
    }
}

fn request(port: u16, method: &str, path: &str, org: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nX-Scope-OrgID: {org}\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, out.split_once("\r\n\r\n")?.1.to_owned()))
}

#[test]
fn binary_serves_delete_requests_to_queriers() {
    let tmp = tempfile::tempdir().unwrap();
    setup(
        "delete-request",
        "store-after-delete",
        "loki-delete.yaml",
        tmp.path(),
    );
    // The DB object as Loki uploaded it once every request was processed.
    std::fs::copy(
        golden("delete-request").join(
            "delete-requests/store-after-processing/index/delete_requests/delete_requests.gz",
        ),
        tmp.path()
            .join("bucket/index/delete_requests/delete_requests.gz"),
    )
    .unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, grpc_port) = (free(), free());
    let cfg = tmp.path().join("loki.yaml");
    let text: String = std::fs::read_to_string(&cfg)
        .unwrap()
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("http_listen_port:") {
                format!("  http_listen_port: {port}\n")
            } else if l.trim_start().starts_with("grpc_listen_port:") {
                format!("  grpc_listen_port: {grpc_port}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&cfg, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_loki-compactor"))
        .arg(format!("-config.file={}", cfg.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let t0 = Instant::now();
    let body = loop {
        if let Some((200, b)) = request(port, "GET", "/loki/api/v1/delete", "team-b") {
            break b;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no answer");
        std::thread::sleep(Duration::from_millis(100));
    };
    let got: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(got, expected("list-after-processing.json")["team-b"]);
    let (code, gen) = request(
        port,
        "GET",
        "/loki/api/v1/cache/generation_numbers",
        "team-b",
    )
    .unwrap();
    assert_eq!(code, 200);
    assert!(gen.starts_with("\"1"), "{gen}");
    // Loki's parameter rules: a 1-digit time is neither unix seconds nor RFC3339.
    let (code, body) = request(
        port,
        "POST",
        "/loki/api/v1/delete?query=%7Ba%3D%22b%22%7D&start=1",
        "team-b",
    )
    .unwrap();
    assert_eq!(code, 400);
    assert_eq!(
        body,
        "invalid start time: require unix seconds or RFC3339 format\n"
    );
    let (code, _) = request(
        port,
        "POST",
        "/loki/api/v1/delete?query=%7Ba%3D%22b%22%7D&start=1794960000&end=1795000000",
        "team-b",
    )
    .unwrap();
    assert_eq!(code, 204);
    let (_, body) = request(port, "GET", "/loki/api/v1/delete", "team-b").unwrap();
    let got: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(got.as_array().unwrap().len(), 2, "{got}");
    assert_eq!(got[1]["query"], "{a=\"b\"}");
    assert_eq!(got[1]["status"], "received");
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let _ = child.0.wait();
}

/// Kills the child if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
