//! `loki-inspect labels` and `loki-inspect series`: what Loki's `/labels`,
//! `/label/<name>/values` and `/series` endpoints return, from the bucket's index.
use std::process::ExitCode;

use anyhow::Result;
use loki_logql::parse_log;
use serde_json::{json, Map, Value};

use crate::store_read::{StoreArgs, StoreReader};

#[derive(clap::Args, Debug)]
pub struct LabelsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub range: crate::tenant_range::TenantRange,
    /// The values of this label instead of the label names.
    #[arg(long, value_name = "NAME")]
    pub values: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct SeriesArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub range: crate::tenant_range::TenantRange,
    /// Stream selector (Loki's `match[]`).
    pub selector: String,
}

/// Runs `labels`: `{"status":"success","data":[…]}`.
pub fn run_labels(a: LabelsArgs) -> Result<ExitCode> {
    let (from, to) = a.range.nanos()?;
    let mut reader = StoreReader::open(&a.store, &a.range.tenant)?;
    let data = reader.label_names_or_values(a.values.as_deref(), from, to)?;
    println!("{}", json!({"status": "success", "data": data}));
    Ok(ExitCode::SUCCESS)
}

/// Runs `series`: `{"status":"success","data":[{labels}…]}`.
pub fn run_series(a: SeriesArgs) -> Result<ExitCode> {
    let log = parse_log(&a.selector).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (from, to) = a.range.nanos()?;
    let mut reader = StoreReader::open(&a.store, &a.range.tenant)?;
    let data: Vec<Value> = reader
        .select(&log.matchers, from, to)?
        .into_iter()
        .map(|s| {
            Value::Object(
                s.labels
                    .into_iter()
                    .map(|(n, v)| (n, Value::String(v)))
                    .collect::<Map<_, _>>(),
            )
        })
        .collect();
    println!("{}", json!({"status": "success", "data": data}));
    Ok(ExitCode::SUCCESS)
}
