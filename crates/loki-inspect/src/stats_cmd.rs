//! `loki-inspect stats`: what Loki's `/loki/api/v1/index/stats` returns for a selector and
//! time range, computed from the bucket's index alone (no chunk is read).
use std::process::ExitCode;

use anyhow::Result;
use loki_logql::parse_log;

use crate::store_read::{StoreArgs, StoreReader};

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub range: crate::tenant_range::TenantRange,
    /// Print Loki's JSON body `{"streams":…,"chunks":…,"bytes":…,"entries":…}`.
    #[arg(long)]
    pub json: bool,
    /// Stream selector, e.g. '{app="api"}' (Loki's `query` parameter).
    pub selector: String,
}

/// Runs `stats`.
pub fn run(a: StatsArgs) -> Result<ExitCode> {
    let log = parse_log(&a.selector).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !log.stages.is_empty() {
        anyhow::bail!("stats takes a stream selector only, e.g. '{{app=\"api\"}}'");
    }
    let (from, to) = a.range.nanos()?;
    if to <= from {
        anyhow::bail!("--to must be after --from");
    }
    let mut reader = StoreReader::open(&a.store, &a.range.tenant)?;
    let st = reader.index_stats(&log.matchers, from, to)?;
    if a.json {
        println!("{}", serde_json::to_string(&st)?);
    } else {
        println!("streams  {}", st.streams);
        println!("chunks   {}", st.chunks);
        println!(
            "bytes    {} ({:.1} MiB)",
            st.bytes,
            st.bytes as f64 / (1024.0 * 1024.0)
        );
        println!("entries  {}", st.entries);
    }
    Ok(ExitCode::SUCCESS)
}
