//! Which tables a pass works on: every table directory under each TSDB period's index
//! prefix that the schema maps back to that period, newest first.

use std::collections::BTreeMap;

use loki_config::SchemaConfig;

use crate::error::Result;
use crate::periods::Periods;

/// A table to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// Table name, e.g. `index_20782`.
    pub name: String,
    /// Day number (unix days).
    pub day: i64,
    /// Schema index of its period.
    pub period: usize,
}

/// Lists tables, newest first, after `skip_latest_n_tables` and `tables_to_compact`.
pub async fn list_tables(
    periods: &Periods,
    schema: &SchemaConfig,
    skip_latest: u32,
    limit: u32,
) -> Result<Vec<TableRef>> {
    let mut found: BTreeMap<String, TableRef> = BTreeMap::new();
    let mut seen = Vec::new();
    for p in &periods.periods {
        // Periods sharing a bucket and prefix are listed once.
        let k = (p.bucket.name().to_owned(), p.path_prefix.clone());
        if seen.contains(&k) {
            continue;
        }
        seen.push(k);
        let (dirs, _) = p.bucket.list_dir(&p.path_prefix).await?;
        for d in dirs {
            let name = d.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            if name.is_empty() || name == "delete_requests" {
                continue;
            }
            let Some((day, pc)) = schema.parse_table(name) else {
                tracing::debug!(
                    "table-name" = name,
                    "skipping directory that is no table of the schema"
                );
                continue;
            };
            let Some(idx) = schema.configs.iter().position(|c| std::ptr::eq(c, pc)) else {
                continue;
            };
            if periods.by_index(idx).is_none() {
                tracing::error!(
                    "table-name" = name,
                    "skipping compaction since we can't find schema for table"
                );
                continue;
            }
            found.insert(
                name.to_owned(),
                TableRef {
                    name: name.to_owned(),
                    day: day.0,
                    period: idx,
                },
            );
        }
    }
    let mut v: Vec<TableRef> = found.into_values().collect();
    v.sort_by(|a, b| b.day.cmp(&a.day).then_with(|| b.name.cmp(&a.name)));
    let mut v: Vec<TableRef> = v.into_iter().skip(skip_latest as usize).collect();
    if limit > 0 {
        v.truncate(limit as usize);
    }
    Ok(v)
}
