//! The top-level document: reading the file, expanding env references, parsing with unknown
//! keys tolerated, then resolving and validating the sections our tools use.
use crate::compactor::CompactorConfig;
use crate::duration::Duration;
use crate::error::{ConfigError, Result};
use crate::flags::LoadOptions;
use crate::limits::Limits;
use crate::locate::{line_of, Step};
use crate::overrides::{OverridesWatcher, TenantLimits};
use crate::schema::SchemaConfig;
use crate::storage::{self, RawCommonStorage, RawStorageConfig, StorageConfig, StoreSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCommon {
    path_prefix: String,
    storage: RawCommonStorage,
    compactor_address: String,
    compactor_grpc_address: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRuntimeConfig {
    file: String,
    period: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawConfig {
    auth_enabled: Option<bool>,
    common: RawCommon,
    schema_config: SchemaConfig,
    storage_config: RawStorageConfig,
    compactor: CompactorConfig,
    limits_config: Limits,
    runtime_config: RawRuntimeConfig,
}

/// `common:` keys our tools use.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CommonConfig {
    /// `common.path_prefix`.
    pub path_prefix: String,
    /// `common.compactor_address` (HTTP).
    pub compactor_address: String,
    /// `common.compactor_grpc_address`.
    pub compactor_grpc_address: String,
}

/// `runtime_config:`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuntimeConfigSettings {
    /// Runtime config files, merged left to right.
    pub files: Vec<PathBuf>,
    /// Reload period (Loki's default 10s).
    pub period: Duration,
}

/// The parts of a Loki configuration that storage, compaction and retention depend on.
#[derive(Clone, Debug, Serialize)]
pub struct LokiConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// `auth_enabled` (Loki's default true).
    pub auth_enabled: bool,
    /// `common:`.
    pub common: CommonConfig,
    /// `schema_config:`.
    pub schema: SchemaConfig,
    /// Resolved `storage_config:` / `common.storage:`.
    pub storage: StorageConfig,
    /// `compactor:` with defaults filled in.
    pub compactor: CompactorConfig,
    /// `limits_config:` (global limits).
    pub limits: Limits,
    /// `runtime_config:`.
    pub runtime_config: RuntimeConfigSettings,
    /// Keys present in the file that this crate does not use (dotted paths).
    #[serde(skip)]
    pub ignored_keys: Vec<String>,
}

/// Converts a YAML error into ours, keeping the parser's line and key path.
pub(crate) fn yaml_error(file: &Path, e: &serde_yaml_ng::Error) -> ConfigError {
    let line = e.location().map(|l| l.line());
    // The library appends "at line X column Y"; we report the line ourselves.
    let msg = e.to_string();
    let message = match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    ConfigError::Parse {
        file: file.to_path_buf(),
        line,
        message,
    }
}

fn steps(path: &str) -> Vec<Step<'_>> {
    path.split('.')
        .map(|s| match s.parse::<usize>() {
            Ok(n) => Step::Index(n),
            Err(_) => Step::Key(s),
        })
        .collect()
}

impl LokiConfig {
    /// Finds the file per `opts` and loads it.
    pub fn load(opts: &LoadOptions) -> Result<Self> {
        let path = opts.resolve_path()?;
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_yaml(&text, &path, opts.expand_env)
    }

    /// Parses `text`; `file` names it in errors and anchors relative runtime-config paths.
    pub fn from_yaml(text: &str, file: &Path, expand_env: bool) -> Result<Self> {
        Self::from_yaml_with_env(text, file, expand_env, &|k| std::env::var(k).ok())
    }

