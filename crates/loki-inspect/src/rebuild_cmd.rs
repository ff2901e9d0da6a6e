//! `loki-inspect rebuild-index`: write a tenant's per-tenant TSDB index of one table from
//! the chunk objects in the bucket (the work is in `loki_maint::rebuild`).
use std::process::ExitCode;

use anyhow::{bail, Result};
use loki_bucket::BucketOptions;
use loki_config::{LoadOptions, LokiConfig};
use loki_maint::rebuild::{rebuild_index, RebuildOptions};
use loki_maint::target::Target;

use crate::store_read::StoreArgs;
use crate::verify_cmd::{runtime, Bar};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Scans the tenant's chunk objects whose time range touches the table's day, reads labels and \
fingerprint from each object's header and Loki's stats (entries, KB) from its block metas, \
and uploads <index prefix><table>/<tenant>/<nanos>-compactor-<from>-<through>-<crc>.tsdb.gz, \
the file Loki's compactor would have written. An existing per-tenant index of the table is \
never overwritten without --replace; with it, the new file is uploaded first and then the \
old files (those listed before) are deleted. Ingester uploads of the table are left alone.")]
pub struct RebuildArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Tenant (org id) whose index is rebuilt.
    #[arg(long)]
    pub tenant: String,
    /// Table, e.g. index_20775 (period prefix + day number).
    #[arg(long)]
    pub table: String,
    /// Replace the tenant's existing index of the table (upload new, then delete old).
    #[arg(long)]
    pub replace: bool,
    /// Scan and build, print what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The periods of `--config.file` or `--store`.
pub fn open_store(a: &StoreArgs, rt: &tokio::runtime::Runtime) -> Result<Target> {
    let opts = BucketOptions {
        max_concurrency: a.concurrency.max(1),
        ..Default::default()
    };
    match (&a.store, &a.config_file) {
        (Some(_), Some(_)) => bail!("give either --store or --config.file, not both"),
        (None, None) => bail!("give --config.file FILE (Loki's config) or --store URL"),
        (Some(url), None) => Ok(rt.block_on(Target::from_url(
            url,
            a.endpoint.as_deref(),
            opts,
            Vec::new(),
        ))?),
        (None, Some(file)) => {
            let cfg = LokiConfig::load(&LoadOptions {
                config_file: file.clone(),
                expand_env: false,
            })?;
            Ok(Target::from_config(&cfg, &opts)?)
        }
    }
}

pub fn run(a: RebuildArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    let target = open_store(&a.store, &rt)?;
    let bar = Bar::new(!a.quiet);
    let opts = RebuildOptions {
        tenant: a.tenant.clone(),
        table: a.table.clone(),
        replace: a.replace,
        dry_run: a.dry_run,
        concurrency: a.store.concurrency.max(1),
        created_ns: None,
    };
    let report = rt.block_on(rebuild_index(&target, &opts, &bar));
    bar.done();
    let report = report?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if report.dry_run {
        "would write"
    } else {
        "wrote"
    };
    match &report.uploaded {
        Some(k) => println!(
            "{verb} {k}: {} series, {} chunks, {} entries, {} bytes (format V{}; scanned {} objects, read {} bytes)",
            report.series,
            report.chunks,
            report.entries,
            report.index_bytes,
            report.format_version,
            report.objects_listed,
            report.bytes_read
        ),
        None => println!(
            "no chunk of tenant {} touches {}: nothing written ({} objects scanned)",
            report.tenant, report.table, report.objects_listed
        ),
    }
    for k in &report.deleted {
        println!("deleted {k}");
    }
    if report.dry_run && !report.existing.is_empty() {
        println!(
            "existing index (needs --replace): {}",
            report.existing.join(", ")
        );
    }
    if report.not_chunks > 0 {
        eprintln!(
            "warning: {} keys under {}/ are not chunk objects and were not indexed (e.g. {})",
            report.not_chunks,
            report.tenant,
            report.not_chunks_examples.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
