//! Durations in the syntaxes Loki accepts: Go's (`1h30m`, `1.5h`, `100ms`) for most keys and
//! Prometheus' (`30d`, `1w`, `1y`) for retention keys. One parser accepts the union so an
//! operator never has to know which Go type sits behind a key.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration as StdDuration;

/// A non-negative duration read from Loki's YAML.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(StdDuration);

const NS_PER: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3_600 * 1_000_000_000),
    ("d", 86_400 * 1_000_000_000),
    ("w", 7 * 86_400 * 1_000_000_000),
    ("y", 365 * 86_400 * 1_000_000_000),
];

impl Duration {
    /// Zero.
    pub const ZERO: Duration = Duration(StdDuration::ZERO);

    /// From whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(StdDuration::from_secs(s))
    }

    /// From whole milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(StdDuration::from_millis(ms))
    }

    /// From whole hours.
    pub const fn from_hours(h: u64) -> Self {
        Duration(StdDuration::from_secs(h * 3600))
    }

    /// The standard-library value.
    pub const fn as_std(self) -> StdDuration {
        self.0
    }

    /// True when zero (for Loki's retention keys: "disabled" / "keep forever").
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses `744h`, `30d`, `1w`, `10m`, `1h30m`, `1.5h`, `100ms`, `0`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty duration".into());
        }
        if t == "0" {
            return Ok(Self::ZERO);
        }
        if t.starts_with('-') {
            return Err(format!("invalid duration `{s}`: must not be negative"));
        }
        let t = t.strip_prefix('+').unwrap_or(t);
        let mut rest = t;
        let mut total: u128 = 0;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| {
                    format!("invalid duration `{s}`: missing unit (e.g. `10m`, `24h`, `7d`)")
                })?;
            if num_len == 0 {
                return Err(format!("invalid duration `{s}`: expected a number"));
            }
            let (num, after) = rest.split_at(num_len);
            let unit_len = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, next) = after.split_at(unit_len);
            let per = NS_PER
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, n)| *n)
                .ok_or_else(|| {
                    format!("invalid duration `{s}`: unknown unit `{unit}` (use ns, us, ms, s, m, h, d, w, y)")
                })?;
            total = total
                .checked_add(
                    scale(num, per)
                        .ok_or_else(|| format!("invalid duration `{s}`: bad number `{num}`"))?,
                )
                .ok_or_else(|| format!("invalid duration `{s}`: too large"))?;
            rest = next;
        }
        let secs = u64::try_from(total / 1_000_000_000)
            .map_err(|_| format!("invalid duration `{s}`: too large"))?;
        // The remainder is < 1e9 by construction.
        let nanos = (total % 1_000_000_000) as u32;
        Ok(Duration(StdDuration::new(secs, nanos)))
    }
}

/// `num` (decimal, maybe with a fraction) times `per` nanoseconds, truncated like Go does.
fn scale(num: &str, per: u128) -> Option<u128> {
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if frac.contains('.') {
        return None;
    }
    let int_v: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut v = int_v.checked_mul(per)?;
    let mut div: u128 = 1;
    for c in frac.chars().take(18) {
        div *= 10;
        let d = u128::from(c.to_digit(10)?);
        v = v.checked_add(d * per / div)?;
    }
    Some(v)
}

impl From<StdDuration> for Duration {
    fn from(d: StdDuration) -> Self {
        Duration(d)
    }
}

impl From<Duration> for StdDuration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl fmt::Display for Duration {
    /// Compact form in h/m/s/ms (`744h`, `1h30m`, `100ms`, `0s`), the units Loki configs use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total_ns = self.0.as_nanos();
        if total_ns == 0 {
            return f.write_str("0s");
        }
        let mut rem = total_ns;
        let mut out = String::new();
        for (unit, per) in [
            ("h", 3_600_000_000_000u128),
            ("m", 60_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
            ("ns", 1),
        ] {
            let n = rem / per;
            if n > 0 {
                out.push_str(&format!("{n}{unit}"));
                rem -= n * per;
            }
        }
        f.write_str(&out)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `10m`, `24h`, `30d`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                // Only a bare 0 is unambiguous; any other number lacks a unit.
                if v == 0 {
                    Ok(Duration::ZERO)
                } else {
                    Err(E::custom(format!(
                        "invalid duration `{v}`: missing unit (e.g. `{v}s`, `{v}h`)"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::ZERO)
                } else {
                    Err(E::custom(format!("invalid duration `{v}`: missing unit")))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loki_syntaxes() {
        assert_eq!(Duration::parse("744h").unwrap(), Duration::from_hours(744));
        assert_eq!(Duration::parse("30d").unwrap(), Duration::from_hours(720));
        assert_eq!(Duration::parse("1w").unwrap(), Duration::from_hours(168));
        assert_eq!(Duration::parse("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(Duration::parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(Duration::parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            Duration::parse("100ms").unwrap(),
            Duration::from_millis(100)
        );
        assert_eq!(Duration::parse("0s").unwrap(), Duration::ZERO);
        assert_eq!(Duration::parse("0").unwrap(), Duration::ZERO);
        assert_eq!(
            Duration::parse("1y").unwrap(),
            Duration::from_hours(365 * 24)
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "10",
            "h",
            "10x",
            "-1h",
            "1..5h",
            "1h-",
            "99999999999999999999999y",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn displays_compactly() {
        assert_eq!(Duration::from_hours(744).to_string(), "744h");
        assert_eq!(Duration::from_secs(5400).to_string(), "1h30m");
        assert_eq!(Duration::from_millis(100).to_string(), "100ms");
        assert_eq!(Duration::ZERO.to_string(), "0s");
    }
}
