//! Stream label sets, their fingerprint, and Loki's read-time metadata-name normalisation.
use std::fmt;

/// The metric-name label Loki adds to every chunk's `metric` on flush.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// A label set, kept sorted by name (bytewise), as Loki stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set from pairs in any order. A repeated name keeps its last value.
    pub fn new<I, N, V>(pairs: I) -> Labels
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let mut v: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        v.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        // Stable sort keeps input order among equal names; keep the last one.
        let mut out: Vec<(String, String)> = Vec::with_capacity(v.len());
        for (n, val) in v {
            match out.last_mut() {
                Some(last) if last.0 == n => last.1 = val,
                _ => out.push((n, val)),
            }
        }
        Labels(out)
    }

    /// The value of a label.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// Pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy without `name`.
    pub fn without(&self, name: &str) -> Labels {
        Labels(self.0.iter().filter(|(n, _)| n != name).cloned().collect())
    }

    /// A copy with `name` set to `value`.
    pub fn with(&self, name: &str, value: &str) -> Labels {
        Labels::new(
            self.0
                .iter()
                .map(|(n, v)| (n.clone(), v.clone()))
                .chain(std::iter::once((name.to_string(), value.to_string()))),
        )
    }

    /// Loki's stream fingerprint: XXH64 (seed 0) over `name 0xFF value 0xFF` of every label
    /// except `__name__`, in name order.
    ///
    /// Use it to *write* new chunks. Never use it to locate an existing chunk: ingesters remap
    /// colliding fingerprints, so take the fingerprint from the index or the object key.
    pub fn fingerprint(&self) -> u64 {
        let mut h = xxhash_rust::xxh64::Xxh64::new(0);
        for (n, v) in &self.0 {
            if n == METRIC_NAME_LABEL {
                continue;
            }
            h.update(n.as_bytes());
            h.update(&[0xff]);
            h.update(v.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }
}

impl fmt::Display for Labels {
    /// Prometheus/LogQL selector syntax: `{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Labels {
    fn from_iter<T: IntoIterator<Item = (N, V)>>(iter: T) -> Self {
        Labels::new(iter)
    }
}

/// Loki's read-time normalisation of a structured-metadata *name* (values are never
/// changed): the Prometheus OTLP label-name sanitiser with default options.
///
/// Returns `None` where Loki fails the lookup (a name that is empty or only underscores after
/// sanitising).
pub fn normalize_metadata_name(name: &str) -> Option<String> {
    let (inner, wrapped) = if name.len() >= 4 && name.starts_with("__") && name.ends_with("__") {
        (&name[2..name.len() - 2], true)
    } else {
        (name, false)
    };
    let mut out = String::with_capacity(inner.len());
    let mut last_replaced = false;
    for c in inner.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            last_replaced = false;
        } else if !last_replaced {
            out.push('_');
            last_replaced = true;
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    if out.chars().all(|c| c == '_') {
        return None;
    }
    Some(if wrapped { format!("__{out}__") } else { out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_spec_example() {
        let l = Labels::new([("env", "dev"), ("app", "foo")]);
        assert_eq!(l.fingerprint(), 0x1053_0763_924b_4da6);
        assert_eq!(
            l.with("__name__", "logs").fingerprint(),
            0x1053_0763_924b_4da6
        );
        assert_eq!(l.to_string(), r#"{app="foo", env="dev"}"#);
    }

    #[test]
    fn normalisation_examples() {
        assert_eq!(
            normalize_metadata_name("http.method").as_deref(),
            Some("http_method")
        );
        assert_eq!(
            normalize_metadata_name("9lives").as_deref(),
            Some("key_9lives")
        );
        assert_eq!(normalize_metadata_name("a__b").as_deref(), Some("a_b"));
        assert_eq!(
            normalize_metadata_name("__a.b__").as_deref(),
            Some("__a_b__")
        );
        assert_eq!(
            normalize_metadata_name("trace_id").as_deref(),
            Some("trace_id")
        );
        assert_eq!(normalize_metadata_name("___"), None);
        assert_eq!(normalize_metadata_name(""), None);
    }
}
