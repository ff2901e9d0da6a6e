//! Index file names, object keys and table names (spec section 15).

use crate::error::{IndexError, Result};

/// The name of an index file (without directories).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IndexFileName {
    /// An ingester upload: `<unixSeconds>-<uploader>.tsdb`, multi-tenant.
    MultiTenant {
        /// Start of the head period, Unix seconds.
        ts: i64,
        /// Uploader name (`<ingester id>-<unix nanos>`; may contain `-`).
        uploader: String,
    },
    /// A compactor output: `<unixNanos>-compactor-<from>-<through>-<crc hex>.tsdb`.
    Compacted {
        /// Creation time (Unix nanoseconds; seconds in old files).
        ts: i64,
        /// TOC From (ms).
        from: i64,
        /// TOC Through (ms).
        through: i64,
        /// TOC CRC-32C.
        checksum: u32,
    },
}

fn bad(name: &str, reason: &'static str) -> IndexError {
    IndexError::BadName {
        name: name.to_owned(),
        reason,
    }
}

fn decimal(s: &str) -> Option<i64> {
    // Go's strconv.ParseInt accepts a sign; Loki names never carry one.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl IndexFileName {
    /// Parses a file name, with or without a trailing `.gz`, trying the
    /// compacted form first like Loki does.
    pub fn parse(name: &str) -> Result<Self> {
        let base = name.strip_suffix(".gz").unwrap_or(name);
        let stem = base
            .strip_suffix(".tsdb")
            .ok_or_else(|| bad(name, "does not end in .tsdb or .tsdb.gz"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.len() == 5 && parts[1] == "compactor" {
            if let (Some(ts), Some(from), Some(through), Ok(checksum)) = (
                decimal(parts[0]),
                decimal(parts[2]),
                decimal(parts[3]),
                u32::from_str_radix(parts[4], 16),
            ) {
                if !parts[4].starts_with('+') {
                    return Ok(IndexFileName::Compacted {
                        ts,
                        from,
                        through,
                        checksum,
                    });
                }
            }
        }
        if parts.len() < 2 {
            return Err(bad(name, "expected <timestamp>-<uploader>.tsdb"));
        }
        let ts = decimal(parts[0])
            .ok_or_else(|| bad(name, "does not start with a decimal timestamp"))?;
        Ok(IndexFileName::MultiTenant {
            ts,
            uploader: parts[1..].join("-"),
        })
    }

    /// Name of a compacted file for a finished index.
    pub fn compacted(created_nanos: i64, summary: &crate::WriteSummary) -> Self {
        IndexFileName::Compacted {
            ts: created_nanos,
            from: summary.from,
            through: summary.through,
            checksum: summary.checksum,
        }
    }

    /// True for ingester uploads (which hold `__loki_tenant__`).
    pub fn is_multi_tenant(&self) -> bool {
        matches!(self, IndexFileName::MultiTenant { .. })
    }
}

impl std::fmt::Display for IndexFileName {
    /// The local file name (`….tsdb`, without `.gz`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexFileName::MultiTenant { ts, uploader } => write!(f, "{ts}-{uploader}.tsdb"),
            IndexFileName::Compacted {
                ts,
                from,
                through,
                checksum,
            } => write!(f, "{ts}-compactor-{from}-{through}-{checksum:x}.tsdb"),
        }
    }
}

/// A full object key of an index file: `<prefix><table>/[<tenant>/]<name>[.gz]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexObjectKey {
    /// Path prefix, e.g. `index/` (ends with `/` unless empty).
    pub prefix: String,
    /// Table name, e.g. `index_19737`.
    pub table: String,
    /// Tenant directory for per-tenant files; `None` for the common set.
    pub tenant: Option<String>,
    /// The file name.
    pub name: IndexFileName,
    /// Whether the object is gzip-compressed (`.gz`).
    pub gzip: bool,
}

impl IndexObjectKey {
    /// Key of an ingester upload.
    pub fn upload(prefix: &str, table: &str, name: IndexFileName) -> Self {
        IndexObjectKey {
            prefix: prefix.to_owned(),
            table: table.to_owned(),
            tenant: None,
            name,
            gzip: true,
        }
    }

    /// Key of a per-tenant (compacted) file.
    pub fn per_tenant(prefix: &str, table: &str, tenant: &str, name: IndexFileName) -> Self {
        IndexObjectKey {
            prefix: prefix.to_owned(),
            table: table.to_owned(),
            tenant: Some(tenant.to_owned()),
            name,
            gzip: true,
        }
    }

    /// Key of a new per-tenant file holding a finished index, named as Loki's compactor
    /// names its output (`<created nanos>-compactor-<from>-<through>-<crc hex>.tsdb.gz`).
    /// `created_nanos` must differ from every earlier file's: Loki never re-downloads a
    /// name it has seen.
    pub fn compacted(
        prefix: &str,
        table: &str,
        tenant: &str,
        created_nanos: i64,
        summary: &crate::WriteSummary,
    ) -> Self {
        Self::per_tenant(
            prefix,
            table,
            tenant,
            IndexFileName::compacted(created_nanos, summary),
        )
    }

