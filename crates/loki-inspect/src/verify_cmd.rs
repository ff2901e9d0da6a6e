//! `loki-inspect verify`: checks a whole store (index files, chunk refs, orphan chunks,
//! stranded markers) and exits 1 when anything is wrong. The work is in `loki_maint`.
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use loki_bucket::BucketOptions;
use loki_config::{LoadOptions, LokiConfig};
use loki_maint::report::VerifyReport;
use loki_maint::target::Target;
use loki_maint::verify::{verify, Progress, VerifyOptions};

use crate::store_read::StoreArgs;

/// What to check (shared with `repair`, which verifies first).
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only this tenant: its per-tenant index files, its series in multi-tenant uploads,
    /// its chunk objects and marker entries.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this table (e.g. index_20776); orphan chunks are then not checked.
    #[arg(long)]
    pub table: Option<String>,
    /// HEAD every referenced chunk (exists, non-empty) instead of GET + checksum +
    /// metadata + decode.
    #[arg(long)]
    pub quick: bool,
    /// Unindexed chunk objects younger than this are not orphans (ingesters flush chunks
    /// before uploading the index that references them).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub orphan_min_age: Duration,
    /// Markers older than retention_delete_delay plus this are reported as overdue.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub marker_grace: Duration,
    /// Local marker directory to check too (Loki's default marker location,
    /// <working_directory>/retention/<store>_<from>/markers; with --config.file these are
    /// found from the config).
    #[arg(long = "markers-dir", value_name = "DIR")]
    pub markers_dirs: Vec<PathBuf>,
}

/// `verify` arguments.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub check: CheckArgs,
    /// The report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The store(s) of `--config.file` or `--store`.
pub fn open_target(a: &CheckArgs, rt: &tokio::runtime::Runtime) -> Result<Target> {
    let opts = BucketOptions {
        max_concurrency: a.store.concurrency.max(1),
        ..Default::default()
    };
    match (&a.store.store, &a.store.config_file) {
        (Some(_), Some(_)) => bail!("give either --store or --config.file, not both"),
        (None, None) => bail!("give --config.file FILE (Loki's config) or --store URL"),
        (Some(url), None) => Ok(rt.block_on(Target::from_url(
            url,
            a.store.endpoint.as_deref(),
            opts,
            a.markers_dirs.clone(),
        ))?),
        (None, Some(file)) => {
            let cfg = LokiConfig::load(&LoadOptions {
                config_file: file.clone(),
                expand_env: false,
            })?;
            let mut t = Target::from_config(&cfg, &opts)?;
            for b in &mut t.buckets {
                b.markers.read_dirs.extend(a.markers_dirs.iter().cloned());
            }
            Ok(t)
        }
    }
}

pub fn verify_options(a: &CheckArgs) -> VerifyOptions {
    VerifyOptions {
        tenant: a.tenant.clone(),
        table: a.table.clone(),
        quick: a.quick,
        orphan_min_age: a.orphan_min_age,
        marker_grace: a.marker_grace,
        concurrency: a.store.concurrency.max(1),
        ..Default::default()
    }
}

/// A spinner on stderr for people at a terminal; hidden otherwise.
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new(visible: bool) -> Bar {
        if !visible || !std::io::stderr().is_terminal() {
            return Bar(ProgressBar::hidden());
        }
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg}: {pos} [{elapsed_precise}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        Bar(pb)
    }

    pub fn done(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.0.set_position(0);
        self.0.set_length(total.unwrap_or(0));
        self.0.set_message(name.to_owned());
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
}

/// Prints a report for people.
pub fn print_report(out: &mut dyn Write, r: &VerifyReport) -> Result<()> {
    let s = &r.summary;
    writeln!(
        out,
        "tables: {}  index files: {} ({} bytes)  series: {}  chunk refs: {}",
        s.tables, s.index_files, s.index_bytes, s.series, s.chunk_refs
    )?;
    writeln!(
        out,
        "chunks checked: {} ({} bytes)  listed: {}  marked for deletion: {}  too new to judge: {}  markers: {}",
        s.chunks_checked, s.chunk_bytes, s.chunks_listed, s.chunks_marked, s.chunks_too_new, s.markers
    )?;
    for k in &r.skipped {
        writeln!(out, "not checked: {k}")?;
    }
    if r.findings.is_empty() {
        writeln!(out, "OK: no problems found")?;
        return Ok(());
    }
    writeln!(
        out,
        "PROBLEMS: {} ({} bytes affected)",
        r.findings.len(),
        s.bad_bytes
    )?;
    for (k, n) in &s.findings {
        writeln!(out, "  {k}: {n}")?;
    }
    for f in &r.findings {
        writeln!(out, "{}", f.describe())?;
    }
    Ok(())
}

/// Runs `verify`.
pub fn run(a: VerifyArgs) -> Result<ExitCode> {
    run_to(&a, &mut std::io::stdout().lock())
}

fn run_to(a: &VerifyArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let rt = runtime()?;
    let target = open_target(&a.check, &rt)?;
    let bar = Bar::new(!a.json);
    let report = verify(&target, &verify_options(&a.check), rt.handle(), &bar);
    bar.done();
    let report = report?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        print_report(out, &report)?;
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
