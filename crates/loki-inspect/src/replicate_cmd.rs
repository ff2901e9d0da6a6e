//! `loki-inspect replicate`: copy chunks and index between buckets (the work is in
//! `loki_maint::replicate`).
use std::process::ExitCode;

use anyhow::{bail, Result};
use loki_bucket::BucketOptions;
use loki_config::{LoadOptions, LokiConfig};
use loki_logql::parse_time_ns;
use loki_maint::replicate::{replicate, Destination, ReplicateOptions, ReplicateReport};
use loki_maint::target::Target;

use crate::verify_cmd::{runtime, Bar};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Copies chunk objects (key time range overlapping [--from, --to)) and the index files of the \
tables whose day overlaps it; with --tenant, only that tenant's chunks and per-tenant index, \
and its slice of not-yet-compacted ingester uploads written as a per-tenant file. Chunks are \
copied first, index files only when every chunk is there. Objects already in the destination \
with the same size are skipped, so an interrupted run resumes when run again. Not copied: \
delete requests, retention markers, compactor lease/no-compact objects. Nothing is deleted \
in the destination. Server-side copies are used when both sides are the same object store \
(e.g. one S3 bucket, two prefixes); otherwise objects are streamed GET→PUT. Exit 1 if any \
object failed.")]
pub struct ReplicateArgs {
    /// Source: Loki's config file (every TSDB period's bucket).
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<String>,
    /// Source: a store URL instead of a config (s3://bucket/prefix, gs://…, az://…,
    /// file:///dir or a directory; tables under index/, schema v13).
    #[arg(long, value_name = "URL")]
    pub from_store: Option<String>,
    /// S3 endpoint of --from-store (S3-compatible servers).
    #[arg(long, value_name = "URL")]
    pub from_endpoint: Option<String>,
    /// Destination store URL (credentials from the environment).
    #[arg(long, value_name = "URL")]
    pub to_store: String,
    /// S3 endpoint of --to-store.
    #[arg(long, value_name = "URL")]
    pub to_endpoint: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Start of the time range (RFC 3339, unix seconds or nanoseconds); default: everything.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the time range (exclusive; same formats); default: everything.
    #[arg(long)]
    pub to: Option<String>,
    /// List and compare only: report what would be copied.
    #[arg(long)]
    pub dry_run: bool,
    /// Objects copied concurrently.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

fn ms(s: &Option<String>, round_up: bool) -> Result<Option<i64>> {
    s.as_deref()
        .map(|v| {
            let ns = parse_time_ns(v).map_err(|e| anyhow::anyhow!(e))?;
            Ok(if round_up {
                ns.div_euclid(1_000_000) + i64::from(ns.rem_euclid(1_000_000) != 0)
            } else {
                ns.div_euclid(1_000_000)
            })
        })
        .transpose()
}

pub fn run(a: ReplicateArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    let opts = BucketOptions {
        max_concurrency: a.concurrency.max(1) + 2,
        ..Default::default()
    };
    let source = match (&a.from_store, &a.config_file) {
        (Some(_), Some(_)) => bail!("give either --from-store or --config.file, not both"),
        (None, None) => bail!("give --config.file FILE (Loki's config) or --from-store URL"),
        (Some(url), None) => rt.block_on(Target::from_url(
            url,
            a.from_endpoint.as_deref(),
            opts.clone(),
            Vec::new(),
        ))?,
        (None, Some(file)) => {
            let cfg = LokiConfig::load(&LoadOptions {
                config_file: file.clone(),
                expand_env: false,
            })?;
            Target::from_config(&cfg, &opts)?
        }
    };
    let dest = Destination::from_url(&a.to_store, a.to_endpoint.as_deref(), opts)?;
    let ropts = ReplicateOptions {
        tenant: a.tenant.clone(),
        from_ms: ms(&a.from, false)?,
        to_ms: ms(&a.to, true)?,
        dry_run: a.dry_run,
        concurrency: a.concurrency.max(1),
    };
    let bar = Bar::new(!a.quiet);
    let report = rt.block_on(replicate(&source, &dest, &ropts, &bar));
    bar.done();
    let report = report?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.failed_count == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(r: &ReplicateReport) {
    let verb = if r.dry_run { "would copy" } else { "copied" };
    let how = if r.server_side_copy {
        " (server-side)"
    } else {
        ""
    };
    for (what, c) in [
        ("chunks", &r.chunks),
        ("index files", &r.index_files),
        ("tenant slices of ingester uploads", &r.tenant_slices),
    ] {
        println!(
            "{what}: {} selected, {verb} {} ({} bytes){how}, {} already there",
            c.selected, c.copied, c.bytes_copied, c.skipped_existing
        );
    }
    if r.not_copied > 0 {
        println!(
            "not copied (not chunks or index files): {} (e.g. {})",
            r.not_copied,
            r.not_copied_examples.join(", ")
        );
    }
    if r.index_skipped {
        println!("index files not copied: some chunks failed (run again to resume)");
    }
    for f in &r.failed {
        eprintln!("failed: {}: {}", f.key, f.error);
    }
    if r.failed_count > 0 {
        eprintln!(
            "{} objects failed; run the same command again to resume",
            r.failed_count
        );
    }
}
