//! Loki's bucket layout as types: index tables per period, multi-tenant and per-tenant
//! index files, chunk objects, the delete-request store and marker objects — and the one
//! function that classifies a listed key into them.
use crate::compactor_state::StateKind;
use crate::keys::{ChunkRef, KeyCodec};
use loki_config::{DeleteRequestDbType, LokiConfig, SchemaConfig, StoreSpec};
use serde::Serialize;
use std::fmt;

/// An index file name (`.gz` stripped), in one of Loki's two forms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IndexFileName {
    /// `<unixSeconds>-<uploader>.tsdb`, uploaded by an ingester, holds many tenants.
    MultiTenant {
        /// Start of the head period the file was built from.
        unix_secs: i64,
        /// `<ingester id>-<unix nanos of first start>`.
        uploader: String,
    },
    /// `<created>-compactor-<from>-<through>-<crc>.tsdb`, written by the compactor for one tenant.
    PerTenant {
        /// Creation time (nanoseconds; seconds in files from old Loki versions).
        created: i64,
        /// TOC from, unix ms.
        from_ms: i64,
        /// TOC through, unix ms.
        through_ms: i64,
        /// TOC CRC-32C.
        checksum: u32,
    },
}

impl IndexFileName {
    /// Parses a file name with or without `.gz`. The per-tenant form is tried first, as Loki does.
    pub fn parse(name: &str) -> Result<Self, String> {
        let base = name.strip_suffix(".gz").unwrap_or(name);
        let stem = base
            .strip_suffix(".tsdb")
            .ok_or_else(|| format!("index file `{name}` does not end in .tsdb or .tsdb.gz"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.len() == 5 && parts[1] == "compactor" {
            if let (Ok(created), Ok(from_ms), Ok(through_ms), Ok(checksum)) = (
                parts[0].parse(),
                parts[2].parse(),
                parts[3].parse(),
                u32::from_str_radix(parts[4], 16),
            ) {
                return Ok(Self::PerTenant {
                    created,
                    from_ms,
                    through_ms,
                    checksum,
                });
            }
        }
        if parts.len() >= 2 {
            if let Ok(unix_secs) = parts[0].parse() {
                return Ok(Self::MultiTenant {
                    unix_secs,
                    uploader: parts[1..].join("-"),
                });
            }
        }
        Err(format!(
            "index file `{name}` matches neither the ingester nor the compactor naming"
        ))
    }
}

impl fmt::Display for IndexFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MultiTenant {
                unix_secs,
                uploader,
            } => write!(f, "{unix_secs}-{uploader}.tsdb"),
            Self::PerTenant {
                created,
                from_ms,
                through_ms,
                checksum,
            } => write!(
                f,
                "{created}-compactor-{from_ms}-{through_ms}-{checksum:x}.tsdb"
            ),
        }
    }
}

/// What a listed key is.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ObjectKind {
    /// An index file in a table: directly in it (multi-tenant) or in a tenant directory.
    Index {
        /// Table name, e.g. `index_20782`.
        table: String,
        /// Tenant directory, `None` for the table's multi-tenant files.
        tenant: Option<String>,
        /// Parsed file name.
        file: IndexFileName,
        /// Gzip-compressed (`.gz`).
        gzip: bool,
    },
    /// A chunk object.
    Chunk(ChunkRef),
    /// The compactor's delete-request DB.
    DeleteRequests {
        /// DB flavour, from the object name.
        db: Option<DeleteRequestDbType>,
    },
    /// A retention marker file in the bucket (`deletion_marker_object_store_prefix`).
    Marker {
        /// Creation time in unix nanoseconds (the object name).
        created_ns: i64,
    },
    /// A horizontal-mode deletion manifest object.
    DeletionManifest,
    /// An object Loki keeps in the bucket outside the index/chunk layout.
    Known {
        /// What it is.
        what: &'static str,
    },
    /// A key under an index prefix or in chunk position that does not parse. Never delete
    /// these automatically: they may belong to something we do not know.
    Unparseable {
        /// Why.
        reason: String,
    },
}

/// The layout of one store, derived from the config (or defaults).
#[derive(Clone, Debug)]
pub struct Layout {
    index_prefixes: Vec<String>,
    codec: KeyCodec,
    delete_requests_dir: String,
    marker_prefix: Option<String>,
    manifest_prefix: String,
    schema: SchemaConfig,
}

impl Layout {
    /// Loki's defaults for one store: index under `index/`, delete requests under
    /// `index/delete_requests/`, no bucket markers; keys per `codec`.
    pub fn new(codec: KeyCodec) -> Self {
        Self {
            index_prefixes: vec!["index/".into()],
            codec,
            delete_requests_dir: "index/delete_requests/".into(),
            marker_prefix: None,
            manifest_prefix: "__deletion_manifest__/".into(),
            schema: SchemaConfig::default(),
        }
    }

