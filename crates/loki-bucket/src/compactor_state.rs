//! Where `loki-compactor` keeps its own state in a bucket. The root is spelled once; every
//! sub-prefix is derived from it at compile time, so the compactor, `loki-maint`,
//! `loki-inspect` and the census cannot disagree about the layout.

use serde::Serialize;

/// The root, as a macro so the derived prefixes below can be `concat!`ed into constants.
macro_rules! root {
    () => {
        "loki-compactor/"
    };
}

/// Root of all compactor state (lease, markers, delete audit log, no-compact markers).
pub const ROOT: &str = root!();
/// The lease chain: `<LEASE><epoch, 20 digits>.json`.
pub const LEASE: &str = concat!(root!(), "lease/");
/// The single lease object of builds before the lease chain (`{holder, expires_ms,
/// acquired_ms}`, renewed in place); still honoured during a rolling upgrade.
pub const LEGACY_LEASE: &str = concat!(root!(), "lease.json");
/// Native retention markers: `<MARKERS><created unix ns>`.
pub const MARKERS: &str = concat!(root!(), "markers/");
/// Tables excluded from compaction after repeated failures: `<NO_COMPACT><table>`.
pub const NO_COMPACT: &str = concat!(root!(), "no-compact/");
/// Delete-processing audit log: `<DELETE_AUDIT><tenant>/<unix ns>-<table>.jsonl`.
pub const DELETE_AUDIT: &str = concat!(root!(), "delete-audit/");

/// Which part of the compactor's state a key under [`ROOT`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// An epoch of the lease chain.
    Lease,
    /// The pre-chain single lease object.
    LegacyLease,
    /// A native retention marker.
    Markers,
    /// A no-compact marker.
    NoCompact,
    /// A delete-audit segment.
    DeleteAudit,
    /// `<key>#<n>`: the staging file of a filesystem write that was interrupted (the
    /// filesystem listing hides these; they show up when such a directory was copied to
    /// another store).
    Staging,
    /// Under [`ROOT`] but none of the above (a newer build's state, or a stray).
    Other,
}

impl StateKind {
    /// Classifies `key` (relative to the store's prefix); `None` if it is not under [`ROOT`].
    pub fn of(key: &str) -> Option<Self> {
        let rest = key.strip_prefix(ROOT)?;
        let last = rest.rsplit('/').next().unwrap_or(rest);
        if let Some((base, n)) = last.rsplit_once('#') {
            if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                return Some(Self::Staging);
            }
        }
        Some(if key == LEGACY_LEASE {
            Self::LegacyLease
        } else if key.starts_with(LEASE) {
            Self::Lease
        } else if key.starts_with(MARKERS) {
            Self::Markers
        } else if key.starts_with(NO_COMPACT) {
            Self::NoCompact
        } else if key.starts_with(DELETE_AUDIT) {
            Self::DeleteAudit
        } else {
            Self::Other
        })
    }

    /// What it is, for the census.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Lease => "loki-compactor lease",
            Self::LegacyLease => "loki-compactor lease (pre-chain single object)",
            Self::Markers => "loki-compactor retention markers",
            Self::NoCompact => "loki-compactor no-compact marker",
            Self::DeleteAudit => "loki-compactor delete audit log",
            Self::Staging => "loki-compactor staging file of an interrupted filesystem write",
            Self::Other => "loki-compactor state (unknown kind)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_derive_from_the_root() {
        for p in [LEASE, LEGACY_LEASE, MARKERS, NO_COMPACT, DELETE_AUDIT] {
            assert!(p.starts_with(ROOT) && p.len() > ROOT.len(), "{p}");
        }
        // The on-bucket layout other builds (and Loki operators' lifecycle rules) rely on.
        assert_eq!(ROOT, "loki-compactor/");
        assert_eq!(LEASE, "loki-compactor/lease/");
        assert_eq!(LEGACY_LEASE, "loki-compactor/lease.json");
        assert_eq!(MARKERS, "loki-compactor/markers/");
        assert_eq!(NO_COMPACT, "loki-compactor/no-compact/");
        assert_eq!(DELETE_AUDIT, "loki-compactor/delete-audit/");
    }

    #[test]
    fn kinds() {
        let k = |key: &str| StateKind::of(key);
        assert_eq!(
            k("loki-compactor/lease/00000000000000000002.json"),
            Some(StateKind::Lease)
        );
        assert_eq!(k("loki-compactor/lease.json"), Some(StateKind::LegacyLease));
        assert_eq!(
            k("loki-compactor/markers/1795612645795000000"),
            Some(StateKind::Markers)
        );
        assert_eq!(
            k("loki-compactor/no-compact/index_20776"),
            Some(StateKind::NoCompact)
        );
        assert_eq!(
            k("loki-compactor/delete-audit/fake/1795612645795000000-index_20776.jsonl"),
            Some(StateKind::DeleteAudit)
        );
        assert_eq!(
            k("loki-compactor/lease/00000000000000000002.json#17"),
            Some(StateKind::Staging)
        );
        assert_eq!(k("loki-compactor/future/x"), Some(StateKind::Other));
        assert_eq!(k("loki-compactor/lease.json.bak"), Some(StateKind::Other));
        assert_eq!(k("index/loki-compactor/lease.json"), None);
        assert_eq!(k("loki-compactor"), None);
    }
}
