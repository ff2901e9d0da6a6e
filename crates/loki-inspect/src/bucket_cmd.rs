//! `loki-inspect bucket ls` and `loki-inspect config check`: what is in a Loki bucket, and
//! what a Loki config means for storage, compaction and retention.
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use loki_bucket::{describe, spec_from_url, Bucket, BucketOptions, Inventory, Layout};
use loki_config::{LoadOptions, LokiConfig, StoreSpec};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the config comes from (Loki's own flags; `-config.file` works too).
#[derive(Args, Debug, Clone)]
pub struct ConfigSource {
    /// Loki config file (comma-separated candidates: the first existing one is used).
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<String>,
    /// Expand ${VAR} and ${VAR:-default} in the config file.
    #[arg(long = "config.expand-env", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub expand_env: Option<bool>,
}

impl ConfigSource {
    fn load(&self) -> Result<Option<LokiConfig>> {
        let Some(file) = &self.config_file else {
            return Ok(None);
        };
        let opts = LoadOptions {
            config_file: file.clone(),
            expand_env: self.expand_env.unwrap_or(false),
        };
        Ok(Some(LokiConfig::load(&opts)?))
    }
}

/// `bucket` subcommands.
#[derive(Args, Debug)]
pub struct BucketArgs {
    #[command(subcommand)]
    command: BucketCommand,
}

#[derive(Subcommand, Debug)]
enum BucketCommand {
    /// List tables, tenants, index files, chunk counts, delete requests and markers.
    Ls(LsArgs),
}

#[derive(Args, Debug)]
struct LsArgs {
    #[command(flatten)]
    config: ConfigSource,
    /// Store URL instead of a config: s3://bucket/prefix, gs://bucket, az://account/container,
    /// file:///dir, or a directory path.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// S3 endpoint for --store s3://… (S3-compatible servers); credentials come from the
    /// AWS environment (AWS_ACCESS_KEY_ID, IRSA web identity, …).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// With --config.file: only this object store name (as in schema_config object_store).
    #[arg(long = "object-store", value_name = "NAME")]
    object_store: Option<String>,
    /// One JSON object per store on stdout.
    #[arg(long)]
    json: bool,
    /// List every index file (default: counts per table and tenant).
    #[arg(long, short)]
    verbose: bool,
    /// Print request counts (Prometheus text) and a cost estimate on stderr at the end.
    #[arg(long)]
    stats: bool,
    /// Cost estimate: USD per 1,000 PUT/COPY/LIST requests.
    #[arg(long, default_value_t = 0.005, value_name = "USD")]
    usd_per_1k_class_a: f64,
    /// Cost estimate: USD per 1,000 GET/HEAD requests.
    #[arg(long, default_value_t = 0.0004, value_name = "USD")]
    usd_per_1k_class_b: f64,
    /// Cost estimate: USD per GB read.
    #[arg(long, default_value_t = 0.0, value_name = "USD")]
    usd_per_gb_read: f64,
    /// Max concurrent requests.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

/// `config` subcommands.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Parse and validate a Loki config; print the effective storage, compactor and
    /// retention settings, including per-tenant retention from the runtime overrides.
    Check(CheckArgs),
}

#[derive(Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    config: ConfigSource,
    /// JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Also list the config keys that were ignored.
    #[arg(long, short)]
    verbose: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs `bucket …`.
pub fn run(args: BucketArgs) -> Result<ExitCode> {
    match args.command {
        BucketCommand::Ls(a) => ls(a),
    }
}

/// Runs `config …`.
pub fn run_config(args: ConfigArgs) -> Result<ExitCode> {
    match args.command {
        ConfigCommand::Check(a) => check(a),
    }
}

/// The stores to list and the layout of each.
fn targets(a: &LsArgs) -> Result<Vec<(StoreSpec, Layout)>> {
    let cfg = a.config.load()?;
    match (&a.store, cfg) {
        (Some(_), Some(_)) => bail!("give either --store or --config.file, not both"),
        (None, None) => bail!("give --config.file FILE (Loki's config) or --store URL"),
        (Some(url), None) => {
            let spec = spec_from_url(url, a.endpoint.as_deref())?;
            let codec = if spec.is_filesystem() {
                loki_bucket::KeyCodec::Filesystem
            } else {
                loki_bucket::KeyCodec::Verbatim
            };
            Ok(vec![(spec, Layout::new(codec))])
        }
        (None, Some(cfg)) => {
            let mut names: Vec<String> = cfg
                .schema
                .configs
                .iter()
                .map(|p| p.object_store.clone())
                .collect();
            if let Some(d) = cfg.delete_request_store() {
                names.push(d.name.clone());
            }
            if let Some(only) = &a.object_store {
                if cfg.storage.store(only).is_none() {
                    bail!(
                        "object store `{only}` is not configured in {}",
                        cfg.file.display()
                    );
                }
                names = vec![only.clone()];
            }
            let mut out: Vec<(StoreSpec, Layout)> = Vec::new();
            for n in names {
                let spec = cfg
                    .storage
                    .store(&n)
                    .cloned()
                    .with_context(|| format!("object store `{n}` not configured"))?;
                // `s3` and `aws` (and a delete-request store shared with a period) are one bucket.
                if out
                    .iter()
                    .any(|(s, _)| s.backend == spec.backend && s.key_prefix == spec.key_prefix)
                {
                    continue;
                }
                let layout = Layout::for_store(&cfg, &spec);
                out.push((spec, layout));
            }
            Ok(out)
        }
    }
}

fn ls(a: LsArgs) -> Result<ExitCode> {
    ls_to(&a, &mut std::io::stdout().lock())
}

fn ls_to(a: &LsArgs, stdout: &mut dyn Write) -> Result<ExitCode> {
    let targets = targets(a)?;
    let rt = runtime()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // Progress only for people watching a terminal.
    let show_progress = !a.json && std::io::stderr().is_terminal();
    for (spec, layout) in targets {
        let opts = BucketOptions {
            max_concurrency: a.concurrency.max(1),
            ..Default::default()
        };
        let bucket = Bucket::from_spec(&spec, opts)?;
        let mut printed = false;
        let inv = rt.block_on(Inventory::scan(&bucket, &layout, |n| {
            if show_progress {
                printed = true;
                eprint!("\r{}: listed {n} objects…", bucket.name());
            }
        }));
        if printed {
            eprint!("\r\x1b[K");
        }
        let inv = inv?;
        if a.json {
            let line = serde_json::json!({ "store": describe(&spec), "name": spec.name, "inventory": inv });
            writeln!(stdout, "{line}")?;
        } else {
            print_inventory(stdout, &spec, &inv, now, a.verbose)?;
        }
        if !inv.unparseable.is_empty() {
            eprintln!(
                "warning: {}: {} key(s) did not parse as Loki objects and were skipped (never deleted)",
                describe(&spec),
                inv.unparseable.len()
            );
        }
        if a.stats {
            eprint!("{}", bucket.metrics().render_prometheus());
            let model = loki_bucket::CostModel {
                usd_per_1k_class_a: a.usd_per_1k_class_a,
                usd_per_1k_class_b: a.usd_per_1k_class_b,
                usd_per_gb_read: a.usd_per_gb_read,
                ..Default::default()
            };
            let c = bucket.metrics().estimate_cost(&model);
            eprintln!(
                "# estimated cost: ${:.6} (requests ${:.6}, transfer ${:.6}, {:.6} GB read)",
                c.total_usd, c.requests_usd, c.transfer_usd, c.read_gb
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn age(now: i64, t: i64) -> String {
    let s = (now - t).max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn print_inventory(
    w: &mut dyn Write,
    spec: &StoreSpec,
    inv: &Inventory,
    now: i64,
    verbose: bool,
) -> Result<()> {
    writeln!(w, "store {} ({})", describe(spec), spec.name)?;
    writeln!(w, "  objects: {}  bytes: {}", inv.objects, inv.bytes)?;
    writeln!(w, "  tables: {}", inv.tables.len())?;
    for (name, t) in &inv.tables {
        let bytes: u64 = t
            .multi_tenant
            .iter()
            .chain(t.tenants.values().flatten())
            .map(|f| f.size)
            .sum();
        writeln!(
            w,
            "    {name}: {} multi-tenant file(s), {} tenant(s) with per-tenant files, {bytes} bytes",
            t.multi_tenant.len(),
            t.tenants.len()
        )?;
        let files = t.multi_tenant.iter().map(|f| ("*", f)).chain(
            t.tenants
                .iter()
                .flat_map(|(u, fs)| fs.iter().map(move |f| (u.as_str(), f))),
        );
        for (tenant, f) in files {
            if verbose {
                writeln!(
                    w,
                    "      [{tenant}] {}  {} bytes  age {}",
                    f.key,
                    f.size,
                    age(now, f.last_modified)
                )?;
            }
        }
        if !verbose {
            for (u, fs) in &t.tenants {
                writeln!(w, "      {u}: {} file(s)", fs.len())?;
            }
        }
    }
    writeln!(w, "  chunks per tenant:")?;
    for (tenant, c) in &inv.chunks {
        writeln!(w, "    {tenant}: {} chunks, {} bytes", c.count, c.bytes)?;
    }
    writeln!(
        w,
        "  delete-request store objects: {}",
        inv.delete_requests.len()
    )?;
    for o in &inv.delete_requests {
        writeln!(
            w,
            "    {}  {} bytes  age {}",
            o.key,
            o.size,
            age(now, o.last_modified)
        )?;
    }
    writeln!(w, "  marker objects: {}", inv.markers.len())?;
    if verbose {
        for o in &inv.markers {
            writeln!(
                w,
                "    {}  {} bytes  age {}",
                o.key,
                o.size,
                age(now, o.last_modified)
            )?;
        }
    }
    if inv.deletion_manifests > 0 {
        writeln!(w, "  deletion-manifest objects: {}", inv.deletion_manifests)?;
    }
    writeln!(w, "  unparseable keys: {}", inv.unparseable.len())?;
    for (k, why) in inv
        .unparseable
        .iter()
        .take(if verbose { usize::MAX } else { 10 })
    {
        writeln!(w, "    {k}: {why}")?;
    }
    Ok(())
}

fn check(a: CheckArgs) -> Result<ExitCode> {
    check_to(&a, &mut std::io::stdout().lock())
}

fn check_to(a: &CheckArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let Some(cfg) = a.config.load()? else {
        bail!("give --config.file FILE")
    };
    let limits = cfg
        .tenant_limits()
        .with_context(|| format!("runtime overrides of {}", cfg.file.display()))?;
    let periods: Vec<serde_json::Value> = cfg
        .schema
        .configs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            serde_json::json!({
                "from": p.from.to_string(),
                "until": cfg.schema.period_end(i).map(|d| d.to_string()),
                "store": p.store,
                "object_store": p.object_store,
                "bucket": cfg.period_store(i).map(describe),
                "schema": p.schema.to_string(),
                "index_prefix": p.index.prefix,
                "index_path_prefix": p.index.path_prefix,
                "first_table": p.table_name(p.from),
                "compacted": p.is_tsdb(),
            })
        })
        .collect();
    let rules = |l: &loki_config::Limits| {
        let mut r: Vec<_> = l.retention_stream.iter().collect();
        r.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.period.cmp(&b.period)));
        r.iter()
            .map(|s| serde_json::json!({"selector": s.selector.to_string(), "priority": s.priority, "period": s.period.to_string()}))
            .collect::<Vec<_>>()
    };
    let tenants: serde_json::Map<String, serde_json::Value> = limits
        .overridden()
        .map(|(t, l)| {
            (
                t.to_string(),
                serde_json::json!({
                    "retention_period": l.retention_period.to_string(),
                    "retention_stream": rules(l),
                    "deletion_mode": l.deletion_mode,
                }),
            )
        })
        .collect();
    let report = serde_json::json!({
        "file": cfg.file.display().to_string(),
        "auth_enabled": cfg.auth_enabled,
        "schema_periods": periods,
        "storage": {
            "shape": cfg.storage.shape,
            "stores": cfg.storage.stores.iter().filter(|(n, _)| n.as_str() != "inmemory").map(|(n, s)| (n.clone(), serde_json::json!(describe(s)))).collect::<serde_json::Map<_, _>>(),
        },
        "compactor": {
            "settings": cfg.compactor,
            "effective_working_directory": cfg.compactor_working_directory(),
            "effective_apply_retention_interval": cfg.compactor.effective_apply_retention_interval().to_string(),
            "delete_request_store": cfg.delete_request_store().map(describe),
        },
        "retention": {
            "enabled": cfg.compactor.retention_enabled,
            "default": {
                "retention_period": cfg.limits.retention_period.to_string(),
                "retention_stream": rules(&cfg.limits),
                "deletion_mode": cfg.limits.deletion_mode,
            },
            "tenants": tenants,
            "runtime_config_files": cfg.runtime_config.files,
        },
        "ignored_keys": cfg.ignored_keys.len(),
    });
    if a.json {
        writeln!(out, "{report}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "config {}: OK", cfg.file.display())?;
    writeln!(out, "auth_enabled: {}", cfg.auth_enabled)?;
    writeln!(out, "schema periods:")?;
    for p in &periods {
        writeln!(
            out,
            "  {} .. {}: store={} object_store={} ({}) schema={} tables {}… under {}{}",
            p["from"].as_str().unwrap_or(""),
            p["until"].as_str().unwrap_or("now"),
            p["store"].as_str().unwrap_or(""),
            p["object_store"].as_str().unwrap_or(""),
            p["bucket"].as_str().unwrap_or("?"),
            p["schema"].as_str().unwrap_or(""),
            p["first_table"].as_str().unwrap_or(""),
            p["index_path_prefix"].as_str().unwrap_or(""),
            if p["compacted"].as_bool() == Some(true) {
                ""
            } else {
                " (not tsdb: ignored by the compactor)"
            }
        )?;
    }
    writeln!(out, "storage ({:?} shape):", cfg.storage.shape)?;
    for (n, s) in &cfg.storage.stores {
        if n != "inmemory" {
            writeln!(out, "  {n}: {}", describe(s))?;
        }
    }
    let c = &cfg.compactor;
    writeln!(out, "compactor:")?;
    writeln!(
        out,
        "  working_directory: {}",
        cfg.compactor_working_directory()
    )?;
    writeln!(out, "  compaction_interval: {}", c.compaction_interval)?;
    writeln!(
        out,
        "  apply_retention_interval: {} (effective)",
        c.effective_apply_retention_interval()
    )?;
    writeln!(out, "  retention_enabled: {}", c.retention_enabled)?;
    writeln!(
        out,
        "  retention_delete_delay: {}",
        c.retention_delete_delay
    )?;
    writeln!(
        out,
        "  retention_delete_worker_count: {}",
        c.retention_delete_worker_count
    )?;
    writeln!(
        out,
        "  delete_request_store: {} ({}), key prefix {}, db {}",
        if c.delete_request_store.is_empty() {
            "-"
        } else {
            &c.delete_request_store
        },
        cfg.delete_request_store()
            .map(describe)
            .unwrap_or_else(|| "none".into()),
        c.delete_request_store_key_prefix,
        c.delete_request_store_db_type
    )?;
    writeln!(
        out,
        "  delete_request_cancel_period: {}",
        c.delete_request_cancel_period
    )?;
    writeln!(
        out,
        "  max_compaction_parallelism: {}  upload_parallelism: {}",
        c.max_compaction_parallelism, c.upload_parallelism
    )?;
    if !c.deletion_marker_object_store_prefix.is_empty() {
        writeln!(
            out,
            "  markers in bucket under: {}",
            c.deletion_marker_object_store_prefix
        )?;
    }
    writeln!(
        out,
        "retention{}:",
        if c.retention_enabled {
            ""
        } else {
            " (not applied: compactor.retention_enabled is false)"
        }
    )?;
    let print_limits =
        |out: &mut dyn Write, who: &str, l: &loki_config::Limits| -> std::io::Result<()> {
            let p = if l.retention_period.is_zero() {
                "keep forever".to_string()
            } else {
                l.retention_period.to_string()
            };
            writeln!(
                out,
                "  {who}: retention_period {p}, deletion_mode {}",
                l.deletion_mode
            )?;
            for r in rules(l) {
                writeln!(
                    out,
                    "    {} priority {} -> {}",
                    r["selector"].as_str().unwrap_or(""),
                    r["priority"],
                    r["period"].as_str().unwrap_or("")
                )?;
            }
            Ok(())
        };
    print_limits(out, "default (tenants without overrides)", &cfg.limits)?;
    for (t, l) in limits.overridden() {
        print_limits(out, &format!("tenant {t}"), l)?;
    }
    writeln!(out, "ignored Loki keys: {}", cfg.ignored_keys.len())?;
    if a.verbose {
        for k in &cfg.ignored_keys {
            writeln!(out, "  {k}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::PathBuf;

    #[derive(Parser, Debug)]
    struct BucketCli {
        #[command(flatten)]
        args: BucketArgs,
    }

    #[derive(Parser, Debug)]
    struct ConfigCli {
        #[command(flatten)]
        args: ConfigArgs,
    }

    fn testdata(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata")
            .join(rel)
    }

    fn parse_ls(args: &[&str]) -> LsArgs {
        let argv = std::iter::once("bucket")
            .chain(args.iter().copied())
            .map(std::ffi::OsString::from);
        let cli = BucketCli::try_parse_from(loki_config::normalize_loki_flags(argv)).unwrap();
        match cli.args.command {
            BucketCommand::Ls(a) => a,
        }
    }

    fn parse_check(args: &[&str]) -> CheckArgs {
        let argv = std::iter::once("config")
            .chain(args.iter().copied())
            .map(std::ffi::OsString::from);
        let cli = ConfigCli::try_parse_from(loki_config::normalize_loki_flags(argv)).unwrap();
        match cli.args.command {
            ConfigCommand::Check(a) => a,
        }
    }

    /// Recreates a golden store listing (keys and sizes) under `dir`.
    fn materialize(listing: &str, dir: &std::path::Path) {
        let text = std::fs::read_to_string(testdata(listing)).unwrap();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut f = line.split('\t');
            let (key, size) = (
                f.next().unwrap(),
                f.next().unwrap().parse::<usize>().unwrap(),
            );
            let p = dir.join(key);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, vec![0u8; size]).unwrap();
        }
    }

    #[test]
    fn config_check_shows_per_tenant_retention_of_the_golden_config() {
        let cfg = testdata("config/golden/retention/loki-retention.yaml");
        let a = parse_check(&["check", &format!("-config.file={}", cfg.display())]);
        let mut out = Vec::new();
        check_to(&a, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for want in [
            "schema=v13",
            "apply_retention_interval: 15s (effective)",
            "default (tenants without overrides): retention_period 72h, deletion_mode filter-and-delete",
            "tenant game-platform: retention_period 48h",
            "{k8s_namespace_name=\"kube-system\"} priority 1 -> 24h",
            "delete_request_store: filesystem (file://./bucket), key prefix index/, db boltdb",
        ] {
            assert!(text.contains(want), "missing `{want}` in:\n{text}");
        }
        let a = parse_check(&[
            "check",
            "--config.file",
            &cfg.display().to_string(),
            "--json",
        ]);
        let mut out = Vec::new();
        check_to(&a, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["retention"]["tenants"]["game-platform"]["retention_period"],
            "48h"
        );
        assert_eq!(v["retention"]["default"]["retention_period"], "72h");
        assert_eq!(v["schema_periods"][0]["first_table"], "index_20454");
        assert_eq!(
            v["compactor"]["settings"]["retention_delete_worker_count"],
            10
        );
    }

    #[test]
    fn config_check_reports_bad_files_with_line() {
        let a = parse_check(&[
            "check",
            &format!(
                "-config.file={}",
                testdata("config/handwritten/bad-duration.yaml").display()
            ),
        ]);
        let e = check_to(&a, &mut Vec::new()).unwrap_err().to_string();
        assert!(
            e.contains("bad-duration.yaml:6") && e.contains("compactor.compaction_interval"),
            "{e}"
        );
    }

    #[test]
    fn bucket_ls_on_a_golden_store_layout() {
        let tmp = tempfile::tempdir().unwrap();
        materialize("bucket/retention-listing-store-after-sweep.tsv", tmp.path());
        std::fs::write(tmp.path().join("stray.txt"), b"?").unwrap();
        let url = format!("file://{}", tmp.path().display());
        let mut out = Vec::new();
        ls_to(&parse_ls(&["ls", "--store", &url]), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for want in [
            "objects: 106",
            "tables: 4",
            "index_20780: 0 multi-tenant file(s), 2 tenant(s)",
            "audit: 51 chunks",
            "game-platform: 46 chunks",
            "delete-request store objects: 1",
            "index/delete_requests/delete_requests.gz",
            "unparseable keys: 1",
            "stray.txt",
        ] {
            assert!(text.contains(want), "missing `{want}` in:\n{text}");
        }
        let mut out = Vec::new();
        ls_to(&parse_ls(&["ls", "--store", &url, "--json"]), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["inventory"]["chunks"]["audit"]["count"], 51);
        assert_eq!(
            v["inventory"]["tables"]["index_20782"]["tenants"]["game-platform"][0]["name"]["kind"],
            "per_tenant"
        );
    }

    #[test]
    fn bucket_ls_needs_exactly_one_source_and_an_existing_store() {
        let e = ls_to(&parse_ls(&["ls"]), &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--config.file"), "{e}");
        let cfg = testdata("config/golden/basic-snappy/loki.yaml")
            .display()
            .to_string();
        let e = ls_to(
            &parse_ls(&["ls", "--store", "memory://", "-config.file", &cfg]),
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not both"), "{e}");
        let e = ls_to(
            &parse_ls(&["ls", "--store", "file:///no/such/loki/bucket"]),
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("/no/such/loki/bucket") && e.contains("does not exist"),
            "{e}"
        );
        let e = ls_to(
            &parse_ls(&["ls", "-config.file", &cfg, "--object-store", "gcs"]),
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`gcs` is not configured"), "{e}");
    }

    #[test]
    fn bucket_ls_on_the_local_s3_server() {
        let Ok(endpoint) = std::env::var("LOKI_TEST_S3_ENDPOINT") else {
            eprintln!("SKIPPED: LOKI_TEST_S3_ENDPOINT not set (start .ci/s3.sh's s3_start)");
            return;
        };
        let bucket = std::env::var("LOKI_TEST_S3_BUCKET").unwrap_or_else(|_| "loki-test".into());
        let prefix = format!(
            "cli-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let url = format!("s3://{bucket}/{prefix}");
        // Write through the library (credentials from the AWS_* environment, as the CLI uses).
        let b = Bucket::from_url(&url, Some(&endpoint), BucketOptions::default()).unwrap();
        runtime()
            .unwrap()
            .block_on(async {
                b.put(
                    "index/index_20782/1795610613-vm-1.tsdb.gz",
                    bytes::Bytes::from_static(b"idx"),
                )
                .await?;
                b.put(
                    "index/index_20782/audit/1795610645799011245-compactor-1-2-ab.tsdb.gz",
                    bytes::Bytes::from_static(b"idx2"),
                )
                .await?;
                b.put(
                    "audit/4ab51d16b56b6e3d/1a1fed5cb14:1a2036a99cf:b3435a8e",
                    bytes::Bytes::from_static(b"chunk"),
                )
                .await
            })
            .unwrap();
        let mut out = Vec::new();
        ls_to(
            &parse_ls(&["ls", "--store", &url, "--endpoint", &endpoint, "--json"]),
            &mut out,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let inv = &v["inventory"];
        assert_eq!(inv["objects"], 3, "{v}");
        assert_eq!(inv["chunks"]["audit"]["count"], 1);
        assert_eq!(inv["chunks"]["audit"]["bytes"], 5);
        assert_eq!(inv["tables"]["index_20782"]["multi_tenant"][0]["size"], 3);
        assert_eq!(
            inv["tables"]["index_20782"]["tenants"]["audit"][0]["size"],
            4
        );
    }
}