    /// The layout of store `spec` under `cfg`: the index prefixes of every period that uses
    /// the store, the delete-request and marker prefixes when the compactor puts them there.
    pub fn for_store(cfg: &LokiConfig, spec: &StoreSpec) -> Self {
        let mut l = Self::new(if spec.is_filesystem() {
            KeyCodec::Filesystem
        } else {
            KeyCodec::Verbatim
        });
        let uses = |name: &str| {
            cfg.storage
                .store(name)
                .is_some_and(|s| s.backend == spec.backend && s.key_prefix == spec.key_prefix)
        };
        let mut prefixes: Vec<String> = cfg
            .schema
            .configs
            .iter()
            .filter(|p| uses(&p.object_store))
            .map(|p| p.index.path_prefix.clone())
            .collect();
        prefixes.sort();
        prefixes.dedup();
        if !prefixes.is_empty() {
            l.index_prefixes = prefixes;
        }
        l.delete_requests_dir = format!(
            "{}delete_requests/",
            cfg.compactor.delete_request_store_key_prefix
        );
        let m = &cfg.compactor.deletion_marker_object_store_prefix;
        l.marker_prefix = (!m.is_empty()).then(|| m.clone());
        l.manifest_prefix = cfg
            .compactor
            .jobs_config
            .deletion
            .deletion_manifest_store_prefix
            .clone();
        l.schema = cfg.schema.clone();
        l
    }

    /// The key codec.
    pub fn codec(&self) -> KeyCodec {
        self.codec
    }

    /// Index prefixes in use (e.g. `["index/"]`).
    pub fn index_prefixes(&self) -> &[String] {
        &self.index_prefixes
    }

    /// `<index prefix><table>/`.
    pub fn table_prefix(&self, index_prefix: &str, table: &str) -> String {
        format!("{index_prefix}{table}/")
    }

    /// Key of an index file.
    pub fn index_key(
        &self,
        index_prefix: &str,
        table: &str,
        tenant: Option<&str>,
        file: &IndexFileName,
        gzip: bool,
    ) -> String {
        let gz = if gzip { ".gz" } else { "" };
        match tenant {
            Some(t) => format!("{index_prefix}{table}/{t}/{file}{gz}"),
            None => format!("{index_prefix}{table}/{file}{gz}"),
        }
    }

    /// Key of the delete-request DB.
    pub fn delete_requests_key(&self, db: DeleteRequestDbType) -> String {
        format!("{}{}", self.delete_requests_dir, db.object_name())
    }

    /// Key of a marker object, when markers live in the bucket.
    pub fn marker_key(&self, created_ns: i64) -> Option<String> {
        self.marker_prefix
            .as_ref()
            .map(|p| format!("{p}{created_ns}"))
    }

    /// Classifies a listed key (relative to the store's prefix).
    pub fn classify(&self, key: &str) -> ObjectKind {
        if key.starts_with(&self.delete_requests_dir) {
            let name = &key[self.delete_requests_dir.len()..];
            let db = [DeleteRequestDbType::Boltdb, DeleteRequestDbType::Sqlite]
                .into_iter()
                .find(|d| d.object_name() == name);
            return ObjectKind::DeleteRequests { db };
        }
        if let Some(p) = &self.marker_prefix {
            if let Some(name) = key.strip_prefix(p.as_str()) {
                return match name.parse() {
                    Ok(created_ns) => ObjectKind::Marker { created_ns },
                    Err(_) => ObjectKind::Unparseable {
                        reason: format!("marker name `{name}` is not a unix-nanosecond number"),
                    },
                };
            }
        }
        if key.starts_with(&self.manifest_prefix) {
            return ObjectKind::DeletionManifest;
        }
        if key == "loki_cluster_seed.json" {
            return ObjectKind::Known {
                what: "usage-stats cluster seed",
            };
        }
        for ip in &self.index_prefixes {
            if let Some(rest) = key.strip_prefix(ip.as_str()) {
                return self.classify_index(rest);
            }
        }
        match self.codec.parse_chunk_object(key) {
            Ok(c) => ObjectKind::Chunk(c),
            // Checked after the chunk parse: a tenant may be called `loki-compactor`.
            Err(reason) => match StateKind::of(key) {
                Some(kind) => ObjectKind::Known {
                    what: kind.describe(),
                },
                None => ObjectKind::Unparseable { reason },
            },
        }
    }

