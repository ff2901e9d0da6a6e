//! `loki-inspect deletes audit`: the compactor's audit log of delete processing (every chunk
//! removed, rewritten or skipped, with request ids, tenant, time and lines removed), read
//! from every bucket of the store. Format: `formats/delete-audit.md`.
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use loki_bucket::{Bucket, BucketOptions};
use loki_compactor::purge::audit::{self, AuditAction, AuditRecord};
use loki_config::{LoadOptions, LokiConfig};

use crate::store_read::StoreArgs;

/// `deletes` subcommands.
#[derive(clap::Args, Debug)]
pub struct DeletesArgs {
    #[command(subcommand)]
    pub command: DeletesCommand,
}

/// What to show about delete requests.
#[derive(clap::Subcommand, Debug)]
pub enum DeletesCommand {
    /// The audit log of processed delete (and redact) requests, oldest first.
    Audit(AuditArgs),
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only this tenant's records.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only records of this request id.
    #[arg(long)]
    pub request: Option<String>,
    /// One JSON record per line (the stored form) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `deletes …`.
pub fn run(a: DeletesArgs) -> Result<ExitCode> {
    match a.command {
        DeletesCommand::Audit(a) => run_audit(a),
    }
}

/// The distinct buckets of the store.
fn buckets(s: &StoreArgs) -> Result<Vec<Bucket>> {
    let opts = BucketOptions {
        max_concurrency: s.concurrency.max(1),
        ..Default::default()
    };
    match (&s.store, &s.config_file) {
        (Some(_), Some(_)) => bail!("give either --store or --config.file, not both"),
        (None, None) => bail!("give --config.file FILE (Loki's config) or --store URL"),
        (Some(url), None) => Ok(vec![Bucket::from_url(url, s.endpoint.as_deref(), opts)?]),
        (None, Some(file)) => {
            let cfg = LokiConfig::load(&LoadOptions {
                config_file: file.clone(),
                expand_env: false,
            })
            .with_context(|| format!("loading {file}"))?;
            let periods = loki_compactor::periods::Periods::from_config(&cfg, &opts)?;
            Ok(periods.distinct_buckets().cloned().collect())
        }
    }
}

fn run_audit(a: AuditArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut records: Vec<AuditRecord> = Vec::new();
    for b in buckets(&a.store)? {
        let r = rt
            .block_on(audit::read(&b, a.tenant.as_deref()))
            .with_context(|| format!("reading the audit log in {}", b.name()))?;
        records.extend(r);
    }
    if let Some(id) = &a.request {
        records.retain(|r| r.request_ids.iter().any(|x| x == id));
    }
    records.sort_by(|x, y| (x.time_ms, &x.tenant, &x.table).cmp(&(y.time_ms, &y.tenant, &y.table)));
    if a.json {
        for r in &records {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!("TIME                      TENANT  TABLE  ACTION  REQUESTS  LINES_REMOVED  LINES_REDACTED  CHUNK  NEW_CHUNK");
    for r in &records {
        let action = match r.action {
            AuditAction::Deleted => "deleted",
            AuditAction::Rewritten => "rewritten",
            AuditAction::Skipped => "skipped",
        };
        let mut line = format!(
            "{}  {}  {}  {}  {}  {}  {}  {}  {}",
            loki_logql::format_rfc3339_nanos(r.time_ms.saturating_mul(1_000_000)),
            r.tenant,
            r.table,
            action,
            if r.request_ids.is_empty() {
                "-".to_owned()
            } else {
                r.request_ids.join(",")
            },
            r.lines_removed,
            r.lines_redacted,
            r.chunk,
            r.new_chunk.as_deref().unwrap_or("-"),
        );
        if let Some(why) = &r.reason {
            line.push_str(&format!("  ({why})"));
        }
        println!("{line}");
    }
    let removed: u64 = records.iter().map(|r| r.lines_removed).sum();
    eprintln!("{} records, {removed} lines removed", records.len());
    Ok(ExitCode::SUCCESS)
}
