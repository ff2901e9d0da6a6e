//! `schema_config`: the schema periods, and the daily index tables they produce.
use crate::duration::Duration;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A UTC calendar day, stored as days since 1970-01-01 (Loki's table number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Day, String> {
        let bad = || format!("invalid date `{s}`: expected YYYY-MM-DD");
        let mut it = s.trim().splitn(3, '-');
        let y: i64 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let m: u32 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let d: u32 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        // Bounded so day arithmetic cannot overflow on absurd input.
        if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return Err(format!("invalid date `{s}`: no such day"));
        }
        Ok(Day(days_from_civil(y, m, d)))
    }

    /// The day containing `unix_secs`.
    pub fn from_unix_secs(unix_secs: i64) -> Day {
        Day(unix_secs.div_euclid(86_400))
    }

    /// Start of the day in unix seconds.
    pub fn unix_secs(self) -> i64 {
        self.0 * 86_400
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (i64, u32, u32) {
        civil_from_days(self.0)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::error::de_str(d, "a date YYYY-MM-DD", Day::parse)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Proleptic Gregorian day counting via the 400-year era decomposition.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A schema version. Only the versions whose chunk keys and index formats are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SchemaVersion {
    /// v9
    V9,
    /// v10
    V10,
    /// v11
    V11,
    /// v12
    V12,
    /// v13
    V13,
    /// v14
    V14,
}

impl SchemaVersion {
    /// Parses `v9` … `v14`.
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "v9" => Self::V9,
            "v10" => Self::V10,
            "v11" => Self::V11,
            "v12" => Self::V12,
            "v13" => Self::V13,
            "v14" => Self::V14,
            other => {
                return Err(format!(
                    "unknown schema version `{other}` (supported: v9 to v14)"
                ))
            }
        })
    }

    /// Number as in `vN`.
    pub fn number(self) -> u8 {
        match self {
            Self::V9 => 9,
            Self::V10 => 10,
            Self::V11 => 11,
            Self::V12 => 12,
            Self::V13 => 13,
            Self::V14 => 14,
        }
    }

    /// v12 and later put the fingerprint in its own key segment (`<tenant>/<fp>/<from>:…`).
    pub fn fingerprint_directory(self) -> bool {
        self >= Self::V12
    }

    /// TSDB file format version this schema writes (2 up to v12, 3 for v13, 4 for v14).
    pub fn tsdb_format_version(self) -> u8 {
        match self {
            Self::V14 => 4,
            Self::V13 => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.number())
    }
}

impl Serialize for SchemaVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SchemaVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::error::de_str(d, "a schema version such as v13", SchemaVersion::parse)
    }
}

/// `index:` of a period.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct IndexConfig {
    /// Table name prefix, e.g. `index_`.
    pub prefix: String,
    /// Table period; must be 24h for TSDB.
    pub period: Duration,
    /// Object prefix of the index tables (Loki's default `index/`).
    pub path_prefix: String,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            period: Duration::from_hours(24),
            path_prefix: "index/".into(),
        }
    }
}

/// One `schema_config.configs[]` entry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct PeriodConfig {
    /// First day of the period.
    pub from: Day,
    /// Index store type (`tsdb`, `boltdb-shipper`, …).
    #[serde(default)]
    pub store: String,
    /// Which object store holds index and chunks of this period.
    #[serde(default)]
    pub object_store: String,
    /// Schema version.
    pub schema: SchemaVersion,
    /// Index table settings.
    #[serde(default)]
    pub index: IndexConfig,
}

impl PeriodConfig {
    /// True for `store: tsdb`, the only index type the compactor works on.
    pub fn is_tsdb(&self) -> bool {
        self.store == "tsdb"
    }

    /// The table name for `day`: `prefix + day number`.
    pub fn table_name(&self, day: Day) -> String {
        format!("{}{}", self.index.prefix, day.0)
    }
}

/// `schema_config`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SchemaConfig {
    /// Periods, in file order (validated to be sorted by `from`).
    pub configs: Vec<PeriodConfig>,
}

impl SchemaConfig {
    /// The period active on `day` (the last one whose `from` ≤ day).
    pub fn period_for_day(&self, day: Day) -> Option<&PeriodConfig> {
        self.configs.iter().rev().find(|p| p.from <= day)
    }

    /// Index of the period active on `day`.
    pub fn period_index_for_day(&self, day: Day) -> Option<usize> {
        self.configs.iter().rposition(|p| p.from <= day)
    }

    /// The table holding `day`, as the active period names it.
    pub fn table_for_day(&self, day: Day) -> Option<String> {
        self.period_for_day(day).map(|p| p.table_name(day))
    }

    /// Maps a listed table name back to its day and period. Like Loki, a name is accepted
    /// only if the period active on that day reproduces it exactly, so stray directories
    /// (e.g. `delete_requests`) are rejected.
    pub fn parse_table(&self, name: &str) -> Option<(Day, &PeriodConfig)> {
        let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        let day = Day(name[name.len() - digits..].parse().ok()?);
        let p = self.period_for_day(day)?;
        (p.table_name(day) == name).then_some((day, p))
    }

    /// Every table from `first` to `last` (inclusive) with its day and period index, in day
    /// order; days before the first period have no table and are skipped.
    pub fn tables_between(&self, first: Day, last: Day) -> Vec<(Day, String, usize)> {
        (first.0..=last.0)
            .filter_map(|d| {
                let i = self.period_index_for_day(Day(d))?;
                Some((Day(d), self.configs[i].table_name(Day(d)), i))
            })
            .collect()
    }

    /// The end (exclusive) of period `i`: the next period's `from`, if any.
    pub fn period_end(&self, i: usize) -> Option<Day> {
        self.configs.get(i + 1).map(|p| p.from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_follow_period_boundaries() {
        let p = |from: &str, prefix: &str| PeriodConfig {
            from: Day::parse(from).unwrap(),
            store: "tsdb".into(),
            object_store: "s3".into(),
            schema: SchemaVersion::V13,
            index: IndexConfig {
                prefix: prefix.into(),
                ..Default::default()
            },
        };
        let s = SchemaConfig {
            configs: vec![p("2024-01-02", "a_"), p("2024-01-04", "b_")],
        };
        let t = s.tables_between(
            Day::parse("2024-01-01").unwrap(),
            Day::parse("2024-01-05").unwrap(),
        );
        let names: Vec<&str> = t.iter().map(|(_, n, _)| n.as_str()).collect();
        assert_eq!(names, ["a_19724", "a_19725", "b_19726", "b_19727"]);
        assert_eq!(t[2].2, 1);
        assert!(
            s.parse_table("a_19726").is_none(),
            "that day belongs to period b_"
        );
        assert_eq!(s.parse_table("b_19726").unwrap().0, Day(19726));
    }

    #[test]
    fn day_arithmetic_matches_known_tables() {
        // The golden data's table index_20782 is 2026-11-25.
        assert_eq!(Day::parse("2026-11-25").unwrap(), Day(20782));
        assert_eq!(Day(20782).to_string(), "2026-11-25");
        assert_eq!(Day::parse("1970-01-01").unwrap(), Day(0));
        assert_eq!(Day::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
        assert!(Day::parse("2023-02-29").is_err());
        assert!(Day::parse("2024-13-01").is_err());
        assert!(Day::parse("yesterday").is_err());
        assert!(Day::parse("99999999999999999-01-01").is_err());
        assert_eq!(Day::from_unix_secs(1_705_312_800), Day(19737));
        for d in -1000..30000 {
            let (y, m, dd) = Day(d).ymd();
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
