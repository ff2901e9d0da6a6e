//! The one error type of this crate: every variant names the file, and where it can, the key
//! and the line, because operators fix configs by jumping to a line.
use std::path::PathBuf;

/// An error loading or validating a Loki configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{path}: cannot read: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// None of the candidate paths of `-config.file` exists.
    #[error("no config file found among candidates `{candidates}`")]
    NoConfigFile {
        /// The comma-separated candidate list as given.
        candidates: String,
    },
    /// A command-line flag was malformed.
    #[error("flag {flag}: {message}")]
    Flag {
        /// The flag as typed.
        flag: String,
        /// What is wrong.
        message: String,
    },
    /// The YAML is malformed or a value has the wrong type/syntax.
    #[error("{}{}: {message}", file.display(), fmt_line(*line))]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// Message, starting with the dotted key path when known.
        message: String,
    },
    /// A value parsed but is not acceptable (cross-field rules, references to unknown stores).
    #[error("{}{}: {key}: {message}", file.display(), fmt_line(*line))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Dotted key path, e.g. `compactor.delete_request_store`.
        key: String,
        /// 1-based line, when the key is present in the file.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

fn fmt_line(line: Option<usize>) -> String {
    match line {
        Some(l) => format!(":{l}"),
        None => String::new(),
    }
}

/// Result alias for this crate.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// Deserializes a string through `parse`, via a visitor so the YAML parser attaches the
/// value's own line and key path to the error (a post-hoc error would point at the parent).
pub(crate) fn de_str<'de, D, T>(
    d: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct V<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> serde::de::Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).map_err(E::custom)
        }
    }
    d.deserialize_str(V { expecting, parse })
}
