//! `loki-compactor -config.file=loki.yaml [-target=compactor] [-config.expand-env=true]
//! [--once] [--dry-run]`: Loki's compactor for TSDB stores, run from the operator's Loki
//! config.

use std::ffi::OsString;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use loki_bucket::{Bucket, BucketOptions};
use loki_compactor::http::{serve, HttpState, LeaseView, Phase};
use loki_compactor::lease::{Lease, LeaseState, LEASE_PREFIX};
use loki_compactor::markers::MarkerFormat;
use loki_compactor::metrics::names;
use loki_compactor::runner::{Compactor, Options};
use loki_compactor::Clock;
use loki_config::{LoadOptions, LokiConfig};

#[derive(Parser, Debug)]
#[command(
    name = "loki-compactor",
    version,
    about = "Loki's compactor for TSDB stores"
)]
struct Cli {
    /// Loki config file.
    #[arg(long = "config.file")]
    config_file: String,
    /// Expand ${VAR} and ${VAR:-default} in the config.
    #[arg(long = "config.expand-env", num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    expand_env: bool,
    /// Loki target; only `compactor` (alone) is served here.
    #[arg(long = "target", default_value = "compactor")]
    target: String,
    /// Run one cycle (compaction, retention marking, sweep of due markers) and exit: 0 when
    /// the cycle completed, 1 when it failed, 128+signal (143 for SIGTERM, 130 for SIGINT)
    /// when a signal stopped it (no new write is started, the current step finishes or is
    /// abandoned at its next write, the lease is released; a second signal exits at once).
    #[arg(long = "once", alias = "compactor.run-once", num_args = 0..=1,
          default_missing_value = "true", default_value = "false")]
    once: bool,
    /// Report what would change and what would expire; write and delete nothing.
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Print the tables that carry a no-compact marker (JSON) and exit.
    #[arg(long = "compactor.no-compact.list")]
    no_compact_list: bool,
    /// Remove the no-compact marker of this table (it is compacted again next pass) and exit.
    #[arg(long = "compactor.no-compact.remove", value_name = "TABLE")]
    no_compact_remove: Option<String>,
    /// `logfmt` or `json`.
    #[arg(long = "log.format", default_value = "logfmt")]
    log_format: String,
    /// debug, info, warn, error.
    #[arg(long = "log.level", default_value = "info")]
    log_level: String,
    /// Format of new retention markers: native (bucket) or loki (bbolt, Loki's location).
    #[arg(long = "compactor.marker-format", value_enum, default_value = "native")]
    marker_format: MarkerFormat,
    /// Lease validity after each renewal, seconds.
    #[arg(long = "lease.ttl-seconds", default_value_t = 60)]
    lease_ttl: u64,
    /// Lease holder id (default: host name, pid and start time).
    #[arg(long = "lease.holder")]
    lease_holder: Option<String>,
    /// How long `--once` waits for another instance's lease, seconds (a signal ends the wait).
    #[arg(long = "lease.wait-seconds", default_value_t = 300)]
    lease_wait: u64,
    /// Accept redaction requests (`/compactor/api/v1/redact`, our extension): matched text
    /// is masked instead of the line being deleted.
    #[arg(long = "compactor.redaction-enabled", num_args = 0..=1,
          default_missing_value = "true", default_value = "false")]
    redaction_enabled: bool,
}

/// Loki's flags are single-dash (`-config.file=x`); clap wants `--`.
fn normalize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| match a.to_str() {
            Some(s) if i > 0 && s.len() > 2 && s.starts_with('-') && !s.starts_with("--") => {
                OsString::from(format!("-{s}"))
            }
            _ => a,
        })
        .collect()
}

fn init_logging(cli: &Cli) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .with_context(|| format!("invalid -log.level `{}`", cli.log_level))?;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    match cli.log_format.as_str() {
        "json" => b.json().init(),
        "logfmt" => b.event_format(loki_compactor::logfmt::Logfmt).init(),
        other => bail!("invalid -log.format `{other}` (logfmt or json)"),
    }
    Ok(())
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ServerBlock {
    http_listen_address: String,
    http_listen_port: Option<u16>,
    grpc_listen_address: String,
    grpc_listen_port: Option<u16>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Outer {
    server: ServerBlock,
}

/// HTTP and gRPC listen addresses from `server:` (Loki's defaults 3100 and 9095).
fn listen_addrs(path: &std::path::Path) -> (String, String) {
    let o: Outer = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_yaml_ng::from_str(&t).ok())
        .unwrap_or_default();
    let host = |h: &str| {
        if h.is_empty() {
            "0.0.0.0".to_owned()
        } else {
            h.to_owned()
        }
    };
    (
        format!(
            "{}:{}",
            host(&o.server.http_listen_address),
            o.server.http_listen_port.unwrap_or(3100)
        ),
        format!(
            "{}:{}",
            host(&o.server.grpc_listen_address),
            o.server.grpc_listen_port.unwrap_or(9095)
        ),
    )
}

