//! The label set an entry carries through a pipeline: stream labels, structured metadata
//! and parsed labels, kept apart so results can report them by category.

/// Sorted `(name, value)` pairs.
pub type LabelPairs = Vec<(String, String)>;

/// Error label names Loki uses.
pub const ERROR_LABEL: &str = "__error__";
/// Error details label.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// Labels of one entry while it goes through a pipeline.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    stream: LabelPairs,
    deleted: Vec<String>,
    sm: LabelPairs,
    parsed: LabelPairs,
}

fn set_in(v: &mut LabelPairs, name: &str, value: String) {
    match v.iter_mut().find(|(n, _)| n == name) {
        Some(p) => p.1 = value,
        None => v.push((name.to_owned(), value)),
    }
}

impl LabelsBuilder {
    /// Starts from a stream's labels and an entry's structured metadata.
    pub fn new(stream: &[(String, String)], sm: &[(String, String)]) -> Self {
        LabelsBuilder {
            stream: stream.to_vec(),
            deleted: Vec::new(),
            sm: sm.to_vec(),
            parsed: Vec::new(),
        }
    }

    /// Resets for the next entry of the same stream.
    pub fn reset(&mut self, sm: &[(String, String)]) {
        self.deleted.clear();
        self.sm.clear();
        self.sm.extend_from_slice(sm);
        self.parsed.clear();
    }

    /// A label's value: parsed, then structured metadata, then stream labels.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.parsed
            .iter()
            .chain(self.sm.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .or_else(|| {
                if self.deleted.iter().any(|d| d == name) {
                    return None;
                }
                self.stream
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            })
    }

    /// Whether a parser must rename `name` (`_extracted`): it is a stream label or
    /// structured metadata.
    pub fn base_has(&self, name: &str) -> bool {
        self.sm.iter().any(|(n, _)| n == name)
            || (self.stream.iter().any(|(n, _)| n == name)
                && !self.deleted.iter().any(|d| d == name))
    }

    /// Whether a parsed label of this name exists.
    pub fn parsed_has(&self, name: &str) -> bool {
        self.parsed.iter().any(|(n, _)| n == name)
    }

    /// Sets a parsed label (parsers, `label_format`, errors).
    pub fn set_parsed(&mut self, name: &str, value: String) {
        set_in(&mut self.parsed, name, value);
    }

    /// Sets a label wherever it lives; new labels become parsed labels.
    pub fn set(&mut self, name: &str, value: String) {
        if let Some(p) = self.sm.iter_mut().find(|(n, _)| n == name) {
            p.1 = value;
            return;
        }
        if self.stream.iter().any(|(n, _)| n == name) && !self.parsed_has(name) {
            self.deleted.push(name.to_owned());
        }
        set_in(&mut self.parsed, name, value);
    }

    /// Removes a label from every category.
    pub fn delete(&mut self, name: &str) {
        self.parsed.retain(|(n, _)| n != name);
        self.sm.retain(|(n, _)| n != name);
        if self.stream.iter().any(|(n, _)| n == name) {
            self.deleted.push(name.to_owned());
        }
    }

    /// Keeps only the named labels.
    pub fn keep(&mut self, names: &[String]) {
        self.parsed.retain(|(n, _)| names.contains(n));
        self.sm.retain(|(n, _)| names.contains(n));
        for (n, _) in &self.stream {
            if !names.contains(n) {
                self.deleted.push(n.clone());
            }
        }
    }

    /// Records a pipeline error, as Loki does with `__error__`/`__error_details__`.
    pub fn set_error(&mut self, kind: &str, details: String) {
        if self.get(ERROR_LABEL).is_some_and(|e| !e.is_empty()) {
            return;
        }
        self.set_parsed(ERROR_LABEL, kind.to_owned());
        if !details.is_empty() {
            self.set_parsed(ERROR_DETAILS_LABEL, details);
        }
    }

    /// Whether the entry carries a pipeline error.
    pub fn has_error(&self) -> bool {
        self.get(ERROR_LABEL).is_some_and(|e| !e.is_empty())
    }

    /// Every label, sorted by name, empty values dropped (Loki's result labels).
    pub fn all(&self) -> LabelPairs {
        let mut out: LabelPairs =
            Vec::with_capacity(self.stream.len() + self.sm.len() + self.parsed.len());
        for (n, v) in &self.stream {
            if !self.deleted.contains(n)
                && !self.sm.iter().any(|(s, _)| s == n)
                && !self.parsed_has(n)
            {
                out.push((n.clone(), v.clone()));
            }
        }
        for (n, v) in &self.sm {
            if !self.parsed_has(n) {
                out.push((n.clone(), v.clone()));
            }
        }
        out.extend(self.parsed.iter().cloned());
        out.retain(|(_, v)| !v.is_empty());
        out.sort();
        out
    }

    /// The three categories: stream labels, structured metadata, parsed labels (sorted,
    /// empty values dropped).
    pub fn categorized(&self) -> (LabelPairs, LabelPairs, LabelPairs) {
        let mut stream: LabelPairs = self
            .stream
            .iter()
            .filter(|(n, _)| !self.deleted.contains(n))
            .cloned()
            .collect();
        let mut sm: LabelPairs = self
            .sm
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .cloned()
            .collect();
        let mut parsed: LabelPairs = self
            .parsed
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .cloned()
            .collect();
        stream.sort();
        sm.sort();
        parsed.sort();
        (stream, sm, parsed)
    }
}

/// Formats labels as Loki/Prometheus print them: `{a="b", c="d"}`.
pub fn labels_string(l: &[(String, String)]) -> String {
    let mut s = String::from("{");
    for (i, (n, v)) in l.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(n);
        s.push('=');
        s.push_str(&go_quote(v));
    }
    s.push('}');
    s
}

/// Go's `strconv.Quote` for the characters labels hold.
fn go_quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\x{:02x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Replaces characters not allowed in label names with `_` (Loki's parsers do this).
pub fn sanitize_label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}
