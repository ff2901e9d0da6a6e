//! `loki-inspect`: offline inspection of Loki storage.
use clap::{Parser, Subcommand};

mod chunk_cmd;

#[derive(Parser)]
#[command(name = "loki-inspect", version, about = "Inspect Loki chunks and indexes offline")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode chunk objects or bare MemChunks.
    Chunk(chunk_cmd::ChunkArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Chunk(args) => chunk_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
