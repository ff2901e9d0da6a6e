//! Helpers shared by the integration tests: golden store copies and configs pointed at them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use loki_config::LokiConfig;

/// `testdata/golden/<dataset>`.
pub fn golden(dataset: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/golden")
        .join(dataset)
}

/// Recursive copy.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// The dataset's YAML with its relative paths (`./bucket`, `./data`, `./overrides.yaml`)
/// moved under `root`.
pub fn config_text(dataset: &str, yaml: &str, root: &Path) -> String {
    let text = std::fs::read_to_string(golden(dataset).join(yaml)).unwrap();
    text.replace("./bucket", &root.join("bucket").display().to_string())
        .replace("./data", &root.join("data").display().to_string())
        .replace(
            "./overrides.yaml",
            &root.join("overrides.yaml").display().to_string(),
        )
}

/// Copies `<dataset>/<store>` to `<root>/bucket` and loads the rewritten config.
pub fn setup(dataset: &str, store: &str, yaml: &str, root: &Path) -> LokiConfig {
    copy_dir(&golden(dataset).join(store), &root.join("bucket"));
    let ov = golden(dataset).join("overrides.yaml");
    if ov.exists() {
        std::fs::copy(ov, root.join("overrides.yaml")).unwrap();
    }
    let text = config_text(dataset, yaml, root);
    let path = root.join("loki.yaml");
    std::fs::write(&path, &text).unwrap();
    LokiConfig::from_yaml(&text, &path, false).unwrap()
}

/// The golden `multitenant-gzip` store with its compactor config, under `root`.
pub fn multitenant(root: &Path) -> LokiConfig {
    setup("multitenant-gzip", "store", "loki-compactor.yaml", root)
}

/// Every file under `dir`, relative, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if p.to_string_lossy().contains('#') {
                // The filesystem store's staging file of a PUT cut off by a crash; the
                // store's listing ignores these, so do we.
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// Per-tenant files by `(table, tenant)`.
pub type TenantFiles = BTreeMap<(String, String), Vec<PathBuf>>;
/// A series as (labels, fingerprint, chunks).
pub type SeriesTuple = (Vec<(String, String)>, u64, Vec<loki_tsdb::ChunkMeta>);

/// Per `(table, tenant)`: the per-tenant index file names (and no multi-tenant files).
pub fn index_layout(store: &Path) -> (TenantFiles, Vec<String>) {
    let mut per = BTreeMap::new();
    let mut common = Vec::new();
    for f in files(&store.join("index")) {
        // The delete-request DB lives next to the tables (default key prefix `index/`).
        if f.starts_with("delete_requests/") {
            continue;
        }
        let parts: Vec<&str> = f.split('/').collect();
        match parts.as_slice() {
            [t, ten, _] => per
                .entry((t.to_string(), ten.to_string()))
                .or_insert_with(Vec::new)
                .push(store.join("index").join(&f)),
            [_, _] => common.push(f.clone()),
            _ => {}
        }
    }
    (per, common)
}

/// Series of an index file as (labels, fingerprint, chunks) sorted.
pub fn series_of(path: &Path) -> Vec<SeriesTuple> {
    let r = loki_tsdb::IndexReader::from_bytes(std::fs::read(path).unwrap()).unwrap();
    let mut cur = r.series().unwrap();
    let mut out = Vec::new();
    while cur.advance().unwrap() {
        out.push((
            cur.labels()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
            cur.fingerprint(),
            cur.chunks().to_vec(),
        ));
    }
    out.sort();
    out
}

/// Chunk ids referenced by every index under `store`.
pub fn referenced_chunks(store: &Path) -> std::collections::BTreeSet<String> {
    let (per, _) = index_layout(store);
    let mut out = std::collections::BTreeSet::new();
    for ((_, tenant), paths) in per {
        for p in paths {
            for (_, fp, chunks) in series_of(&p) {
                for c in chunks {
                    out.insert(format!(
                        "{tenant}/{fp:x}/{:x}:{:x}:{:x}",
                        c.min_time, c.max_time, c.checksum
                    ));
                }
            }
        }
    }
    out
}

