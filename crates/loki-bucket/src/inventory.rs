//! A census of a Loki bucket: tables, tenants, index files (with sizes and ages), chunk
//! counts per tenant, delete-request DBs, markers, and keys we could not parse — counted and
//! reported, never acted upon.
use crate::bucket::{Bucket, ObjectInfo};
use crate::error::Result;
use crate::layout::{IndexFileName, Layout, ObjectKind};
use serde::Serialize;
use std::collections::BTreeMap;

/// An index file in the census.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IndexFileInfo {
    /// Object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modified, unix seconds.
    pub last_modified: i64,
    /// Parsed name.
    pub name: IndexFileName,
}

/// One index table.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TableInfo {
    /// Multi-tenant files uploaded by ingesters (directly in the table).
    pub multi_tenant: Vec<IndexFileInfo>,
    /// Per-tenant files written by the compactor.
    pub tenants: BTreeMap<String, Vec<IndexFileInfo>>,
}

/// Chunk totals of one tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChunkTotals {
    /// Chunk objects.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The census.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Inventory {
    /// Tables by name (`<index prefix><table>` when several index prefixes are in use).
    pub tables: BTreeMap<String, TableInfo>,
    /// Chunk totals per tenant.
    pub chunks: BTreeMap<String, ChunkTotals>,
    /// Delete-request DB objects.
    pub delete_requests: Vec<ObjectInfo>,
    /// Marker objects in the bucket.
    pub markers: Vec<ObjectInfo>,
    /// Deletion-manifest objects.
    pub deletion_manifests: u64,
    /// Other objects Loki keeps in the bucket (e.g. the usage-stats cluster seed).
    pub known_other: Vec<ObjectInfo>,
    /// Keys that parse as nothing we know, with the reason.
    pub unparseable: Vec<(String, String)>,
    /// All objects seen.
    pub objects: u64,
    /// All bytes seen.
    pub bytes: u64,
}

impl Inventory {
    /// Lists the whole bucket once, classifying keys as they stream in (the listing itself
    /// is not kept). `progress` gets the running object count every 1,000 objects.
    pub async fn scan(
        bucket: &Bucket,
        layout: &Layout,
        mut progress: impl FnMut(u64),
    ) -> Result<Inventory> {
        let mut inv = Inventory::default();
        bucket
            .for_each_object("", |o| {
                inv.add(layout, o);
                if inv.objects % 1000 == 0 {
                    progress(inv.objects);
                }
            })
            .await?;
        Ok(inv)
    }

    /// Builds the census from a listing.
    pub fn from_listing(
        layout: &Layout,
        objects: impl IntoIterator<Item = ObjectInfo>,
    ) -> Inventory {
        let mut inv = Inventory::default();
        for o in objects {
            inv.add(layout, o);
        }
        inv
    }

    /// Classifies one listed object into the census.
    pub fn add(&mut self, layout: &Layout, o: ObjectInfo) {
        self.objects += 1;
        self.bytes += o.size;
        match layout.classify(&o.key) {
            ObjectKind::Index {
                table,
                tenant,
                file,
                ..
            } => {
                let table_key = if layout.index_prefixes().len() > 1 {
                    let ip = layout
                        .index_prefixes()
                        .iter()
                        .find(|p| o.key.starts_with(p.as_str()))
                        .cloned()
                        .unwrap_or_default();
                    format!("{ip}{table}")
                } else {
                    table
                };
                let t = self.tables.entry(table_key).or_default();
                let info = IndexFileInfo {
                    key: o.key,
                    size: o.size,
                    last_modified: o.last_modified,
                    name: file,
                };
                match tenant {
                    Some(u) => t.tenants.entry(u).or_default().push(info),
                    None => t.multi_tenant.push(info),
                }
            }
            ObjectKind::Chunk(c) => {
                let e = self.chunks.entry(c.tenant).or_default();
                e.count += 1;
                e.bytes += o.size;
            }
            ObjectKind::DeleteRequests { .. } => self.delete_requests.push(o),
            ObjectKind::Marker { .. } => self.markers.push(o),
            ObjectKind::DeletionManifest => self.deletion_manifests += 1,
            ObjectKind::Known { .. } => self.known_other.push(o),
            ObjectKind::Unparseable { reason } => {
                tracing::warn!(key = %o.key, %reason, "skipping unparseable key");
                self.unparseable.push((o.key, reason));
            }
        }
    }

    /// Tenants seen in index tables or chunks.
    pub fn tenants(&self) -> Vec<String> {
        let mut t: Vec<String> = self.chunks.keys().cloned().collect();
        for table in self.tables.values() {
            t.extend(table.tenants.keys().cloned());
        }
        t.sort();
        t.dedup();
        t
    }
}
