//! `loki-inspect`: offline inspection of Loki storage.
use clap::{Parser, Subcommand};

mod chunk_cmd;
mod index_cmd;

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Chunk(args) => chunk_cmd::run(args),
        Command::Index(args) => index_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