    fn classify_index(&self, rest: &str) -> ObjectKind {
        let parts: Vec<&str> = rest.split('/').collect();
        let unparseable = |reason: String| ObjectKind::Unparseable { reason };
        let (table, tenant, file) = match parts.as_slice() {
            [t, f] => (*t, None, *f),
            [t, u, f] => (*t, Some(u.to_string()), *f),
            _ => {
                return unparseable(format!(
                    "`{rest}` is not <table>/<file> or <table>/<tenant>/<file>"
                ))
            }
        };
        if !self.schema.configs.is_empty() && self.schema.parse_table(table).is_none() {
            return unparseable(format!(
                "`{table}` is not a table name any schema period produces"
            ));
        }
        match IndexFileName::parse(file) {
            Ok(f) => ObjectKind::Index {
                table: table.to_string(),
                tenant,
                file: f,
                gzip: file.ends_with(".gz"),
            },
            Err(e) => unparseable(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_from_the_spec() {
        let m = IndexFileName::parse("1795610613-vm-1795610560526273299.tsdb.gz").unwrap();
        assert_eq!(
            m,
            IndexFileName::MultiTenant {
                unix_secs: 1795610613,
                uploader: "vm-1795610560526273299".into()
            }
        );
        assert_eq!(m.to_string(), "1795610613-vm-1795610560526273299.tsdb");
        let p = IndexFileName::parse(
            "1795610645799011245-compactor-1795610556758-1795610635149-8549b2d2.tsdb.gz",
        )
        .unwrap();
        assert!(matches!(
            p,
            IndexFileName::PerTenant {
                checksum: 0x8549b2d2,
                ..
            }
        ));
        assert_eq!(
            p.to_string(),
            "1795610645799011245-compactor-1795610556758-1795610635149-8549b2d2.tsdb"
        );
        assert!(IndexFileName::parse("garbage.tsdb").is_err());
        assert!(IndexFileName::parse("1-2.txt").is_err());
    }

    #[test]
    fn classify_compactor_state() {
        use crate::compactor_state::{
            DELETE_AUDIT, LEASE, LEGACY_LEASE, MARKERS, NO_COMPACT, ROOT,
        };
        for codec in [KeyCodec::Filesystem, KeyCodec::Verbatim] {
            let l = Layout::new(codec);
            let what = |key: &str| match l.classify(key) {
                ObjectKind::Known { what } => what,
                other => panic!("{key}: {other:?}"),
            };
            assert_eq!(
                what(&format!("{LEASE}00000000000000000002.json")),
                "loki-compactor lease"
            );
            assert_eq!(
                what(LEGACY_LEASE),
                "loki-compactor lease (pre-chain single object)"
            );
            assert_eq!(
                what(&format!("{MARKERS}1795612645795000000")),
                "loki-compactor retention markers"
            );
            assert_eq!(
                what(&format!("{NO_COMPACT}index_20776")),
                "loki-compactor no-compact marker"
            );
            assert_eq!(
                what(&format!("{DELETE_AUDIT}fake/1-index_20776.jsonl")),
                "loki-compactor delete audit log"
            );
            assert_eq!(
                what(&format!("{NO_COMPACT}index_20776#3")),
                "loki-compactor staging file of an interrupted filesystem write"
            );
            assert_eq!(
                what(&format!("{ROOT}something-newer")),
                "loki-compactor state (unknown kind)"
            );
        }
        // A tenant called `loki-compactor`: its chunks stay chunks.
        let l = Layout::new(KeyCodec::Verbatim);
        assert!(matches!(
            l.classify("loki-compactor/10530763924b4da6/18bcfe56800:18bcfe569f5:16dff7d1"),
            ObjectKind::Chunk(c) if c.tenant == "loki-compactor"
        ));
    }

    #[test]
    fn classify_keys() {
        let l = Layout::new(KeyCodec::Filesystem);
        assert!(matches!(
            l.classify("index/index_20782/1795610613-vm-1.tsdb.gz"),
            ObjectKind::Index { tenant: None, .. }
        ));
        assert!(matches!(
            l.classify("index/index_20782/tenant-a/1795610645799011245-compactor-1-2-ab.tsdb.gz"),
            ObjectKind::Index { tenant: Some(t), .. } if t == "tenant-a"
        ));
        assert!(matches!(
            l.classify("index/delete_requests/delete_requests.gz"),
            ObjectKind::DeleteRequests {
                db: Some(DeleteRequestDbType::Boltdb)
            }
        ));
        assert!(matches!(
            l.classify("index/index_1/a/b/c.tsdb"),
            ObjectKind::Unparseable { .. }
        ));
        assert!(matches!(
            l.classify("fake/10530763924b4da6/MThiY2ZlNTY4MDA6MThiY2ZlNTY5ZjU6MTZkZmY3ZDE="),
            ObjectKind::Chunk(_)
        ));
        assert!(
            matches!(
                l.classify("fake/10530763924b4da6/18bcfe56800:18bcfe569f5:16dff7d1"),
                ObjectKind::Unparseable { .. }
            ),
            "fs store expects base64"
        );
        assert!(matches!(
            l.classify("loki_cluster_seed.json"),
            ObjectKind::Known { .. }
        ));
        assert!(matches!(
            l.classify(
                "loki-compactor/10530763924b4da6/MThiY2ZlNTY4MDA6MThiY2ZlNTY5ZjU6MTZkZmY3ZDE="
            ),
            ObjectKind::Chunk(_)
        ));
        assert!(matches!(
            l.classify("stray.txt"),
            ObjectKind::Unparseable { .. }
        ));
        let v = Layout::new(KeyCodec::Verbatim);
        assert!(matches!(
            v.classify("fake/10530763924b4da6/18bcfe56800:18bcfe569f5:16dff7d1"),
            ObjectKind::Chunk(_)
        ));
    }
}
