//! Loki's command-line flags for locating the config: `-config.file` / `--config.file`
//! (comma-separated candidates, first existing wins) and `-config.expand-env`.
use crate::error::{ConfigError, Result};
use std::ffi::OsString;
use std::path::PathBuf;

/// How to find and pre-process the config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Comma-separated candidate paths (Loki's default `config.yaml,config/config.yaml`).
    pub config_file: String,
    /// Expand `${VAR}` references before parsing.
    pub expand_env: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            config_file: "config.yaml,config/config.yaml".into(),
            expand_env: false,
        }
    }
}

impl LoadOptions {
    /// Options for one explicit file.
    pub fn file(path: impl Into<String>) -> Self {
        Self {
            config_file: path.into(),
            expand_env: false,
        }
    }

    /// Picks `-config.file`/`--config.file` (`=V` or separate value) and
    /// `-config.expand-env[=BOOL]` out of `args`; returns the options and the other arguments.
    pub fn from_args<I, S>(args: I) -> Result<(Self, Vec<String>)>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut o = Self::default();
        let mut rest = Vec::new();
        let mut it = args.into_iter().map(Into::into);
        while let Some(a) = it.next() {
            let bare = a.strip_prefix("--").or_else(|| a.strip_prefix('-'));
            let (name, inline) = match bare {
                Some(b) => match b.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (b.to_string(), None),
                },
                None => {
                    rest.push(a);
                    continue;
                }
            };
            match name.as_str() {
                "config.file" => {
                    o.config_file = match inline {
                        Some(v) => v,
                        None => it.next().ok_or_else(|| ConfigError::Flag {
                            flag: a.clone(),
                            message: "needs a value".into(),
                        })?,
                    }
                }
                "config.expand-env" => {
                    o.expand_env = match inline.as_deref() {
                        None | Some("true") | Some("1") => true,
                        Some("false") | Some("0") => false,
                        Some(v) => {
                            return Err(ConfigError::Flag {
                                flag: a.clone(),
                                message: format!("`{v}` is not a boolean"),
                            })
                        }
                    }
                }
                _ => rest.push(a),
            }
        }
        Ok((o, rest))
    }

    /// The first candidate that exists.
    pub fn resolve_path(&self) -> Result<PathBuf> {
        self.config_file
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| ConfigError::NoConfigFile {
                candidates: self.config_file.clone(),
            })
    }
}

/// Rewrites Loki's single-dash long flags (`-config.file=x`) to the double-dash form that
/// argument parsers such as clap expect; other arguments pass through unchanged.
pub fn normalize_loki_flags<I: IntoIterator<Item = OsString>>(args: I) -> Vec<OsString> {
    args.into_iter()
        .map(|a| match a.to_str() {
            Some(s) if s.starts_with("-config.") => OsString::from(format!("-{s}")),
            _ => a,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dash_forms() {
        let (o, rest) = LoadOptions::from_args([
            "-config.file=/a.yaml",
            "-target=compactor",
            "-config.expand-env=true",
        ])
        .unwrap();
        assert_eq!(o.config_file, "/a.yaml");
        assert!(o.expand_env);
        assert_eq!(rest, vec!["-target=compactor".to_string()]);
        let (o, _) =
            LoadOptions::from_args(["--config.file", "b.yaml", "--config.expand-env"]).unwrap();
        assert_eq!(o.config_file, "b.yaml");
        assert!(o.expand_env);
        assert!(LoadOptions::from_args(["-config.file"]).is_err());
        assert!(LoadOptions::from_args(["-config.expand-env=maybe"]).is_err());
    }

    #[test]
    fn normalizes_for_clap() {
        let v = normalize_loki_flags(
            ["prog", "-config.file=x", "--config.file=y", "-v"].map(OsString::from),
        );
        assert_eq!(
            v,
            ["prog", "--config.file=x", "--config.file=y", "-v"].map(OsString::from)
        );
    }
}