/// Chunk ids referenced by every index file under `store`, multi-tenant uploads included
/// (their tenant comes from the `__loki_tenant__` label).
pub fn referenced_chunks_all(store: &Path) -> std::collections::BTreeSet<String> {
    let mut out = referenced_chunks(store);
    let (_, uploads) = index_layout(store);
    for u in uploads {
        for (labels, fp, chunks) in series_of(&store.join("index").join(&u)) {
            let tenant = labels
                .iter()
                .find(|(k, _)| k == loki_tsdb::TENANT_LABEL)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            for c in chunks {
                out.insert(format!(
                    "{tenant}/{fp:x}/{:x}:{:x}:{:x}",
                    c.min_time, c.max_time, c.checksum
                ));
            }
        }
    }
    out
}

// ---- running the binary ----

pub const BIN: &str = env!("CARGO_BIN_EXE_loki-compactor");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, out.split_once("\r\n\r\n")?.1.to_owned()))
}

pub fn wait_for(port: u16, path: &str, pred: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    loop {
        if let Some((200, body)) = get(port, path) {
            if pred(&body) {
                return body;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timeout waiting for {path}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A copy of the config at `cfg` listening on `port`, with `compaction_interval: 1s` (it is
/// also the start-up delay, like Loki's).
pub fn with_port(cfg: &Path, port: u16) -> std::path::PathBuf {
    let t = std::fs::read_to_string(cfg).unwrap();
    let t: String = t
        .lines()
        .map(|l| {
            let trimmed = l.trim_start();
            let indent = &l[..l.len() - trimmed.len()];
            if trimmed.starts_with("http_listen_port:") {
                format!("{indent}http_listen_port: {port}\n")
            } else if trimmed.starts_with("compaction_interval:") {
                format!("{indent}compaction_interval: 1s\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let p = cfg.with_file_name(format!("loki-{port}.yaml"));
    std::fs::write(&p, t).unwrap();
    p
}

pub fn term(child: &mut Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the child if the test fails before stopping it.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Loki config on the local S3 server (credentials from the env, moto's defaults
/// otherwise), with every object under `prefix`.
pub fn s3_yaml(endpoint: &str, bucket: &str, prefix: &str) -> String {
    let (insecure, host) = match endpoint.strip_prefix("http://") {
        Some(h) => (true, h),
        None => (false, endpoint.strip_prefix("https://").unwrap_or(endpoint)),
    };
    let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "testing".into());
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "testing".into());
    let text = format!(
        r#"
auth_enabled: true
schema_config:
  configs:
    - from: "2026-01-01"
      store: tsdb
      object_store: s3
      schema: v13
      index: {{ prefix: index_, period: 24h }}
storage_config:
  use_thanos_objstore: true
  object_store:
    storage_prefix: {prefix}
    s3:
      bucket_name: {bucket}
      endpoint: {host}
      region: us-east-1
      insecure: {insecure}
      access_key_id: {key}
      secret_access_key: {secret}
compactor:
  working_directory: /tmp/unused-loki-compactor-s3
"#
    );
    text
}

/// Unix ms of the golden retention run (2026-11-25T13:17:25.795Z).
pub const RETENTION_RUN_MS: i64 = 1_795_612_645_795;

/// Chunk ids (`<tenant>/<fp>/<from>:<through>:<crc>`) of the chunk objects in a filesystem
/// bucket.
pub fn chunk_ids(bucket: &Path) -> std::collections::BTreeSet<String> {
    files(bucket)
        .into_iter()
        .filter(|f| !f.starts_with("index/") && !f.starts_with(loki_bucket::compactor_state::ROOT))
        .map(|f| {
            loki_bucket::KeyCodec::Filesystem
                .decode_chunk_key(&f)
                .unwrap()
        })
        .collect()
}

/// Chunk ids Loki deleted in the golden retention run.
pub fn retention_deleted_chunks() -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(golden("retention").join("deleted-chunks.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').nth(1).unwrap().to_owned())
        .collect()
}

/// Copies the retention store to `root/bucket` with periods stretched so the golden cutoffs
/// apply now, and a tiny delete delay so the sweep happens within the test; returns the
/// config path.
pub fn prepare_retention_now(root: &Path) -> PathBuf {
    setup("retention", "store", "loki-retention.yaml", root);
    let delta = loki_compactor::Clock::system().now_ms() - RETENTION_RUN_MS;
    let h = |hours: i64| format!("{}ms", hours * 3_600_000 + delta);
    let cfg = root.join("loki.yaml");
    let t = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(
            "retention_period: 72h",
            &format!("retention_period: {}", h(72)),
        )
        .replace("retention_delete_delay: 30s", "retention_delete_delay: 1ms");
    std::fs::write(&cfg, t).unwrap();
    let ov = std::fs::read_to_string(root.join("overrides.yaml"))
        .unwrap()
        .replace(
            "retention_period: 48h",
            &format!("retention_period: {}", h(48)),
        )
        .replace("period: 24h", &format!("period: {}", h(24)));
    std::fs::write(root.join("overrides.yaml"), ov).unwrap();
    cfg
}

/// Nothing live was lost: every chunk referenced by a per-tenant file or an upload exists,
/// and every chunk in `keep` is still referenced.
pub fn assert_nothing_lost(bucket: &Path, keep: &std::collections::BTreeSet<String>, when: &str) {
    let present = chunk_ids(bucket);
    let referenced = referenced_chunks(bucket);
    let missing: Vec<_> = referenced.difference(&present).collect();
    assert!(
        missing.is_empty(),
        "{when}: indexed chunks deleted: {missing:?}"
    );
    let all_refs = referenced_chunks_all(bucket);
    let missing: Vec<_> = all_refs.difference(&present).collect();
    assert!(
        missing.is_empty(),
        "{when}: chunks of uploads deleted: {missing:?}"
    );
    let lost: Vec<_> = keep.difference(&all_refs).collect();
    assert!(lost.is_empty(), "{when}: index entries lost: {lost:?}");
}

/// The retention cycle completed: exactly `keep` is left and indexed, one per-tenant file
/// per tenant and table, no upload and no marker left.
pub fn assert_retention_done(bucket: &Path, keep: &std::collections::BTreeSet<String>, what: &str) {
    assert_eq!(
        &chunk_ids(bucket),
        keep,
        "{what}: expired chunks not all deleted (or too many)"
    );
    assert_eq!(&referenced_chunks(bucket), keep, "{what}");
    let (per, uploads) = index_layout(bucket);
    assert!(uploads.is_empty(), "{what}: uploads left");
    for (k, v) in &per {
        assert_eq!(
            v.len(),
            1,
            "{what}: duplicate per-tenant files in {k:?}: {v:?}"
        );
    }
    let markers = files(bucket)
        .into_iter()
        .filter(|f| f.starts_with(loki_bucket::compactor_state::MARKERS))
        .count();
    assert_eq!(markers, 0, "{what}: markers left");
}

/// The newest record of the lease chain in a filesystem bucket.
pub fn newest_lease(bucket: &Path) -> serde_json::Value {
    let dir = bucket.join(loki_bucket::compactor_state::LEASE);
    let newest = files(&dir).pop().expect("no lease object");
    serde_json::from_slice(&std::fs::read(dir.join(newest)).unwrap()).unwrap()
}

/// A running binary whose stderr lines arrive on a channel.
pub struct Running {
    pub child: Child,
    pub lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Running {
    /// Starts the binary with `args` and `envs`, stderr captured line by line.
    pub fn start(args: &[String], envs: &[(&str, &str)]) -> Self {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_remove(loki_compactor::crash::CRASH_ENV)
            .env_remove(loki_compactor::crash::PAUSE_ENV)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in envs {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(stderr).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads stderr until a line contains `needle`; panics if the process ends first (a
    /// generous guard against a hung test, not a timing assertion).
    pub fn wait_line(&mut self, needle: &str) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(120)) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(e) => panic!("no `{needle}` on stderr ({e}):\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Sends SIGTERM, waits for the exit; returns the status and the whole stderr.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let status = term(&mut self.child);
        self.seen.extend(self.lines.iter());
        (status, self.seen.join("\n"))
    }
}
