//! Model download and corpus extraction for glpr-fig1 (issue: Figure 1 on a real trained transformer).
use anyhow::{Result, bail};

#[derive(clap::Args)]
pub struct FetchModelArgs {
    #[arg(long, default_value = "minilm")]
    pub model: String,
}

#[derive(clap::Args)]
pub struct ExtractCorpusArgs {}

pub fn fetch_model(_args: FetchModelArgs) -> Result<()> {
    bail!("fetch-model: not implemented yet")
}

pub fn extract_corpus(_args: ExtractCorpusArgs) -> Result<()> {
    bail!("extract-corpus: not implemented yet")
}
