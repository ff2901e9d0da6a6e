//! `loki-inspect`: offline inspection of Loki storage.
use clap::{Parser, Subcommand};

mod bucket_cmd;
mod chunk_cmd;
mod chunks_for_cmd;
mod deletes;
mod deletes_audit_cmd;
mod export_cmd;
mod index_cmd;
mod meta_cmd;
mod query_cmd;
mod rebuild_cmd;
mod repair_cmd;
mod replicate_cmd;
mod stats_cmd;
mod store_read;
mod tenant_range;
mod verify_cmd;

#[derive(Parser)]
#[command(
    name = "loki-inspect",
    version,
    about = "Inspect Loki chunks and indexes offline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode chunk objects or bare MemChunks.
    Chunk(chunk_cmd::ChunkArgs),
    /// Inspect and query TSDB index files (.tsdb or .tsdb.gz).
    Index(index_cmd::IndexArgs),
    /// Inspect a Loki bucket (from Loki's config or a store URL).
    Bucket(bucket_cmd::BucketArgs),
    /// Check a Loki config: effective storage, compactor and retention settings.
    Config(bucket_cmd::ConfigArgs),
    /// Run a LogQL query against the bucket (prints what Loki's query API returns).
    Query(query_cmd::QueryArgs),
    /// Export every matching entry, time-ordered per stream, one file per stream.
    Export(export_cmd::ExportArgs),
    /// List the chunk objects a selector and time range need (e.g. for a restore).
    ChunksFor(chunks_for_cmd::ChunksForArgs),
    /// Label names or values from the bucket's index (Loki's /labels, /label/<name>/values).
    Labels(meta_cmd::LabelsArgs),
    /// Streams matching a selector from the bucket's index (Loki's /series).
    Series(meta_cmd::SeriesArgs),
    /// Streams, chunks, bytes and entries a selector covers, from the index (Loki's /index/stats).
    Stats(stats_cmd::StatsArgs),
    /// Check a whole store: index checksums, every chunk ref, orphan chunks, stranded markers (exit 1 if anything is wrong).
    Verify(verify_cmd::VerifyArgs),
    /// Rebuild a tenant's TSDB index of one table from the chunk objects.
    RebuildIndex(rebuild_cmd::RebuildArgs),
    /// Fix what verify finds: drop dangling index refs, quarantine corrupt and orphan chunks (--dry-run or --apply).
    Repair(repair_cmd::RepairArgs),
    /// Copy chunks and index between buckets (resumable; server-side when possible).
    Replicate(replicate_cmd::ReplicateArgs),
    /// Delete requests: `deletes audit` shows what the compactor removed or rewrote.
    Deletes(deletes_audit_cmd::DeletesArgs),
}

fn main() -> std::process::ExitCode {
    // Loki's flags are single-dash (`-config.file=…`); clap wants two dashes.
    let cli = Cli::parse_from(loki_config::normalize_loki_flags(std::env::args_os()));
    let result = match cli.command {
        Command::Chunk(args) => chunk_cmd::run(args),
        Command::Index(args) => index_cmd::run(args),
        Command::Bucket(args) => bucket_cmd::run(args),
        Command::Config(args) => bucket_cmd::run_config(args),
        Command::Query(args) => query_cmd::run(args),
        Command::Export(args) => export_cmd::run(args),
        Command::ChunksFor(args) => chunks_for_cmd::run(args),
        Command::Labels(args) => meta_cmd::run_labels(args),
        Command::Series(args) => meta_cmd::run_series(args),
        Command::Stats(args) => stats_cmd::run(args),
        Command::Verify(args) => verify_cmd::run(args),
        Command::RebuildIndex(args) => rebuild_cmd::run(args),
        Command::Repair(args) => repair_cmd::run(args),
        Command::Replicate(args) => replicate_cmd::run(args),
        Command::Deletes(args) => deletes_audit_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