    /// Parses a key under `prefix` (e.g. `"index/"`). Location decides the
    /// set: directly under the table → common, one level deeper → tenant.
    pub fn parse(prefix: &str, key: &str) -> Result<Self> {
        let rest = key
            .strip_prefix(prefix)
            .ok_or_else(|| bad(key, "key is not under the index path prefix"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let (table, tenant, file) = match parts.as_slice() {
            [t, f] => (*t, None, *f),
            [t, ten, f] => (*t, Some((*ten).to_owned()), *f),
            _ => {
                return Err(bad(
                    key,
                    "expected <table>/<file> or <table>/<tenant>/<file>",
                ))
            }
        };
        if table.is_empty() || tenant.as_deref() == Some("") {
            return Err(bad(key, "empty table or tenant"));
        }
        Ok(IndexObjectKey {
            prefix: prefix.to_owned(),
            table: table.to_owned(),
            tenant,
            name: IndexFileName::parse(file)?,
            gzip: file.ends_with(".gz"),
        })
    }
}

impl std::fmt::Display for IndexObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}/", self.prefix, self.table)?;
        if let Some(t) = &self.tenant {
            write!(f, "{t}/")?;
        }
        write!(f, "{}", self.name)?;
        if self.gzip {
            f.write_str(".gz")?;
        }
        Ok(())
    }
}

/// Table naming of one period: `<prefix><unix seconds / period seconds>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePeriod {
    /// Table prefix, e.g. `index_`.
    pub prefix: String,
    /// Period length in seconds (86400 for TSDB).
    pub period_secs: i64,
}

impl TablePeriod {
    /// Daily tables with the given prefix (the only period TSDB allows).
    pub fn daily(prefix: &str) -> Self {
        TablePeriod {
            prefix: prefix.to_owned(),
            period_secs: 86_400,
        }
    }

    /// Table number for a Unix time in seconds.
    pub fn table_number(&self, unix_secs: i64) -> i64 {
        unix_secs.div_euclid(self.period_secs.max(1))
    }

    /// Table name for a Unix time in seconds.
    pub fn table_for(&self, unix_secs: i64) -> String {
        format!("{}{}", self.prefix, self.table_number(unix_secs))
    }

    /// Table names covering `[from_ms, through_ms]` (both inclusive).
    pub fn tables_for_range(&self, from_ms: i64, through_ms: i64) -> Vec<String> {
        let p = self.period_secs.max(1) * 1000;
        (from_ms.div_euclid(p)..=through_ms.div_euclid(p))
            .map(|n| format!("{}{n}", self.prefix))
            .collect()
    }

    /// The table number of a table name of this period, if it is one.
    pub fn parse_table(&self, name: &str) -> Option<i64> {
        let n = decimal(name.strip_prefix(&self.prefix)?)?;
        (format!("{}{n}", self.prefix) == name).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_spec() {
        let m = IndexFileName::parse("1705312800-ingester-0-1705300000123456789.tsdb").unwrap();
        assert_eq!(
            m,
            IndexFileName::MultiTenant {
                ts: 1705312800,
                uploader: "ingester-0-1705300000123456789".into()
            }
        );
        let c = IndexFileName::parse(
            "1705400000123456789-compactor-1705276800000-1705363199999-1d6bc817.tsdb.gz",
        )
        .unwrap();
        assert_eq!(
            c.to_string(),
            "1705400000123456789-compactor-1705276800000-1705363199999-1d6bc817.tsdb"
        );
        // No zero padding of the checksum.
        let c = IndexFileName::Compacted {
            ts: 1,
            from: 2,
            through: 3,
            checksum: 0x0113_7870,
        };
        assert_eq!(c.to_string(), "1-compactor-2-3-1137870.tsdb");
        assert!(IndexFileName::parse("garbage.tsdb").is_err());
        assert!(IndexFileName::parse("1-x.txt").is_err());
    }

    #[test]
    fn keys_and_tables() {
        let p = TablePeriod::daily("index_");
        assert_eq!(p.table_for(1_705_294_800), "index_19737");
        assert_eq!(p.parse_table("index_19737"), Some(19737));
        assert_eq!(p.parse_table("delete_requests"), None);
        let k = "index/index_19737/tenant-a/1705400000123456789-compactor-1705276800000-1705363199999-1d6bc817.tsdb.gz";
        let key = IndexObjectKey::parse("index/", k).unwrap();
        assert_eq!(key.tenant.as_deref(), Some("tenant-a"));
        assert_eq!(key.to_string(), k);
        let u = "index/index_19737/1705312800-ingester-0-1705300000123456789.tsdb.gz";
        let key = IndexObjectKey::parse("index/", u).unwrap();
        assert!(key.tenant.is_none() && key.name.is_multi_tenant());
        assert_eq!(key.to_string(), u);
        assert!(IndexObjectKey::parse("index/", "index/a/b/c/d.tsdb").is_err());
    }
}