    /// As [`LokiConfig::from_yaml`] with an explicit environment (for tests and embedding).
    pub fn from_yaml_with_env(
        text: &str,
        file: &Path,
        expand_env: bool,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let expanded;
        let text = if expand_env {
            expanded =
                crate::env::expand(text, env).map_err(|(line, message)| ConfigError::Parse {
                    file: file.to_path_buf(),
                    line: Some(line),
                    message,
                })?;
            expanded.as_str()
        } else {
            text
        };
        let mut ignored = Vec::new();
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            let de = serde_yaml_ng::Deserializer::from_str(text);
            serde_ignored::deserialize(de, |p| ignored.push(p.to_string()))
                .map_err(|e| yaml_error(file, &e))?
        };
        for k in &ignored {
            tracing::debug!(file = %file.display(), key = %k, "ignoring Loki config key not used by storage tools");
        }
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            key: key.to_string(),
            line: {
                // A missing key is reported at its nearest present ancestor.
                let st = steps(key);
                (1..=st.len()).rev().find_map(|n| line_of(text, &st[..n]))
            },
            message,
        };

        let storage = storage::resolve(&raw.storage_config, &raw.common.storage)
            .map_err(|(k, m)| invalid(&k, m))?;
        validate_schema(&raw.schema_config, &storage).map_err(|(k, m)| invalid(&k, m))?;
        if let Some((k, m)) = raw.compactor.validate().into_iter().next() {
            return Err(invalid(&format!("compactor.{k}"), m));
        }
        let drs = &raw.compactor.delete_request_store;
        if !drs.is_empty() && storage.store(drs).is_none() {
            return Err(invalid(
                "compactor.delete_request_store",
                format!(
                    "`{drs}` is not a configured object store (known: {})",
                    known(&storage)
                ),
            ));
        }
        let base = file.parent().unwrap_or(Path::new("."));
        let files = raw
            .runtime_config
            .file
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| runtime_path(f, base))
            .collect();
        Ok(LokiConfig {
            file: file.to_path_buf(),
            auth_enabled: raw.auth_enabled.unwrap_or(true),
            common: CommonConfig {
                path_prefix: raw.common.path_prefix,
                compactor_address: raw.common.compactor_address,
                compactor_grpc_address: raw.common.compactor_grpc_address,
            },
            schema: raw.schema_config,
            storage,
            compactor: raw.compactor,
            limits: raw.limits_config,
            runtime_config: RuntimeConfigSettings {
                files,
                period: raw.runtime_config.period.unwrap_or(Duration::from_secs(10)),
            },
            ignored_keys: ignored,
        })
    }

    /// The store of schema period `i`.
    pub fn period_store(&self, i: usize) -> Option<&StoreSpec> {
        self.schema
            .configs
            .get(i)
            .and_then(|p| self.storage.store(&p.object_store))
    }

    /// The store holding the delete-request DB, when configured.
    pub fn delete_request_store(&self) -> Option<&StoreSpec> {
        let n = &self.compactor.delete_request_store;
        (!n.is_empty()).then(|| self.storage.store(n)).flatten()
    }

    /// The working directory the compactor would use.
    pub fn compactor_working_directory(&self) -> String {
        self.compactor
            .effective_working_directory(&self.common.path_prefix)
    }

    /// Reads the runtime overrides once.
    pub fn tenant_limits(&self) -> Result<TenantLimits> {
        Ok((*self.overrides_watcher()?.current()).clone())
    }

    /// A watcher over the runtime config files, for reloading.
    pub fn overrides_watcher(&self) -> Result<OverridesWatcher> {
        OverridesWatcher::load(self.runtime_config.files.clone(), self.limits.clone())
    }
}

/// Loki resolves runtime-config paths against its working directory; when that does not
/// hold the file, we also try next to the config file, which is where operators keep it.
fn runtime_path(f: &str, base: &Path) -> PathBuf {
    let p = PathBuf::from(f);
    if p.is_absolute() || p.exists() {
        return p;
    }
    let beside = base.join(&p);
    if beside.exists() {
        tracing::debug!(file = %beside.display(), "runtime config found next to the config file");
        beside
    } else {
        p
    }
}

fn known(storage: &StorageConfig) -> String {
    storage
        .stores
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}

fn validate_schema(
    s: &SchemaConfig,
    storage: &StorageConfig,
) -> std::result::Result<(), (String, String)> {
    for (i, p) in s.configs.iter().enumerate() {
        let key = |k: &str| format!("schema_config.configs.{i}.{k}");
        if i > 0 && p.from <= s.configs[i - 1].from {
            return Err((
                key("from"),
                format!(
                    "{} is not after the previous period's {}",
                    p.from,
                    s.configs[i - 1].from
                ),
            ));
        }
        if p.is_tsdb() && p.index.period != Duration::from_hours(24) {
            return Err((
                key("index.period"),
                format!("must be 24h for the tsdb store, got {}", p.index.period),
            ));
        }
        let pp = &p.index.path_prefix;
        if !pp.ends_with('/') || pp.starts_with('/') {
            return Err((
                key("index.path_prefix"),
                format!("`{pp}` must end with `/` and not start with `/`"),
            ));
        }
        if p.object_store.is_empty() {
            return Err((key("object_store"), "must name an object store".into()));
        }
        if storage.store(&p.object_store).is_none() {
            return Err((
                key("object_store"),
                format!(
                    "`{}` is not a configured object store (known: {})",
                    p.object_store,
                    known(storage)
                ),
            ));
        }
    }
    Ok(())
}
