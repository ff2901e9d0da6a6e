//! `loki-inspect labels` and `loki-inspect series`: what Loki's `/labels`,
//! `/label/<name>/values` and `/series` endpoints return, from the bucket's index.
use std::process::ExitCode;

use anyhow::Result;
use loki_logql::{parse_log, parse_time_ns};
use serde_json::{json, Map, Value};

use crate::store_read::{StoreArgs, StoreReader};

#[derive(clap::Args, Debug)]
pub struct LabelsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Tenant (org id).
    #[arg(long, default_value = "fake")]
    pub tenant: String,
    /// Start: RFC 3339, unix seconds or unix nanoseconds.
    #[arg(long)]
    pub from: String,
    /// End; same formats.
    #[arg(long)]
    pub to: String,
    /// The values of this label instead of the label names.
    #[arg(long, value_name = "NAME")]
    pub values: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct SeriesArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Tenant (org id).
    #[arg(long, default_value = "fake")]
    pub tenant: String,
    /// Start: RFC 3339, unix seconds or unix nanoseconds.
    #[arg(long)]
    pub from: String,
    /// End; same formats.
    #[arg(long)]
    pub to: String,
    /// Stream selector (Loki's `match[]`).
    pub selector: String,
}

fn time(s: &str) -> Result<i64> {
    parse_time_ns(s).map_err(|e| anyhow::anyhow!(e))
}

/// Runs `labels`: `{"status":"success","data":[…]}`.
pub fn run_labels(a: LabelsArgs) -> Result<ExitCode> {
    let mut reader = StoreReader::open(&a.store, &a.tenant)?;
    let data = reader.label_names_or_values(a.values.as_deref(), time(&a.from)?, time(&a.to)?)?;
    println!("{}", json!({"status": "success", "data": data}));
    Ok(ExitCode::SUCCESS)
}

/// Runs `series`: `{"status":"success","data":[{labels}…]}`.
pub fn run_series(a: SeriesArgs) -> Result<ExitCode> {
    let log = parse_log(&a.selector).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut reader = StoreReader::open(&a.store, &a.tenant)?;
    let data: Vec<Value> = reader
        .select(&log.matchers, time(&a.from)?, time(&a.to)?)?
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
