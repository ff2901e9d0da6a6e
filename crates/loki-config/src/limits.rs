//! `limits_config` (the retention and deletion keys) and how one tenant's effective limits
//! and one stream's retention period are derived from them.
use crate::duration::Duration;
use crate::selector::Selector;
use serde::{Deserialize, Deserializer, Serialize};

/// `deletion_mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeletionMode {
    /// Delete requests are refused.
    Disabled,
    /// Deleted lines are only filtered at query time.
    FilterOnly,
    /// Filtered at query time and removed by the compactor.
    #[default]
    FilterAndDelete,
}

impl std::fmt::Display for DeletionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Disabled => "disabled",
            Self::FilterOnly => "filter-only",
            Self::FilterAndDelete => "filter-and-delete",
        })
    }
}

impl<'de> Deserialize<'de> for DeletionMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::error::de_str(d, "a deletion mode", |s| {
            match s {
            "disabled" => Ok(Self::Disabled),
            "filter-only" => Ok(Self::FilterOnly),
            "filter-and-delete" => Ok(Self::FilterAndDelete),
            other => Err(format!(
                "unknown deletion mode `{other}`: must be one of disabled|filter-only|filter-and-delete"
            )),
        }
        })
    }
}

/// One `retention_stream` rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StreamRetention {
    /// Stream selector.
    pub selector: Selector,
    /// Larger wins.
    pub priority: i64,
    /// Retention for matching streams (≥ 24h).
    pub period: Duration,
}

impl<'de> Deserialize<'de> for StreamRetention {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            selector: Selector,
            #[serde(default)]
            priority: i64,
            period: Duration,
        }
        let r = Raw::deserialize(d)?;
        if r.period < Duration::from_hours(24) {
            return Err(serde::de::Error::custom(format!(
                "retention period must be >= 24h, got {} for selector {}",
                r.period, r.selector
            )));
        }
        Ok(StreamRetention {
            selector: r.selector,
            priority: r.priority,
            period: r.period,
        })
    }
}

/// The limits our tools use, global (`limits_config`) or one tenant's effective values.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Limits {
    /// Tenant-wide retention; 0 keeps forever.
    pub retention_period: Duration,
    /// Per-stream rules.
    pub retention_stream: Vec<StreamRetention>,
    /// Delete-request mode.
    pub deletion_mode: DeletionMode,
}

/// A tenant entry of the runtime `overrides:` file: only the keys present replace the
/// global value (a present `retention_stream` replaces the whole list).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct LimitsPatch {
    retention_period: Option<Duration>,
    retention_stream: Option<Vec<StreamRetention>>,
    deletion_mode: Option<DeletionMode>,
}

impl LimitsPatch {
    pub(crate) fn apply(&self, base: &Limits) -> Limits {
        Limits {
            retention_period: self.retention_period.unwrap_or(base.retention_period),
            retention_stream: self
                .retention_stream
                .clone()
                .unwrap_or_else(|| base.retention_stream.clone()),
            deletion_mode: self.deletion_mode.unwrap_or(base.deletion_mode),
        }
    }
}

impl Limits {
    /// Retention of a stream with `labels`: the matching rule with the highest priority
    /// (shortest period on a tie), else `retention_period`. Zero means "never expires".
    pub fn retention_period_for<'a>(
        &self,
        labels: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Duration {
        let mut best: Option<&StreamRetention> = None;
        for r in &self.retention_stream {
            if !r.selector.matches(labels.clone()) {
                continue;
            }
            best = match best {
                Some(b)
                    if b.priority > r.priority
                        || (b.priority == r.priority && b.period <= r.period) =>
                {
                    Some(b)
                }
                _ => Some(r),
            };
        }
        best.map(|r| r.period).unwrap_or(self.retention_period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(sel: &str, prio: i64, hours: u64) -> StreamRetention {
        StreamRetention {
            selector: Selector::parse(sel).unwrap(),
            priority: prio,
            period: Duration::from_hours(hours),
        }
    }

    // The worked example of the compactor spec §2.5: tenant 29 overrides the global limits.
    #[test]
    fn docs_example() {
        let global = Limits {
            retention_period: Duration::from_hours(744),
            retention_stream: vec![rule(r#"{namespace="dev"}"#, 1, 24)],
            deletion_mode: DeletionMode::FilterAndDelete,
        };
        let patch = LimitsPatch {
            retention_period: Some(Duration::from_hours(168)),
            retention_stream: Some(vec![
                rule(r#"{namespace="prod"}"#, 2, 336),
                rule(r#"{container="loki"}"#, 1, 72),
            ]),
            deletion_mode: None,
        };
        let t29 = patch.apply(&global);
        assert_eq!(
            t29.retention_period_for([("namespace", "prod"), ("container", "loki")]),
            Duration::from_hours(336)
        );
        assert_eq!(
            t29.retention_period_for([("namespace", "x"), ("container", "loki")]),
            Duration::from_hours(72)
        );
        assert_eq!(
            t29.retention_period_for([("namespace", "dev")]),
            Duration::from_hours(168)
        );
        assert_eq!(
            global.retention_period_for([("namespace", "dev")]),
            Duration::from_hours(24)
        );
        assert_eq!(
            global.retention_period_for([("namespace", "qa")]),
            Duration::from_hours(744)
        );
        assert_eq!(t29.deletion_mode, DeletionMode::FilterAndDelete);
    }

    #[test]
    fn tie_prefers_shortest_period() {
        let l = Limits {
            retention_stream: vec![rule(r#"{a="x"}"#, 1, 72), rule(r#"{b="y"}"#, 1, 48)],
            ..Default::default()
        };
        assert_eq!(
            l.retention_period_for([("a", "x"), ("b", "y")]),
            Duration::from_hours(48)
        );
    }
}