fn holder_id(cli: &Cli) -> String {
    cli.lease_holder.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|s| s.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        format!("{host}-{}-{}", std::process::id(), Clock::system().now_ns())
    })
}

fn set_lease(state: &HttpState, c: &Compactor, s: &LeaseState, holder: &str) {
    let (running, view) = match s {
        LeaseState::Held { expires_ms } => (
            1.0,
            LeaseView::Held {
                holder: holder.to_owned(),
                expires_ms: *expires_ms,
            },
        ),
        LeaseState::Waiting(r) => (0.0, LeaseView::Waiting(r.clone())),
    };
    c.allowed().store(running > 0.0, Ordering::SeqCst);
    c.metrics().set(names::RUNNING, &[], running);
    c.metrics().set(names::RUNNING_SHORT, &[], running);
    c.metrics().set(names::LEASE_WAITING, &[], 1.0 - running);
    *state.lease.lock().unwrap_or_else(|e| e.into_inner()) = view;
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse_from(normalize(std::env::args_os()));
    if let Err(e) = init_logging(&cli) {
        eprintln!("loki-compactor: {e:#}");
        return std::process::ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loki-compactor: cannot start runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Interrupted>().is_some() => {
            let sig = e.downcast_ref::<Interrupted>().map_or(SIGTERM, |i| i.0);
            tracing::warn!(err = format!("{e:#}"), "compactor exiting");
            std::process::ExitCode::from(128 + sig)
        }
        Err(e) => {
            tracing::error!(err = format!("{e:#}"), "compactor exiting with error");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    // Registered before anything else: a signal during start-up is seen, not fatal.
    let mut signals = Signals::new();
    if cli.target.split(',').any(|t| t.trim() != "compactor") {
        bail!(
            "-target={} is not supported: this binary only runs the compactor",
            cli.target
        );
    }
    let load = LoadOptions {
        config_file: cli.config_file.clone(),
        expand_env: cli.expand_env,
    };
    let cfg = LokiConfig::load(&load).context("loading config")?;
    let (addr, grpc_addr) = listen_addrs(&cfg.file);
    let opts = Options {
        dry_run: cli.dry_run,
        marker_format: cli.marker_format,
        allow_redaction: cli.redaction_enabled,
        ..Default::default()
    };
    let compactor = Arc::new(Compactor::new(cfg, opts).context("building compactor")?);
    if cli.no_compact_list || cli.no_compact_remove.is_some() {
        return no_compact_admin(&cli, &compactor).await;
    }
    if !cli.dry_run {
        let c = Arc::clone(&compactor);
        let _ = tokio::task::spawn_blocking(move || c.clean_staging()).await;
    }
    let holder = holder_id(&cli);
    let lease_bucket = compactor
        .periods()
        .periods
        .last()
        .map(|p| p.bucket.clone())
        .context("no TSDB period")?;
    let ttl_ms = i64::try_from(cli.lease_ttl.max(3) * 1000).unwrap_or(60_000);
    let lease = Lease::new(lease_bucket, LEASE_PREFIX, &holder, ttl_ms, Clock::system());
    let cfg = compactor.config();
    let delete_bucket = match cfg.delete_request_store() {
        Some(spec) => {
            Bucket::from_spec(spec, BucketOptions::default()).context("delete request store")?
        }
        None => lease_bucket_for_deletes(&compactor)?,
    };
    // Delete requests exist only with retention (as in Loki). `--once` serves no API but
    // still processes the requests that are due; `--once --dry-run` touches no store.
    let deletes = if cfg.compactor.retention_enabled && !(cli.once && cli.dry_run) {
        Some(
            loki_compactor::deletes::setup::open_api(
                cfg,
                delete_bucket,
                Arc::clone(compactor.metrics()),
                Clock::system(),
                cli.redaction_enabled,
            )
            .await
            .context("opening the delete-request store")?,
        )
    } else {
        None
    };
    if let Some(api) = &deletes {
        compactor.set_purge_source(Arc::new(api.store().clone()));
    }
    let state = Arc::new(HttpState {
        compactor: Arc::clone(&compactor),
        phase: Mutex::new(Phase::Starting),
        lease: Mutex::new(LeaseView::Unknown),
        deletes: deletes.clone(),
    });

    if cli.once {
        return run_once(&cli, &compactor, &lease, &state, signals).await;
    }

    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    tracing::info!(addr = %addr, holder = %holder, "serving HTTP");
    tokio::spawn(serve(listener, Arc::clone(&state)));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(api) = deletes {
        let listener = tokio::net::TcpListener::bind(&grpc_addr)
            .await
            .with_context(|| format!("listening on {grpc_addr} (gRPC)"))?;
        tracing::info!(addr = %grpc_addr, "serving gRPC grpc.Compactor");
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let until = async move {
                let _ = stop.changed().await;
            };
            if let Err(e) = loki_compactor::deletes::grpc::serve(listener, api, until).await {
                tracing::error!(err = %e, "gRPC server failed");
            }
        });
    }
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!("received termination signal, finishing the current step");
        let _ = stop_tx.send(true);
    });
    // The lease keeper: renews at a third of the TTL; `allowed` gates every write.
    compactor.allowed().store(false, Ordering::SeqCst);
    let keeper = {
        let (c, l, s, h) = (
            Arc::clone(&compactor),
            lease.clone(),
            Arc::clone(&state),
            holder.clone(),
        );
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                // A renewal that hangs must not leave writes enabled past the expiry.
                let attempt =
                    tokio::time::timeout(Duration::from_millis((ttl_ms / 3) as u64), l.acquire())
                        .await
                        .unwrap_or_else(|_| {
                            Err(loki_compactor::CompactorError::Lease(
                                "lease renewal timed out".into(),
                            ))
                        });
                match attempt {
                    Ok(st) => {
                        let was = c.allowed().load(Ordering::SeqCst);
                        let held = matches!(st, LeaseState::Held { .. });
                        if held && !was {
                            tracing::info!("this instance has been chosen to run the compactor, starting compactor");
                        } else if !held && was {
                            tracing::warn!(
                                "compactor lease taken by another instance; compactor stopped"
                            );
                        }
                        set_lease(&s, &c, &st, &h);
                    }
                    Err(e) => {
                        tracing::warn!(err = %e, "lease renewal failed; pausing writes");
                        c.allowed().store(false, Ordering::SeqCst);
                        c.metrics().set(names::RUNNING, &[], 0.0);
                        c.metrics().set(names::RUNNING_SHORT, &[], 0.0);
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis((ttl_ms / 3) as u64)) => {}
                    _ = stop.changed() => return,
                }
            }
        })
    };
    *state.phase.lock().unwrap_or_else(|e| e.into_inner()) = Phase::Running;
    let c2 = Arc::clone(&compactor);
    compactor
        .run_loop(stop_rx, move || c2.allowed().load(Ordering::SeqCst))
        .await;
    *state.phase.lock().unwrap_or_else(|e| e.into_inner()) = Phase::Stopping;
    let _ = keeper.await;
    compactor.allowed().store(false, Ordering::SeqCst);
    if let Err(e) = lease.release().await {
        tracing::warn!(err = %e, "could not release the lease");
    }
    compactor.metrics().set(names::RUNNING, &[], 0.0);
    tracing::info!("compactor exiting");
    Ok(())
}

