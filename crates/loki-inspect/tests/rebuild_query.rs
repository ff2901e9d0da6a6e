//! `loki-inspect rebuild-index` end to end: every per-tenant index of a compacted golden
//! store is deleted from a temp copy and rebuilt from the chunk objects alone (through the
//! CLI, from Loki's config and from a store URL); then Loki's recorded answers to every
//! golden query (`expected/queries.json`, except index/stats which `query_golden.rs` does
//! not reproduce either) come back unchanged from `loki-inspect query`/`labels`/`series`.
mod maint;

use assert_cmd::Command;
use maint::*;
use serde_json::Value;

/// Deletes every per-tenant index of a copy of `dataset/store-compacted`, rebuilds them
/// with the CLI and checks every golden answer. Returns the number of answers checked.
fn rebuild_and_query(dataset: &str, via_config: bool) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("bucket");
    copy_tree(&golden().join(dataset).join("store-compacted"), &store);
    let indexes = per_tenant_indexes(&store);
    assert!(!indexes.is_empty());
    std::fs::remove_dir_all(store.join("index")).unwrap();
    let config = tmp.path().join("loki.yaml");
    let yaml = std::fs::read_to_string(golden().join(dataset).join("loki.yaml")).unwrap();
    std::fs::write(
        &config,
        yaml.replace("dir: ./bucket", &format!("dir: {}", store.display())),
    )
    .unwrap();
    for (table, tenant) in &indexes {
        let mut cmd = Command::cargo_bin("loki-inspect").unwrap();
        cmd.arg("rebuild-index");
        if via_config {
            cmd.arg(format!("-config.file={}", config.display()));
        } else {
            cmd.arg("--store").arg(&store);
        }
        let out = cmd
            .args(["--tenant", tenant, "--table", table, "--json", "--quiet"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(r["chunks"].as_u64().unwrap() > 0, "{r}");
    }
    assert_eq!(per_tenant_indexes(&store), indexes);

    check_answers(dataset, &store.display().to_string(), &[], &[])
}

#[test]
fn rebuilt_indexes_answer_like_loki_single_tenant_from_config() {
    let n = rebuild_and_query("basic-snappy", true);
    assert!(n >= 25, "{n}");
}

#[test]
fn rebuilt_indexes_answer_like_loki_multi_tenant_from_store_url() {
    let n = rebuild_and_query("multitenant-gzip", false);
    assert!(n >= 60, "{n}");
}
