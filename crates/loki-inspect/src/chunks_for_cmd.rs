//! `loki-inspect chunks-for`: the chunk objects a selector and time range need (what a
//! restore from backup must bring back).
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Result;
use loki_logql::parse_log;

use crate::store_read::{StoreArgs, StoreReader};

#[derive(clap::Args, Debug)]
pub struct ChunksForArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub range: crate::tenant_range::TenantRange,
    /// One JSON object per chunk (key, labels, from/through ms, checksum).
    #[arg(long)]
    pub json: bool,
    /// Stream selector, e.g. '{app="api"}'.
    pub selector: String,
}

/// Runs `chunks-for`: one object key per line (as stored in the bucket).
pub fn run(a: ChunksForArgs) -> Result<ExitCode> {
    let log = parse_log(&a.selector).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (from, to) = a.range.nanos()?;
    let mut reader = StoreReader::open(&a.store, &a.range.tenant)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for s in reader.select(&log.matchers, from, to)? {
        for (p, c) in &s.chunks {
            let key = reader.chunk_key(*p, c);
            let r = if a.json {
                let labels: serde_json::Map<String, serde_json::Value> = s
                    .labels
                    .iter()
                    .map(|(n, v)| (n.clone(), v.clone().into()))
                    .collect();
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"key": key, "labels": labels, "from_ms": c.from_ms,
                        "through_ms": c.through_ms, "checksum": format!("{:x}", c.checksum)})
                )
            } else {
                writeln!(out, "{key}")
            };
            if let Err(e) = r {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(e.into());
            }
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
