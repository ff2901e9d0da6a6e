//! The runtime config file's `overrides:` (per-tenant limits), and reloading it when it
//! changes, as Loki does every `runtime_config.period`.
use crate::error::{ConfigError, Result};
use crate::limits::{Limits, LimitsPatch};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::Duration as StdDuration;

/// Effective limits of every tenant: the global `limits_config` plus per-tenant entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TenantLimits {
    global: Limits,
    tenants: BTreeMap<String, Limits>,
}

impl TenantLimits {
    /// Only global limits (no runtime overrides).
    pub fn new(global: Limits) -> Self {
        Self {
            global,
            tenants: BTreeMap::new(),
        }
    }

    /// Limits of `tenant`: its override entry if any, else the global limits.
    pub fn for_tenant(&self, tenant: &str) -> &Limits {
        self.tenants.get(tenant).unwrap_or(&self.global)
    }

    /// The global limits.
    pub fn global(&self) -> &Limits {
        &self.global
    }

    /// Tenants that have an override entry, with their effective limits.
    pub fn overridden(&self) -> impl Iterator<Item = (&str, &Limits)> {
        self.tenants.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RuntimeFile {
    overrides: BTreeMap<String, LimitsPatch>,
}

/// Parses one runtime config document; `file` is used in errors only.
pub(crate) fn parse_runtime(text: &str, file: &Path) -> Result<BTreeMap<String, LimitsPatch>> {
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let rf: RuntimeFile = serde_ignored::deserialize(de, |p| {
        tracing::debug!(file = %file.display(), key = %p, "ignoring runtime config key not used by storage tools");
    })
    .map_err(|e| crate::config::yaml_error(file, &e))?;
    Ok(rf.overrides)
}

/// Loads the runtime config files and reloads them on demand when their content changes.
#[derive(Debug)]
pub struct OverridesWatcher {
    files: Vec<PathBuf>,
    global: Limits,
    last: Option<Vec<Vec<u8>>>,
    current: Arc<TenantLimits>,
}

impl OverridesWatcher {
    /// Reads `files` (merged left to right: a later file's tenant entry wins). A missing file
    /// is an error, as in Loki at start-up.
    pub fn load(files: Vec<PathBuf>, global: Limits) -> Result<Self> {
        let mut w = Self {
            last: None,
            files,
            global,
            current: Arc::new(TenantLimits::default()),
        };
        w.reload_if_changed()?;
        Ok(w)
    }

    /// The limits currently in force.
    pub fn current(&self) -> Arc<TenantLimits> {
        Arc::clone(&self.current)
    }

    /// Re-reads the files; when any changed, re-parses them all. Returns whether the limits
    /// were replaced. On error the previous limits stay in force (as Loki keeps the last good
    /// runtime config).
    pub fn reload_if_changed(&mut self) -> Result<bool> {
        let mut contents = Vec::with_capacity(self.files.len());
        for f in &self.files {
            contents.push(std::fs::read(f).map_err(|source| ConfigError::Io {
                path: f.clone(),
                source,
            })?);
        }
        if self.last.as_ref() == Some(&contents) {
            return Ok(false);
        }
        let mut tenants = BTreeMap::new();
        for (f, c) in self.files.iter().zip(&contents) {
            let text = String::from_utf8_lossy(c);
            for (tenant, patch) in parse_runtime(&text, f)? {
                tenants.insert(tenant, patch.apply(&self.global));
            }
        }
        let next = TenantLimits {
            global: self.global.clone(),
            tenants,
        };
        let changed = self.last.is_none() || *self.current != next;
        self.current = Arc::new(next);
        self.last = Some(contents);
        Ok(changed)
    }

    /// Polls every `period` on a background thread; the handle gives the current limits and
    /// stops the thread when dropped.
    pub fn spawn(mut self, period: StdDuration) -> OverridesHandle {
        let shared = Arc::new(RwLock::new(self.current()));
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let s = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(period) {
                match self.reload_if_changed() {
                    Ok(true) => {
                        tracing::info!("runtime overrides reloaded");
                        if let Ok(mut g) = s.write() {
                            *g = self.current();
                        }
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "runtime overrides reload failed; keeping previous limits")
                    }
                }
            }
        });
        OverridesHandle {
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

/// Handle of a background [`OverridesWatcher`].
#[derive(Debug)]
pub struct OverridesHandle {
    shared: Arc<RwLock<Arc<TenantLimits>>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OverridesHandle {
    /// The limits currently in force.
    pub fn current(&self) -> Arc<TenantLimits> {
        match self.shared.read() {
            Ok(g) => Arc::clone(&g),
            // A panic in the reload thread cannot leave a half-written Arc; use it.
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
}

impl Drop for OverridesHandle {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