/// `--once` stopped by a signal (its number).
#[derive(Debug)]
struct Interrupted(u8);

impl Interrupted {
    fn name(&self) -> &'static str {
        if self.0 == SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        }
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by {}", self.name())
    }
}

impl std::error::Error for Interrupted {}

const SIGINT: u8 = 2;
const SIGTERM: u8 = 15;

async fn run_once(
    cli: &Cli,
    c: &Arc<Compactor>,
    lease: &Lease,
    state: &HttpState,
    mut signals: Signals,
) -> Result<()> {
    // On a signal: no new write starts (the flag every write checks), a paused test step
    // resumes, and a second signal exits at once (safe: every step survives a kill).
    let (sig_tx, sig_rx) = tokio::sync::watch::channel(None::<u8>);
    {
        let c = Arc::clone(c);
        tokio::spawn(async move {
            let sig = signals.recv().await;
            tracing::warn!(
                signal = Interrupted(sig).name(),
                "received termination signal: starting no new writes, finishing or abandoning the current step, then releasing the lease"
            );
            // Published before the flag is cleared: whoever sets the flag afterwards (the
            // lease wait) checks for the signal next.
            let _ = sig_tx.send(Some(sig));
            c.allowed().store(false, Ordering::SeqCst);
            loki_compactor::crash::release_pauses();
            let again = signals.recv().await;
            eprintln!("loki-compactor: second termination signal, exiting immediately");
            std::process::exit(128 + i32::from(again));
        });
    }
    let signalled = || *sig_rx.borrow();
    // A dry run writes nothing, so it needs no lease.
    if !cli.dry_run {
        let waited = wait_for_lease(cli, c, lease, state, sig_rx.clone()).await;
        if let Some(sig) = signalled() {
            // An acquire cut short may still have created our epoch.
            release(lease).await;
            return Err(Interrupted(sig).into());
        }
        waited?;
    }
    // Renew while the cycle runs.
    let renew = {
        let (l, c2) = (lease.clone(), Arc::clone(c));
        let every = Duration::from_secs((cli.lease_ttl.max(3)) / 3);
        let dry = cli.dry_run;
        tokio::spawn(async move {
            if dry {
                return;
            }
            loop {
                tokio::time::sleep(every).await;
                // A renewal that hangs counts as lost: writes must stop before the expiry.
                match tokio::time::timeout(every, l.acquire()).await {
                    Ok(Ok(LeaseState::Held { .. })) => {}
                    other => {
                        tracing::error!(state = ?other, "lost the compactor lease; abandoning writes");
                        c2.allowed().store(false, Ordering::SeqCst);
                    }
                }
            }
        })
    };
    let r = c.run_once().await;
    renew.abort();
    if !cli.dry_run {
        release(lease).await;
    }
    if let (Err(e), Some(sig)) = (&r, signalled()) {
        tracing::warn!(err = %e, "cycle abandoned; the next run resumes it");
        return Err(Interrupted(sig).into());
    }
    let report = r.context("compaction cycle failed")?;
    let tables = report.pass.tables.len();
    let uploaded: usize = report
        .pass
        .tables
        .iter()
        .map(|(_, t)| t.uploaded.len())
        .sum();
    let deleted: usize = report
        .pass
        .tables
        .iter()
        .map(|(_, t)| t.deleted.len())
        .sum();
    let swept: u64 = report.sweeps.iter().map(|s| s.chunks_deleted).sum();
    if cli.dry_run {
        let plan: Vec<serde_json::Value> = report
            .pass
            .tables
            .iter()
            .map(|(name, t)| serde_json::json!({"table": name, "would_upload": t.uploaded.len(), "would_delete": t.deleted.len()}))
            .collect();
        let out = serde_json::json!({
            "dry_run": true,
            "tables": plan,
            "retention": report.pass.dry_run,
            "markers_due": report.sweeps.iter().map(|s| s.eligible).sum::<u64>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    tracing::info!(
        tables,
        uploaded,
        deleted,
        chunks_swept = swept,
        "single compaction finished"
    );
    Ok(())
}

/// Takes the lease for `--once`, waiting up to `-lease.wait-seconds` for another holder;
/// returns early (Ok) when a signal arrives, which the caller checks.
async fn wait_for_lease(
    cli: &Cli,
    c: &Arc<Compactor>,
    lease: &Lease,
    state: &HttpState,
    mut sig: tokio::sync::watch::Receiver<Option<u8>>,
) -> Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(cli.lease_wait);
    loop {
        let st = tokio::select! {
            st = lease.acquire() => st.context("taking the compactor lease")?,
            _ = sig.wait_for(Option::is_some) => return Ok(()),
        };
        set_lease(state, c, &st, lease.holder());
        match st {
            LeaseState::Held { .. } => return Ok(()),
            LeaseState::Waiting(r) => {
                if std::time::Instant::now() >= deadline {
                    bail!(
                        "compactor lease held by {} (until {} ms); gave up waiting",
                        r.holder,
                        r.expires_ms
                    );
                }
                tracing::info!(holder = %r.holder, expires_ms = r.expires_ms, "waiting for the compactor lease");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = sig.wait_for(Option::is_some) => return Ok(()),
                }
            }
        }
    }
}

async fn release(lease: &Lease) {
    match lease.release().await {
        Ok(()) => tracing::info!("compactor lease released"),
        Err(e) => tracing::warn!(err = %e, "could not release the lease"),
    }
}

/// `-compactor.no-compact.list` / `-compactor.no-compact.remove=<table>`.
async fn no_compact_admin(cli: &Cli, c: &Compactor) -> Result<()> {
    if let Some(table) = &cli.no_compact_remove {
        let removed = c.remove_no_compact(table).await?;
        if removed.is_empty() {
            bail!("table {table} has no no-compact marker");
        }
        println!("{}", serde_json::json!({ "removed": removed }));
        return Ok(());
    }
    let list: Vec<serde_json::Value> = c
        .no_compact_markers()
        .await?
        .into_iter()
        .map(|m| serde_json::json!({"table": m.table, "key": m.key, "bucket": m.bucket, "reason": m.reason}))
        .collect();
    println!("{}", serde_json::to_string_pretty(&list)?);
    Ok(())
}

fn lease_bucket_for_deletes(c: &Compactor) -> Result<Bucket> {
    c.periods()
        .periods
        .last()
        .map(|p| p.bucket.clone())
        .context("no TSDB period")
}

/// SIGTERM and SIGINT, registered when created (a signal that arrives before the first
/// `recv` is not lost).
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Waits for the next signal; returns its number.
    async fn recv(&mut self) -> u8 {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = next(&mut self.term) => SIGTERM,
                _ = next(&mut self.int) => SIGINT,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            SIGINT
        }
    }
}
