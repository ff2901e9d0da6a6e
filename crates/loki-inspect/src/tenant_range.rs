//! `--tenant`, `--from`, `--to`: the tenant and time range shared by the subcommands that
//! read the index for a selector (stats, chunks-for, labels, series, export).
use anyhow::{anyhow, Result};
use loki_logql::parse_time_ns;

#[derive(clap::Args, Debug)]
pub struct TenantRange {
    /// Tenant (org id).
    #[arg(long, default_value = "fake")]
    pub tenant: String,
    /// Start (inclusive): RFC 3339, unix seconds or unix nanoseconds.
    #[arg(long)]
    pub from: String,
    /// End (exclusive); same formats.
    #[arg(long)]
    pub to: String,
}

impl TenantRange {
    /// The range in unix nanoseconds; an unparseable time names its flag.
    pub fn nanos(&self) -> Result<(i64, i64)> {
        let from = parse_time_ns(&self.from).map_err(|e| anyhow!("--from: {e}"))?;
        let to = parse_time_ns(&self.to).map_err(|e| anyhow!("--to: {e}"))?;
        Ok((from, to))
    }
}
