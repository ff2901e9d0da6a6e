//! `loki-inspect repair --dry-run|--apply`: verifies, then fixes what it safely can, with
//! everything it removes copied under `quarantine/<run>/` first. The work is in
//! `loki_maint::repair`.
use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use loki_maint::repair::{repair, Action, RepairOptions, RepairReport};

use crate::verify_cmd::{open_target, print_report, runtime, verify_options, Bar, CheckArgs};

/// `repair` arguments.
#[derive(clap::Args, Debug)]
pub struct RepairArgs {
    #[command(flatten)]
    pub check: CheckArgs,
    /// Plan only: read everything, print what would change, write nothing.
    #[arg(long, conflicts_with = "apply")]
    pub dry_run: bool,
    /// Make the changes.
    #[arg(long)]
    pub apply: bool,
    /// Repair even while a loki-compactor holds its lease on the bucket.
    #[arg(long)]
    pub ignore_lease: bool,
    /// The report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

fn print_actions(out: &mut dyn Write, r: &RepairReport) -> Result<()> {
    let verb = if r.applied { "done" } else { "would do" };
    writeln!(out, "repair ({verb}), quarantine {}:", r.quarantine)?;
    if r.actions.is_empty() {
        writeln!(out, "  nothing to change")?;
    }
    for a in &r.actions {
        let line = match a {
            Action::RewriteIndex {
                old,
                new: Some(new),
                dropped_refs,
            } => format!("rewrite index {old} -> {new} ({dropped_refs} dangling ref(s) dropped)"),
            Action::RewriteIndex {
                old, dropped_refs, ..
            } => format!("remove index {old} (all {dropped_refs} ref(s) dangling)"),
            Action::ReindexChunks {
                corrupt,
                new,
                chunks,
            } => format!(
                "index {chunks} unreferenced chunk(s) in {new} (replacing corrupt {corrupt})"
            ),
            Action::Quarantine { key, copy, reason } => {
                format!("quarantine {key} -> {copy} ({reason})")
            }
            Action::RewriteMarker {
                marker,
                removed,
                kept,
                ..
            } => {
                format!("rewrite marker {marker}: {removed} indexed chunk(s) removed, {kept} kept")
            }
        };
        writeln!(out, "  {line}")?;
    }
    for s in &r.skipped {
        writeln!(out, "  not repaired: {}: {}", s.subject, s.reason)?;
    }
    for k in &r.report_keys {
        writeln!(out, "report written to {k}")?;
    }
    Ok(())
}

/// Runs `repair`. Exit 0 when the store was clean or everything found was repaired (or,
/// in a dry run, would be); 1 when something is left.
pub fn run(a: RepairArgs) -> Result<ExitCode> {
    run_to(&a, &mut std::io::stdout().lock())
}

fn run_to(a: &RepairArgs, out: &mut dyn Write) -> Result<ExitCode> {
    if a.dry_run == a.apply {
        bail!("give exactly one of --dry-run (plan) or --apply (make the changes)");
    }
    let rt = runtime()?;
    let target = open_target(&a.check, &rt)?;
    let opts = RepairOptions {
        apply: a.apply,
        verify: verify_options(&a.check),
        ignore_lease: a.ignore_lease,
    };
    let bar = Bar::new(!a.json);
    let report = repair(&target, &opts, rt.handle(), &bar);
    bar.done();
    let report = report?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        print_report(out, &report.found)?;
        print_actions(out, &report)?;
    }
    Ok(if report.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
