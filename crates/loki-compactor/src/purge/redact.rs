//! Redaction, our extension of delete requests: instead of dropping a selected line, every
//! match of a regular expression in it is replaced by a mask and the line is kept (same
//! timestamp, same structured metadata). Off unless enabled in the config.

use regex::bytes::{NoExpand, Regex};

/// A compiled redaction.
#[derive(Debug, Clone)]
pub struct Redaction {
    re: Regex,
    mask: String,
}

impl Redaction {
    /// Compiles `pattern` (Rust `regex` syntax, which accepts RE2's); matched on bytes so
    /// lines that are not UTF-8 are redacted too.
    pub fn new(pattern: &str, mask: &str) -> Result<Self, regex::Error> {
        Ok(Redaction {
            re: Regex::new(pattern)?,
            mask: mask.to_owned(),
        })
    }

    /// The line with every match masked, or `None` when nothing matched (the line is then
    /// kept byte for byte).
    pub fn apply(&self, line: &[u8]) -> Option<Vec<u8>> {
        if !self.re.is_match(line) {
            return None;
        }
        Some(
            self.re
                .replace_all(line, NoExpand(self.mask.as_bytes()))
                .into_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_match_and_leaves_others() {
        let r = Redaction::new(r"p-\d+", "<redacted>").unwrap();
        assert_eq!(
            r.apply(b"player p-13 met p-2").unwrap(),
            b"player <redacted> met <redacted>"
        );
        assert_eq!(r.apply(b"no player here"), None);
        // `$1` in a mask is literal text, not a group reference.
        let r = Redaction::new(r"(\d+)", "$1").unwrap();
        assert_eq!(r.apply(b"a1").unwrap(), b"a$1");
    }
}
