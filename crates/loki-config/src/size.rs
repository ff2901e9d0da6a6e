//! Byte sizes as Loki reads them (`1.5MB`, `200MB`, `64KiB`, `1048576`): decimal units are
//! powers of 1000 and `i` units powers of 1024, case-insensitive.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A size in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1_000),
    ("kb", 1_000),
    ("ki", 1 << 10),
    ("kib", 1 << 10),
    ("m", 1_000_000),
    ("mb", 1_000_000),
    ("mi", 1 << 20),
    ("mib", 1 << 20),
    ("g", 1_000_000_000),
    ("gb", 1_000_000_000),
    ("gi", 1 << 30),
    ("gib", 1 << 30),
    ("t", 1_000_000_000_000),
    ("tb", 1_000_000_000_000),
    ("ti", 1 << 40),
    ("tib", 1 << 40),
];

impl ByteSize {
    /// Parses `1.5MB`, `200MB`, `64KiB`, `1048576`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let unit_l = unit.trim().to_ascii_lowercase();
        let mult = UNITS
            .iter()
            .find(|(u, _)| *u == unit_l)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                format!(
                    "invalid size `{s}`: unknown unit `{unit}` (use B, KB, MB, GB, KiB, MiB, GiB)"
                )
            })?;
        if num.is_empty() {
            return Err(format!("invalid size `{s}`: expected a number"));
        }
        let v: f64 = num
            .parse()
            .map_err(|_| format!("invalid size `{s}`: bad number `{num}`"))?;
        let bytes = v * mult as f64;
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(format!("invalid size `{s}`: too large"));
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, m) in [("GB", 1_000_000_000u64), ("MB", 1_000_000), ("KB", 1_000)] {
            if b >= m && b % m == 0 {
                return write!(f, "{}{unit}", b / m);
            }
        }
        write!(f, "{b}B")
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as `1048576`, `1.5MB` or `64KiB`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("invalid size `{v}`: must not be negative")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ByteSize, E> {
                if v >= 0.0 && v.is_finite() {
                    Ok(ByteSize(v as u64))
                } else {
                    Err(E::custom(format!("invalid size `{v}`")))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(ByteSize::parse("1.5MB").unwrap(), ByteSize(1_500_000));
        assert_eq!(ByteSize::parse("200MB").unwrap(), ByteSize(200_000_000));
        assert_eq!(ByteSize::parse("64KiB").unwrap(), ByteSize(65_536));
        assert_eq!(ByteSize::parse("1048576").unwrap(), ByteSize(1_048_576));
        assert_eq!(ByteSize::parse("2gb").unwrap(), ByteSize(2_000_000_000));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "MB", "1.2.3MB", "10XB", "1e400GB"] {
            assert!(ByteSize::parse(bad).is_err(), "{bad}");
        }
    }
}
