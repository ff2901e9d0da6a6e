//! Label sets, owned series and Loki's stream fingerprint (spec section 13).

use crate::chunk_meta::ChunkMeta;

/// A label set sorted by name (byte order), no duplicate names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set from pairs in any order (the last of duplicate names wins).
    pub fn new<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut v: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, String)> = Vec::with_capacity(v.len());
        for p in v {
            match out.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => out.push(p),
            }
        }
        Labels(out)
    }

    pub(crate) fn from_sorted(v: Vec<(String, String)>) -> Self {
        Labels(v)
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Value of a label, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty label set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy without the named label.
    pub fn without(&self, name: &str) -> Labels {
        Labels(self.0.iter().filter(|(n, _)| n != name).cloned().collect())
    }

    /// Loki's stream fingerprint: XXH64 (seed 0) over `name 0xFF value 0xFF`
    /// for every label except `__name__` and the tenant label (which is
    /// added after hashing in multi-tenant files).
    pub fn fingerprint(&self) -> u64 {
        let mut buf = Vec::with_capacity(128);
        for (n, v) in &self.0 {
            if n == "__name__" || n == crate::TENANT_LABEL {
                continue;
            }
            buf.extend_from_slice(n.as_bytes());
            buf.push(0xff);
            buf.extend_from_slice(v.as_bytes());
            buf.push(0xff);
        }
        xxhash_rust::xxh64::xxh64(&buf, 0)
    }
}

impl std::fmt::Display for Labels {
    /// Prometheus form: `{a="b", c="d"}` (values with Go-style escapes).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("{")?;
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// A series with owned labels and its chunk refs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// The stored stream fingerprint (never recomputed from the labels).
    pub fingerprint: u64,
    /// Labels as stored (minus the tenant label in tenant views).
    pub labels: Labels,
    /// Chunk refs, ascending by (min_time, max_time, checksum).
    pub chunks: Vec<ChunkMeta>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_the_spec_example() {
        let l = Labels::new([("env", "prod"), ("app", "api")]);
        assert_eq!(l.fingerprint(), 0x5fd6_8e25_4421_5f6c);
        let mt = Labels::new([("env", "prod"), ("app", "api"), ("__loki_tenant__", "x")]);
        assert_eq!(mt.fingerprint(), 0x5fd6_8e25_4421_5f6c);
        assert_eq!(l.to_string(), r#"{app="api", env="prod"}"#);
    }
}
