//! `loki-inspect chunk`.
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ChunkArgs {
    /// Files to decode.
    pub files: Vec<PathBuf>,
}

pub fn run(_args: ChunkArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("not yet written")
}
