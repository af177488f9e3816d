//! The `attnflow verify` command line, built from the same module as the main binary
//! (`src/cli/verify.rs` of the root crate), so the suite can be run before / without the `attnflow` binary:
//! `cargo run --release -p attnflow-verify --example verify_cli -- --fidelity full --write-report reports/THEOREMS.md`
//! Exit code 1 if a check fails.

#[path = "../../../src/cli/verify.rs"]
mod verify;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "attnflow-verify",
    about = "Theorem-check suite of attnflow ([GLPR], [BKKRW])"
)]
struct Cli {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    args: verify::VerifyArgs,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = verify::run(cli.args, cli.json) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
